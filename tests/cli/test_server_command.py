"""serve and run: the first pages show filled segments and auto-tags; links name the address served."""

from __future__ import annotations

import gc
import logging
import os
import re
import selectors
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import waitress
from click.testing import CliRunner
from sqlalchemy import func, select

from crm_segments.cli import main
from crm_segments.db import make_engine
from crm_segments.delivery.links import unsubscribe_url
from crm_segments.models import ProfileTag, Segment, SegmentMember
from crm_segments.segments.realtime import _level_query
from crm_segments.tagging.realtime import profile_steps
from crm_segments.web.webhooks import public_base_url

SIGN_IN = re.compile(r"Sign in at (http://127\.0\.0\.1:(\d+))/ as ")
LINKS = re.compile(r"Links in messages point to (\S+)/")


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
           "CRM_SEGMENTS_INSTANCE_DIR": str(tmp_path / "instance")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    return env


@pytest.fixture(autouse=True)
def _unfreeze() -> Iterator[None]:
    """``serve`` freezes what exists when it starts; here that is the test run's own objects."""
    yield
    gc.unfreeze()


def _lines_until(process: subprocess.Popen[str], pattern: re.Pattern[str], timeout: float) -> list[str]:
    """Standard output lines up to and including the first matching ``pattern``."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while not lines or not pattern.search(lines[-1]):
        if not selector.select(max(0.0, deadline - time.monotonic())):
            raise AssertionError(f"no line matching {pattern.pattern!r} in {timeout} s: {lines}")
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"run exited ({process.wait()}) before serving: {lines}")
        lines.append(line)
    return lines


def test_run_fills_segments_and_auto_tags_before_printing_its_address(instance: dict[str, str]) -> None:
    command = [str(Path(sys.executable).with_name("crm-segments")), "run", "--port", "0",
               "--demo-profiles", "200"]
    with subprocess.Popen(command, env={**os.environ, **instance}, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True) as process:
        try:
            lines = _lines_until(process, SIGN_IN, timeout=120)
            # What the first visitor sees: the state at the moment the address is printed.
            engine = make_engine(instance["DATABASE_URL"])
            with engine.connect() as connection:
                filled = connection.scalar(select(func.count(func.distinct(SegmentMember.segment_id))))
                customers = connection.scalar(select(func.count()).select_from(SegmentMember).join(
                    Segment, Segment.id == SegmentMember.segment_id).where(Segment.key == "customers"))
                never_refreshed = connection.scalar(select(func.count()).select_from(Segment).where(
                    Segment.kind == "live", Segment.last_refreshed_at.is_(None)))
                auto_tags = connection.scalar(select(func.count()).select_from(ProfileTag).where(
                    ProfileTag.source == "rule"))
            engine.dispose()
            address = SIGN_IN.search(lines[-1])
            links = [found.group(1) for line in lines if (found := LINKS.search(line))]
            assert address is not None
            with urllib.request.urlopen(f"{address.group(1)}/login", timeout=10) as response:
                served = response.status
        finally:
            process.terminate()

    assert filled and filled > 5 and customers and customers > 0
    assert never_refreshed == 0
    assert auto_tags and auto_tags > 0
    assert served == 200
    assert int(address.group(2)) != 5000 and links == [address.group(1)]  # the port actually served


def _serve(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[Any, Any, str]:
    """Run ``serve`` up to the server loop; the app and listening socket it would serve, and its output."""
    served: dict[str, Any] = {}

    def capture(app: Any, **options: Any) -> None:
        served.update(app=app, **options)

    monkeypatch.setattr(waitress, "serve", capture)
    assert CliRunner().invoke(main, ["init-db"]).exit_code == 0
    result = CliRunner().invoke(main, ["serve", *args])
    assert result.exit_code == 0, result.output
    [listener] = served["sockets"]
    return served["app"], listener, result.output


def test_serve_on_another_port_makes_links_name_that_port(instance: dict[str, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    app, listener, output = _serve(monkeypatch, "--port", "0")
    try:
        port = listener.getsockname()[1]
        assert listener.getsockname()[0] == "127.0.0.1" and port != 5000
        assert f"listening on http://127.0.0.1:{port}/" in output
        link = unsubscribe_url(public_base_url(app), "token")
        assert link.startswith(f"http://127.0.0.1:{port}/")
    finally:
        listener.close()


def test_a_public_url_naming_another_address_is_kept_and_logged(
        instance: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PUBLIC_URL", "https://crm.example.com")
    with caplog.at_level(logging.WARNING, logger="crm_segments.cli.server"):
        app, listener, output = _serve(monkeypatch, "--port", "0")
    try:
        port = listener.getsockname()[1]
        assert public_base_url(app).startswith("https://crm.example.com")
        assert "Links in messages point to https://crm.example.com/" in output
        assert f"PUBLIC_URL is https://crm.example.com but this server listens on http://127.0.0.1:{port}" \
            in caplog.text
    finally:
        listener.close()


def test_a_port_in_use_is_refused_with_its_address(instance: dict[str, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _, listener, _ = _serve(monkeypatch, "--port", "0")
    try:
        port = listener.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", str(port)])
        assert result.exit_code != 0
        assert f"cannot listen on 127.0.0.1:{port}" in result.output
    finally:
        listener.close()


def test_serve_builds_the_near_real_time_statements_before_serving(instance: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _level_query.cache_clear()
    profile_steps.cache_clear()
    _, listener, _ = _serve(monkeypatch, "--port", "0")
    listener.close()

    # The shipped live segments and auto-tag rules: the first change after start finds them built.
    assert _level_query.cache_info().currsize >= 1
    assert profile_steps.cache_info().currsize >= 1


def test_serve_compiles_every_page_template_before_serving(instance: dict[str, str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    app, listener, _ = _serve(monkeypatch, "--port", "0")
    listener.close()
    env = app.jinja_env
    pages = env.list_templates(filter_func=lambda name: name.startswith("crm_segments/"))
    assert len(pages) > 20

    compiled: list[str] = []
    compile_template = env.compile

    def counting(source: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        compiled.append(name or "?")
        return compile_template(source, name, *args, **kwargs)

    monkeypatch.setattr(env, "compile", counting)
    for name in pages:
        env.get_template(name)
    assert compiled == [], f"compiled on first use: {compiled}"


def test_serve_leaves_what_start_up_made_out_of_garbage_collections(instance: dict[str, str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    gc.unfreeze()
    _, listener, _ = _serve(monkeypatch, "--port", "0")
    listener.close()
    frozen = gc.get_freeze_count()
    assert frozen > 50_000, frozen  # the app, its modules and compiled templates

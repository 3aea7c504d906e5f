"""Rendering a message template has bounds (time, memory, output size) that hold for previews, test
sends, the check at save time and the real send: a template past one stops with an error naming the
limit, and the renderer goes on with the next render."""

from __future__ import annotations

import dataclasses
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.config import ConfigError, Settings, TemplateLimits, config_from_env, settings_from_config
from crm_segments.kernel.errors import ValidationFailed
from crm_segments.messages.dispatch import dispatch_due
from crm_segments.models import MessageTemplate
from crm_segments.templates import render_pool
from crm_segments.templates.rendering import TemplateProblem, names_used, render, render_all
from crm_segments.workflows.template_saving import save_template
from tests.messages.conftest import T0
from tests.messages.helpers import fresh, queue, reachable

SHORT = TemplateLimits(time_limit=0.5)
# 10^10 empty iterations: Python needs minutes for them.
NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
# Explodes only for the profile of Spin Co.
SPIN = ("Hello {{ profile.first_name }}\n"
        "{% if profile.company == 'Spin Co' %}" + NESTED + "{% endif %}\n"
        "Unsubscribe: {{ unsubscribe_url }}")  # a marketing email shows it


@pytest.fixture
def short_limits() -> Iterator[TemplateLimits]:
    """The process's limits set to a 0.5 s time limit for one test (renders that use no settings)."""
    before = render_pool.current_limits()
    render_pool.configure(SHORT)
    yield SHORT
    render_pool.configure(before)


def _problem(source: str, kind: str = "text", limits: TemplateLimits = SHORT) -> TemplateProblem:
    with pytest.raises(TemplateProblem) as caught:
        render(source, kind, {"profile": {"first_name": "Ann"}}, limits=limits)
    return caught.value


def test_nested_loops_stop_at_the_time_limit_naming_the_line() -> None:
    started = time.monotonic()
    problem = _problem("Hello {{ profile.first_name }}\n" + NESTED)
    elapsed = time.monotonic() - started
    assert problem.limit and problem.kind == "text" and problem.line == 2
    assert problem.message == "line 2: rendering took longer than the limit of 0.5 s"
    assert 0.5 <= elapsed < 0.5 + render_pool.GRACE + 1.0
    assert render("Hi {{ name }}", "text", {"name": "Ann"}, limits=SHORT) == "Hi Ann"  # the renderer goes on


def test_a_huge_string_multiplication_is_refused_before_it_allocates() -> None:
    problem = _problem("{{ 'a' * 10**9 }}")
    assert problem.limit
    assert problem.message == ("line 1: '*' would make 1,000,000,000 characters; a message may have at most "
                               "1,048,576")
    assert _problem("{{ [1, 2] * 10**8 }}").message.endswith("would make 200,000,000 items; a message may "
                                                             "have at most 1,048,576")
    assert render("{{ '-' * 20 }} {{ 6 * 7 }}", "text", {}) == "-------------------- 42"


def test_a_huge_range_and_a_huge_power_are_refused() -> None:
    assert _problem("{% for i in range(10**9) %}{% endfor %}").message == (
        "line 1: range() of 1,000,000,000 numbers; at most 100,000 are allowed")
    assert "'**' would make a number of about 1,000,000 digits" in _problem("{{ 10 ** 1000000 }}").message
    assert render("{{ range(3)|join(',') }} {{ 2 ** 10 }}", "text", {}) == "0,1,2 1024"


def test_output_longer_than_the_limit_stops_the_render() -> None:
    email = _problem("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "html")
    assert email.limit and email.line == 1
    assert "the email is longer than 1,048,576 bytes" in email.message
    sms = _problem("x" * 1601, "sms")
    assert sms.message == "line 1: longer than 1600 characters; an SMS may have at most 1600"
    short_sms = dataclasses.replace(SHORT, max_sms_chars=160)
    assert render("x" * 160, "sms", {}, limits=short_sms) == "x" * 160
    assert "at most 160" in _problem("x" * 161, "sms", short_sms).message


def test_the_email_limit_counts_subject_html_and_text_together() -> None:
    small = dataclasses.replace(SHORT, max_email_bytes=2048)
    parts = {"subject": "Hi", "html": "<p>{{ 'é' * 600 }}</p>",
             "text": "{% for i in range(900) %}x{% endfor %}"}
    texts, problems = render_all(parts, {}, limits=small)
    assert set(texts) == {"subject", "html"}  # 2 + 1,207 bytes so far, then 900 more is too much
    assert problems["text"].limit and "longer than 2,048 bytes" in problems["text"].message


def test_a_render_that_needs_too_much_memory_fails_and_the_next_one_works() -> None:
    problem = _problem("{{ 'a'|center(900000000) }}")
    assert problem.limit and problem.message == "rendering needed more than the limit of 256 MB of memory"
    assert render("{{ 'ok'|center(6) }}", "text", {}) == "  ok  "


def test_a_renderer_that_does_not_answer_is_killed_and_replaced(own_pool: render_pool.RenderPool) -> None:
    """The hard bound, for work no signal interrupts (one long C call): the renderer is stopped here."""
    assert render("warm", "text", {}, limits=SHORT) == "warm"
    (stuck,) = own_pool.pids()
    os.kill(stuck, signal.SIGSTOP)
    started = time.monotonic()
    problem = _problem("Hello")
    assert time.monotonic() - started < SHORT.time_limit + render_pool.GRACE + 1.0
    assert problem.limit
    assert problem.message == "rendering took longer than the limit of 0.5 s and was stopped"
    with pytest.raises(ProcessLookupError):
        os.kill(stuck, 0)  # killed and reaped
    assert render("Hi {{ name }}", "text", {"name": "Bo"}, limits=SHORT) == "Hi Bo"
    assert own_pool.pids() != [stuck]


@pytest.mark.parametrize(("source", "bound"), [
    ("{{ '{:>900000000}'.format('a') }}", "memory"),               # str.format width
    ("{{ '%0900000000d' % 1 }}", "memory"),                        # printf-style width
    ("{{ '%900000000s'|format('a') }}", "memory"),                 # the format filter
    ("{{ 'a'|center(900000000) }}", "memory"),
    ("{{ 'a\nb'|indent(900000000) }}", "memory"),
    ("{% set s = 'x' * 1000000 %}{{ s|replace('x', s) }}", "memory"),  # 10^12 characters
    ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     "memory"),                                                     # doubling a string
    ("{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
     "memory"),                                                     # doubling a list
    ("{{ [[0] * 1000000] * 1000000 }}", "time"),                   # 10^12 items printed
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nested"),  # a macro calling itself
    ("{% macro f(n) %}{% if n < 40 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}",
     "time"),                                                       # 2^40 calls
    ("{{ 10 * 'a' * 10**8 }}", "'*' would make"),
    ("{{ ([1] * 1000)|map('string')|join * 1000000 }}", "'*' would make"),
])
def test_tricks_that_allocate_or_loop_without_bound_stop_at_a_limit(source: str, bound: str) -> None:
    # A memory trick also takes time to allocate; under the default time limit the memory limit is
    # what stops it, however busy the machine.
    limits = TemplateLimits() if bound == "memory" else SHORT
    started = time.monotonic()
    problem = _problem(source, limits=limits)
    assert time.monotonic() - started < limits.time_limit + render_pool.GRACE + 2.0
    assert problem.limit, problem.message
    expected = {"memory": "rendering needed more than the limit of 256 MB of memory",
                "time": "rendering took longer than the limit of 0.5 s",
                "nested": "too deeply nested (a macro that calls itself?)"}.get(bound, bound)
    assert expected in problem.message
    assert render("still {{ 'fine' }}", "text", {}, limits=SHORT) == "still fine"


def _state(pid: int) -> str | None:
    """The process's state letter (``Z``: ended but not reaped), or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _until(condition: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_renderer_killed_while_idle_is_replaced_and_no_render_fails(
        own_pool: render_pool.RenderPool, monkeypatch: pytest.MonkeyPatch) -> None:
    assert render("warm", "text", {}, limits=SHORT) == "warm"
    (killed,) = own_pool.pids()
    os.kill(killed, signal.SIGKILL)
    _until(lambda: _state(killed) == "Z", "the renderer did not end")
    assert render("Hi {{ name }}", "text", {"name": "Cy"}, limits=SHORT) == "Hi Cy"
    assert _state(killed) is None  # reaped: no zombie left
    (fresh_pid,) = own_pool.pids()
    assert fresh_pid != killed
    # Killed just after it was seen alive: the request finds its pipe closed and goes to a fresh one.
    monkeypatch.setattr(render_pool._Renderer, "alive", lambda self: True)
    os.kill(fresh_pid, signal.SIGKILL)
    _until(lambda: _state(fresh_pid) == "Z", "the renderer did not end")
    assert render("Hi {{ name }}", "text", {"name": "Di"}, limits=SHORT) == "Hi Di"
    assert _state(fresh_pid) is None and own_pool.pids() not in ([], [fresh_pid])


def test_a_renderer_killed_while_rendering_fails_that_render_and_the_next_works(
        own_pool: render_pool.RenderPool) -> None:
    assert render("warm", "text", {}, limits=SHORT) == "warm"
    (renderer,) = own_pool.pids()
    with ThreadPoolExecutor(1) as thread:
        rendering = thread.submit(render_all, {"text": NESTED}, {}, limits=TemplateLimits(time_limit=30))
        _until(lambda: own_pool.busy == 1, "the render did not start")
        os.kill(renderer, signal.SIGKILL)
        texts, problems = rendering.result(timeout=30)
    assert texts == {} and problems["text"].limit
    assert problems["text"].message == "the template renderer stopped while rendering"
    assert _state(renderer) is None
    assert render("Hi {{ name }}", "text", {"name": "Ed"}, limits=SHORT) == "Hi Ed"


def test_a_frozen_renderer_never_holds_up_the_thread_that_sends_it_a_request(
        own_pool: render_pool.RenderPool) -> None:
    """A request larger than a pipe holds cannot be written to a renderer that does not read: the
    write has the same deadline as the answer."""
    assert render("warm", "text", {}, limits=SHORT) == "warm"
    (frozen,) = own_pool.pids()
    os.kill(frozen, signal.SIGSTOP)
    started = time.monotonic()
    with pytest.raises(TemplateProblem) as caught:
        render("Hi {{ profile.first_name|length }}", "text", {"profile": {"first_name": "x" * 4_000_000}},
               limits=SHORT)
    assert time.monotonic() - started < SHORT.time_limit + render_pool.GRACE + 1.0
    assert caught.value.message == "rendering took longer than the limit of 0.5 s and was stopped"
    assert _state(frozen) is None
    assert render("{{ n }}", "text", {"n": 4_000_000}, limits=SHORT) == "4000000"


def test_a_forked_child_renders_with_renderers_of_its_own() -> None:
    assert render("parent", "text", {}) == "parent"
    parent_renderers = render_pool.pool().pids()
    answer_read, answer_write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            ok = (render("Hi {{ n }}", "text", {"n": "child"}) == "Hi child"
                  and not set(render_pool.pool().pids()) & set(parent_renderers))
            render_pool.pool().close()
            os.write(answer_write, b"ok" if ok else b"no")
        finally:
            os._exit(0)
    os.close(answer_write)
    os.waitpid(child, 0)
    assert os.read(answer_read, 2) == b"ok"
    os.close(answer_read)
    assert render("parent {{ again }}", "text", {"again": "again"}) == "parent again"
    assert set(parent_renderers) <= set(render_pool.pool().pids())  # the child never used them


EXITING = textwrap.dedent("""
    import threading
    from crm_segments.templates import render_pool
    from crm_segments.templates.rendering import render, render_all
    from crm_segments.config import TemplateLimits

    nested = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    threading.Thread(target=render_all, args=({"text": nested}, {}),
                     kwargs={"limits": TemplateLimits(time_limit=30)}, daemon=True).start()
    while render_pool.pool().busy < 1:
        pass
    assert render("idle after this", "text", {}) == "idle after this"
    print(*render_pool.pool().pids(), flush=True)
""")


def test_no_renderer_outlives_its_process() -> None:
    """One renderer idle and one stuck in a render when the process exits: both are ended and
    reaped by it, none is left behind as an orphan or a zombie."""
    done = subprocess.run([sys.executable, "-c", EXITING], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) == 2
    assert [_state(pid) for pid in pids] == [None, None]


def _renderers_marked(mark: str) -> list[int]:
    """Renderer processes whose environment carries ``mark`` (inherited from the process that ran them)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (b"template_sandbox" in (proc / "cmdline").read_bytes()
                    and mark.encode() in (proc / "environ").read_bytes()):
                found.append(int(proc.name))
        except (OSError, ValueError):
            continue  # not a process, or it has just ended
    return found


def test_send_due_fails_the_message_past_the_limit_sends_the_next_and_leaves_no_renderer(
        tmp_path: Path) -> None:
    """The command line process (as the scheduler's) renders through its own renderers and ends them."""
    import datetime as dt
    import uuid

    from crm_segments.db import Base, make_engine, make_session_factory
    from crm_segments.models import Message, Profile

    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    due = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with make_session_factory(engine)() as session, session.begin():
        save_template(session, key="transactional/spin", channel="email", subject="Hi", text_body=SPIN)
        for n, company in enumerate(["Spin Co", "Acme"]):
            profile = Profile(external_id=f"P-{n}", first_name=f"P{n}", company=company,
                              email=f"p{n}@example.com", email_consent=True)
            session.add(profile)
            session.flush()
            session.add(Message(dedupe_key=f"cli:{n}", profile_id=profile.id, channel="email",
                                category="transactional", template_key="transactional/spin", context={},
                                next_attempt_at=due))
    mark = uuid.uuid4().hex
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "k" * 32, "OUTBOX_DIR": str(tmp_path / "outbox"),
           "CRM_SEGMENTS_INSTANCE_DIR": str(tmp_path / "instance"), "CRM_SEGMENTS_TEMPLATE_TIME_LIMIT": "0.5",
           "CRM_TEST_RENDERER_MARK": mark}
    done = subprocess.run([sys.executable, "-c", "from crm_segments.cli import main; main()", "send-due"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2 due, 0 recovered: ")
    assert "1 sent" in done.stdout and "1 failed" in done.stdout
    with make_session_factory(engine)() as session:
        reasons = [m.status_reason for m in session.scalars(select(Message).order_by(Message.id))]
    engine.dispose()
    stopped = "template transactional/spin: text: line 2: rendering took longer than the limit of 0.5 s"
    assert reasons == [stopped, None]
    assert _renderers_marked(mark) == []


def test_the_names_a_template_reads_are_found_without_evaluating_it_here() -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB
    found = names_used({"text": "{{ quote.number }}{{ 'a'|center(900000000) }}",
                        "subject": "{{ owner.name }}"})
    assert found == {"text": {"quote"}, "subject": {"owner"}}
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 100_000  # Jinja would fold 900 MB


def test_the_sandbox_still_refuses_internals() -> None:
    assert "not allowed" in _problem("{{ profile.__class__.__mro__ }}").message
    assert not _problem("{{ profile.__class__.__mro__ }}").limit


def test_limits_come_from_the_config_and_bad_values_name_the_setting() -> None:
    base = {"CRM_SEGMENTS_DATABASE_URL": "sqlite://"}
    assert settings_from_config(base).templates == TemplateLimits()
    limits = settings_from_config({**base, "CRM_SEGMENTS_TEMPLATE_TIME_LIMIT": "0.5",
                                   "CRM_SEGMENTS_TEMPLATE_MAX_EMAIL_BYTES": 4096,
                                   "CRM_SEGMENTS_TEMPLATE_MAX_SMS_CHARS": "160",
                                   "CRM_SEGMENTS_TEMPLATE_MEMORY_MB": "64",
                                   "CRM_SEGMENTS_TEMPLATE_WORKERS": "3"}).templates
    assert limits == TemplateLimits(time_limit=0.5, max_email_bytes=4096, max_sms_chars=160, memory_mb=64,
                                    workers=3)
    for name, value in [("TIME_LIMIT", "0"), ("TIME_LIMIT", "61"), ("MAX_SMS_CHARS", "1601"),
                        ("MAX_EMAIL_BYTES", "10"), ("WORKERS", "0"), ("MEMORY_MB", "lots")]:
        with pytest.raises(ConfigError, match=f"CRM_SEGMENTS_TEMPLATE_{name}"):
            settings_from_config({**base, f"CRM_SEGMENTS_TEMPLATE_{name}": value})
    env = {"SECRET_KEY": "x" * 16, "DATABASE_URL": "sqlite://", "CRM_SEGMENTS_TEMPLATE_TIME_LIMIT": "1.5"}
    assert config_from_env(env)["CRM_SEGMENTS_TEMPLATE_TIME_LIMIT"] == "1.5"


@pytest.mark.usefixtures("backend", "short_limits")
def test_save_renders_for_the_preview_profile_and_refuses_a_template_it_stops_on(session: Session) -> None:
    reachable(first_name="Sol", company="Spin Co")  # the latest profile: the one the preview shows
    with pytest.raises(ValidationFailed) as caught:
        save_template(session, key="marketing/spin", channel="email", subject="Hi", text_body=SPIN)
    (error,) = caught.value.errors
    assert error.field == "text_body"
    assert error.message == ("line 2: rendering took longer than the limit of 0.5 s (rendered for "
                             f"{_name(session)}, the preview profile)")
    assert session.scalars(select(MessageTemplate)).all() == []
    with pytest.raises(ValidationFailed, match="took longer than the limit"):  # the sample trips it too
        save_template(session, key="marketing/spin", channel="email", subject="Hi", text_body=NESTED)


def _name(session: Session) -> str:
    from crm_segments.models import Profile

    profile = session.scalars(select(Profile).order_by(Profile.id.desc())).first()
    assert profile is not None
    return profile.full_name or profile.email or f"profile {profile.id}"


@pytest.mark.usefixtures("backend", "short_limits")
def test_a_template_that_stops_for_one_profile_fails_that_message_and_the_others_are_sent(
        session: Session, session_factory: sessionmaker[Session], settings: Settings) -> None:
    spin = reachable(first_name="Sol", company="Spin Co")
    before, after = reachable(first_name="Ann"), reachable(first_name="Bo")  # Bo: the preview profile
    save_template(session, key="marketing/spin", channel="email", subject="Hi {{ profile.first_name }}",
                  text_body=SPIN)  # neither the sample nor Bo trips it
    messages = [queue(session, profile, template="marketing/spin") for profile in (before, spin, after)]
    started = time.monotonic()
    report = dispatch_due(session_factory, settings=dataclasses.replace(settings, templates=SHORT), now=T0)
    assert time.monotonic() - started < 10  # one 0.5 s render past the limit, not minutes
    assert report["sent"] == 2 and report["failed"] == 1
    first, stopped, last = (fresh(session, m) for m in messages)
    assert (first.status, last.status) == ("sent", "sent")
    assert first.text_body.startswith("Hello Ann") and last.text_body.startswith("Hello Bo")
    assert stopped.status == "failed"
    assert stopped.status_reason == ("template marketing/spin: text: line 2: rendering took longer than the "
                                     "limit of 0.5 s")



def test_warming_the_pool_starts_its_renderers_idle_and_they_render(own_pool: render_pool.RenderPool) -> None:
    assert own_pool.warm() == 1 and len(own_pool.pids()) == 1 and own_pool.busy == 0
    warmed = own_pool.pids()
    assert own_pool.warm() == 0  # already at its size
    texts, problems = render_all({"text": "Hi {{ name }}"}, {"name": "Ann"})
    assert texts == {"text": "Hi Ann"} and not problems
    assert own_pool.pids() == warmed  # the warmed renderer did the render

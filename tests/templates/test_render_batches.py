"""A part of the send queue goes to a renderer in one request and comes back in one reply, and every
message in it still renders (or fails) alone: its own time, memory and output bounds, its own error."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.config import Settings, TemplateLimits
from crm_segments.messages.dispatch import dispatch_due
from crm_segments.templates import render_pool
from crm_segments.templates.rendering import render, render_many
from crm_segments.workflows.template_saving import save_template
from tests.messages.conftest import T0
from tests.messages.helpers import fresh, queue, reachable

SHORT = TemplateLimits(time_limit=0.5)
NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


@pytest.fixture
def requests_sent(own_pool: render_pool.RenderPool, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ops of the requests the test's pool is given, in order."""
    sent: list[str] = []
    run = own_pool.run

    def counted(request: dict[str, Any], limits: TemplateLimits, **kwargs: Any) -> dict[str, Any]:
        sent.append(request["op"])
        return run(request, limits, **kwargs)

    monkeypatch.setattr(own_pool, "run", counted)
    return sent


def test_a_batch_renders_in_one_request_and_each_message_fails_alone(requests_sent: list[str]) -> None:
    """One render stopped at its time limit does not take the batch past the time a request has."""
    results = render_many([({"text": "Hi {{ name }}"}, {"name": "Ann"}),
                           ({"text": NESTED}, {}),
                           ({"subject": "{{ nobody }}", "text": "x"}, {}),
                           ({"text": "Bye {{ name }}"}, {"name": "Bo"})], limits=SHORT)
    assert requests_sent == ["batch"]
    (first, first_problems), (_, slow), (texts, missing), (last, last_problems) = results
    assert first == {"text": "Hi Ann"} and not first_problems
    assert slow["text"].limit and "rendering took longer than the limit of 0.5 s" in slow["text"].message
    assert texts == {"text": "x"} and not missing["subject"].limit
    assert missing["subject"].message == "line 1: missing variable: 'nobody' is undefined"
    assert last == {"text": "Bye Bo"} and not last_problems


def test_a_message_out_of_memory_ends_its_renderer_and_the_rest_render_on_a_fresh_one(
        own_pool: render_pool.RenderPool, requests_sent: list[str]) -> None:
    assert render("warm", "text", {}) == "warm"
    (first_renderer,) = own_pool.pids()
    results = render_many([({"text": "a{{ n }}"}, {"n": 1}),
                           ({"text": "{{ 'a'|center(900000000) }}"}, {}),
                           ({"text": "c{{ n }}"}, {"n": 3}),
                           ({"text": "d{{ n }}"}, {"n": 4})])
    assert [texts for texts, _ in results] == [{"text": "a1"}, {}, {"text": "c3"}, {"text": "d4"}]
    problem = results[1][1]["text"]
    assert problem.limit and problem.message == "rendering needed more than the limit of 256 MB of memory"
    assert requests_sent == ["render", "batch", "batch"]  # the two after it: one batch, on a new renderer
    assert own_pool.pids() != [first_renderer]


def test_a_batch_given_to_a_frozen_renderer_renders_one_request_each_on_a_fresh_one(
        own_pool: render_pool.RenderPool, requests_sent: list[str]) -> None:
    """The renderer that does not answer is killed once one render's time is up; no message is lost or
    failed for it: each goes again on its own, as a single render would."""
    assert render("warm", "text", {}, limits=SHORT) == "warm"
    (frozen,) = own_pool.pids()
    os.kill(frozen, signal.SIGSTOP)
    started = time.monotonic()
    results = render_many([({"text": f"m{n}"}, {}) for n in range(3)], limits=SHORT)
    assert time.monotonic() - started < SHORT.time_limit + render_pool.GRACE + 2.0
    assert results == [({"text": "m0"}, {}), ({"text": "m1"}, {}), ({"text": "m2"}, {})]
    assert requests_sent == ["render", "batch", "render", "render", "render"]
    with pytest.raises(ProcessLookupError):
        os.kill(frozen, 0)  # killed and reaped


@pytest.mark.usefixtures("backend")
def test_a_part_is_rendered_in_one_request_and_a_broken_template_fails_its_messages_alone(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        requests_sent: list[str]) -> None:
    save_template(session, key="marketing/hello", channel="email", subject="Hi {{ profile.first_name }}",
                  text_body="Hello {{ profile.first_name }}\nUnsubscribe: {{ unsubscribe_url }}")
    profiles = [reachable(first_name=name) for name in ("Ann", "Bo", "Cy")]
    messages = [queue(session, profile, template="marketing/hello") for profile in profiles]
    missing = queue(session, profiles[1], template="marketing/nowhere")
    requests_sent.clear()  # saving the template checked it
    report = dispatch_due(session_factory, settings=dataclasses.replace(settings, templates=SHORT), now=T0)
    assert report["sent"] == 3 and report["failed"] == 1
    assert requests_sent == ["batch"]
    assert [fresh(session, m).subject for m in messages] == ["Hi Ann", "Hi Bo", "Hi Cy"]
    failed = fresh(session, missing)
    assert failed.status == "failed"
    assert failed.status_reason == ("template marketing/nowhere: template: no message template "
                                    "'marketing/nowhere'")


def test_a_batch_that_needs_more_than_one_renders_time_has_each_render_sent_alone(
        requests_sent: list[str]) -> None:
    """Four renders that each run to the time limit (2 s together, against the batch's 0.5 s limit and
    0.5 s grace, whatever the machine's load): the batch is stopped, and each then fails alone."""
    results = render_many([({"text": NESTED}, {}), ({"text": "a"}, {}), ({"text": NESTED}, {}),
                           ({"text": "b"}, {}), ({"text": NESTED}, {}), ({"text": NESTED}, {})], limits=SHORT)
    assert requests_sent == ["batch"] + ["render"] * 6
    assert [texts for texts, _ in results] == [{}, {"text": "a"}, {}, {"text": "b"}, {}, {}]
    for _, problems in (results[0], results[2], results[4], results[5]):
        assert problems["text"].limit
        assert problems["text"].message == "line 1: rendering took longer than the limit of 0.5 s"

"""Message templates render in Jinja2's immutable sandbox, in a renderer process apart from the web
app and the sender, with a bound on time, memory and output (``template_sandbox.py`` says how and
why, ``render_pool.py`` runs the processes).

HTML parts are autoescaped; subjects, text and SMS are not (they are not HTML). A missing value is an
error that names it ("profile.nickname is undefined"), never a blank in a customer's inbox, and
``validate_template`` finds it at save time by rendering against a sample context. A render that goes
past a bound is a TemplateProblem with ``limit`` set: the check at save time, the preview and the test
send refuse the template with it, and at send time the one message fails with it.

This module never compiles a template itself: even Jinja's parser evaluates constant expressions
(``{{ 'a'|center(10**9) }}``), so the names a template reads are asked of the renderer too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crm_segments.config import TemplateLimits

from . import render_pool

KINDS = ("subject", "html", "text", "sms")
SMS_MAX_LENGTH = 1600  # Twilio's limit for one message body; CRM_SEGMENTS_TEMPLATE_MAX_SMS_CHARS may lower it
WHOLE = "template"     # the kind of a problem that is not one part's (the renderer was stopped)


class TemplateProblem(ValueError):
    """A template cannot be rendered; ``kind`` names the part (subject, html, text, sms, or "template"
    for the whole), ``line`` the template line at fault when it is known, and ``limit`` says that a
    bound (time, memory, output size) was hit rather than a mistake made."""

    def __init__(self, kind: str, message: str, line: int | None = None, *, limit: bool = False) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.line = line
        self.limit = limit


def configure(limits: TemplateLimits) -> None:
    """The limits of every render in this process (``init_app`` sets them from the app's settings)."""
    render_pool.configure(limits)


def warm_renderers() -> None:
    """Start this process's renderers now rather than on its first render (a sender about to send)."""
    try:
        render_pool.pool().warm()
    except render_pool.RendererLost:  # the first render says why, and fails its message
        pass


def _spec(limits: TemplateLimits) -> dict[str, Any]:
    return {"time": limits.time_limit, "email_bytes": limits.max_email_bytes,
            "sms_chars": min(limits.max_sms_chars, SMS_MAX_LENGTH), "memory": limits.memory_mb * 1024 * 1024}


def _check_kinds(parts: Mapping[str, str]) -> None:
    for kind in parts:
        if kind not in KINDS:
            raise ValueError(f"unknown template part {kind!r}; use one of {', '.join(KINDS)}")


Rendered = tuple[dict[str, str], dict[str, TemplateProblem]]  # the texts and the problems, by kind


def _render_request(parts: Mapping[str, str], context: Mapping[str, Any], limits: TemplateLimits, *,
                    check_names: bool = False) -> dict[str, Any]:
    _check_kinds(parts)
    return {"op": "render", "parts": list(parts.items()), "context": dict(context),
            "check_names": check_names, "limits": _spec(limits)}


def _rendered(reply: Mapping[str, Any]) -> Rendered:
    problems = {str(kind): TemplateProblem(str(kind), str(message), line, limit=bool(limit))
                for kind, message, line, limit in reply["errors"]}
    return dict(reply["texts"]), problems


def _run(request: dict[str, Any], limits: TemplateLimits) -> Rendered:
    try:
        reply = render_pool.pool().run(request, limits)
    except render_pool.RendererLost as exc:
        kinds = [kind for kind, _ in request["parts"]]
        kind = kinds[0] if len(kinds) == 1 else WHOLE
        return {}, {kind: TemplateProblem(kind, exc.message, limit=True)}
    return _rendered(reply)


def render_all(parts: Mapping[str, str], context: Mapping[str, Any], *, limits: TemplateLimits | None = None,
               check_names: bool = False) -> Rendered:
    """Render every part with one context, in one request to a renderer: the texts and the problems,
    by kind. After a part hits a bound the later parts are not rendered (neither text nor problem).
    ``check_names``: a name the context does not have is an error even in a branch not taken."""
    limits = limits or render_pool.current_limits()
    return _run(_render_request(parts, context, limits, check_names=check_names), limits)


def render_many(messages: Sequence[tuple[Mapping[str, str], Mapping[str, Any]]], *,
                limits: TemplateLimits | None = None) -> list[Rendered]:
    """``render_all`` of each (parts, context), in order, sent to a renderer in one request and answered
    in one reply. Each render keeps its own bounds; one that hits a bound fails alone. When the renderer
    stops, freezes or does not answer the whole batch within one render's time limit, the renders it had
    not answered go one request each, as ``render_all`` sends them: the one that stopped it fails alone
    and the others render."""
    limits = limits or render_pool.current_limits()
    requests = [_render_request(parts, context, limits) for parts, context in messages]
    results: list[Rendered] = []
    while len(requests) > 1:
        try:
            batch = {"op": "batch", "renders": requests}
            reply = render_pool.pool().run(batch, limits, renders=len(requests))
        except render_pool.RendererLost:
            break
        if not reply["replies"]:
            break
        results += [_rendered(one) for one in reply["replies"]]
        requests = requests[len(reply["replies"]):]  # a renderer out of memory ends its batch early
    return results + [_run(request, limits) for request in requests]


def render_parts(parts: Mapping[str, str], context: Mapping[str, Any], *,
                 limits: TemplateLimits | None = None) -> dict[str, str]:
    """Every part rendered, by kind; raises the first part's TemplateProblem."""
    outcome = parts_or_problem(render_all(parts, context, limits=limits))
    if isinstance(outcome, TemplateProblem):
        raise outcome
    return outcome


def parts_or_problem(rendered: Rendered) -> dict[str, str] | TemplateProblem:
    """What ``render_parts`` makes of one render: every part by kind, or the first part's problem."""
    texts, problems = rendered
    return next(iter(problems.values())) if problems else texts


def render(source: str, kind: str, context: Mapping[str, Any], *,
           limits: TemplateLimits | None = None) -> str:
    """Render one part; raises TemplateProblem naming a missing variable, a syntax error or a bound."""
    return render_parts({kind: source}, context, limits=limits)[kind]


def validate_parts(parts: Mapping[str, str], context: Mapping[str, Any] | None = None, *,
                   limits: TemplateLimits | None = None) -> tuple[dict[str, str], dict[str, TemplateProblem]]:
    """Render against ``context`` (default: the sample context, and then a name it does not have is an
    error wherever it is) and check the results: the texts and the problems, by kind."""
    from .context import sample_context

    sample = context is None
    texts, problems = render_all(parts, sample_context() if context is None else context, limits=limits,
                                 check_names=sample)
    for kind, text in texts.items():
        if kind == "subject" and not text:
            problems[kind] = TemplateProblem(kind, "the subject is empty")
        if kind in ("text", "sms") and not text.strip():
            problems[kind] = TemplateProblem(kind, "the message is empty")
    return texts, problems


def validate_template(source: str, kind: str, context: Mapping[str, Any] | None = None, *,
                      limits: TemplateLimits | None = None) -> str:
    """One part checked as ``validate_parts`` does; returns its text or raises its TemplateProblem."""
    texts, problems = validate_parts({kind: source}, context, limits=limits)
    if problems:
        raise next(iter(problems.values()))
    return texts[kind]


def names_used(parts: Mapping[str, str]) -> dict[str, set[str]]:
    """The top-level names each part reads (profile, quote, ...); a part that does not parse (or takes
    the renderer past its bounds) reads none."""
    _check_kinds(parts)
    limits = render_pool.current_limits()
    request = {"op": "names", "parts": list(parts.items()), "limits": _spec(limits)}
    try:
        reply = render_pool.pool().run(request, limits)
    except render_pool.RendererLost:
        return {kind: set() for kind in parts}
    return {kind: set(reply["names"].get(kind, ())) for kind in parts}

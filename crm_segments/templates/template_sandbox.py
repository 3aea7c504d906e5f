"""The renderer process: message templates compiled and rendered in Jinja2's immutable sandbox, with
a time, memory and output bound on every render.

This module runs on its own in a child process (``python -P template_sandbox.py``, see
``render_pool.py``), so it imports nothing but the standard library and Jinja2: the child starts in
about 0.2 s, and nothing of the web app (database connections, secrets in memory) is in the process
that runs template code. It reads requests (pickled, from its parent) on stdin and writes replies (JSON:
texts and error messages only) on stdout.

Bounds, from the inside out:

- the sandbox's checks give a clear error before the work is done: ``'a' * 10**9`` and ``9 ** 10**9``
  are refused by size, ``range()`` makes at most 100,000 numbers, and the output is counted as it is
  produced, so an email stops at its byte limit and an SMS at its character limit;
- wall time: ``SIGALRM`` raises a ``BaseException`` (no ``except Exception`` in a filter can swallow it)
  inside the template code when the time limit is up, naming the template line it was on; it fires
  again every 50 ms until the render has ended;
- memory: the address space of the process is capped (``RLIMIT_AS``) at its size before the render plus
  the memory limit, so a huge allocation fails with ``MemoryError`` instead of taking the host's memory;
  the process exits after such a render and the parent starts a fresh one;
- and the hard bound: the parent kills the process when no answer has come a moment after the time
  limit (one long C call, such as a huge ``str.replace``, is never interrupted by a signal).

The checks of the sandbox alone could not be the bound: Jinja's maintainers decline resource limits in
the sandbox ("trying to limit the resource use from within the process is an impossible surface to
cover", pallets/jinja#2149), a thread cannot be stopped in Python (Home Assistant's template timeout
only raises in the thread between bytecodes), and even compiling a template evaluates constant
expressions (``{{ 'a'|center(10**9) }}`` allocates 1 GB while Jinja parses it for its variables). So
the web process never compiles a template's text: everything past the request's bytes happens here.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import pickle
import signal
import struct
import types
from collections.abc import Generator, Iterator, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_RANGE = 100_000          # numbers one range() may make
MAX_DIGITS = 4300            # digits of an integer result of ** (Python prints no longer integers)
ALARM_REPEAT = 0.05          # seconds between repeated alarms once the time limit is up
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$", "JPY": "¥"}


class LimitExceeded(Exception):
    """A render went past one of its bounds (size, range); the message says which."""


class _OutOfTime(BaseException):
    """Raised by the alarm inside template code; a BaseException so that no filter swallows it."""


class Namespace:
    """Read-only values a template sees, which know their own name for error messages."""

    __slots__ = ("_path", "_values")

    def __init__(self, path: str, values: Mapping[str, Any]) -> None:
        self._path = path
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __repr__(self) -> str:
        return f"<{self._path}>"


class _Undefined(StrictUndefined):
    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        owner = self._undefined_obj
        if isinstance(owner, Namespace):
            return f"{owner._path}.{self._undefined_name} is undefined"
        return str(super()._undefined_message)


def wrap(path: str, value: Any) -> Any:
    """Mappings become Namespaces (recursively, lists too) so errors can name the full path."""
    if isinstance(value, Namespace):
        return value
    if isinstance(value, Mapping):
        return Namespace(path, {k: wrap(f"{path}.{k}", v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return [wrap(f"{path}[{i}]", v) for i, v in enumerate(value)]
    return value


def money(value: Any, currency: str = "USD") -> str:
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"


def date(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return f"{value:%B} {value.day}, {value.year}"
    return str(value)


def _finalize(value: Any) -> Any:
    return "" if value is None else value  # an empty optional field prints nothing, not "None"


class _Budget:
    """The bounds of the render under way (one render at a time in this process)."""

    chars = 1_000_000  # the longest text or list a ``*`` may make
    seconds = 2.0      # the time limit, for its error message


_budget = _Budget()


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise LimitExceeded(f"range() of {len(numbers):,} numbers; at most {MAX_RANGE:,} are allowed")
    return numbers


def _check_repeat(sequence: Any, times: Any) -> None:
    if isinstance(sequence, str | list | tuple) and isinstance(times, int) and not isinstance(times, bool):
        size = len(sequence) * times
        if size > _budget.chars:
            what = "characters" if isinstance(sequence, str) else "items"
            raise LimitExceeded(f"'*' would make {size:,} {what}; a message may have at most "
                                f"{_budget.chars:,}")


def _check_power(base: Any, exponent: Any) -> None:
    if (isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1
            and not isinstance(base, bool)):
        digits = exponent * math.log10(abs(base))
        if digits > MAX_DIGITS:
            raise LimitExceeded(f"'**' would make a number of about {digits:,.0f} digits; at most "
                                f"{MAX_DIGITS:,} are allowed")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with ``*`` and ``**`` checked by the size of their result (intercepted
    operators are also never folded into constants when a template is compiled)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**":
            _check_power(left, right)
        return super().call_binop(context, operator, left, right)


def _environment(*, html: bool) -> BoundedSandbox:
    env = BoundedSandbox(autoescape=html, undefined=_Undefined, finalize=_finalize,
                         trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.filters["money"] = money
    env.filters["date"] = date
    env.globals["range"] = _bounded_range
    return env


_ENVIRONMENTS = {"html": _environment(html=True), "plain": _environment(html=False)}


def environment(kind: str) -> BoundedSandbox:
    return _ENVIRONMENTS["html" if kind == "html" else "plain"]


@lru_cache(maxsize=512)
def _compile(source: str, kind: str) -> Template:
    return environment(kind).from_string(source)


# --- one render ------------------------------------------------------------------------------------

class Problem(Exception):
    """What the parent gets for a part that cannot be rendered."""

    def __init__(self, message: str, line: int | None = None, *, limit: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.limit = limit  # a bound (time, memory, size) was hit, not a mistake in the template


def _template_line(exc: BaseException, template: Template | None = None) -> int | None:
    """The template line an error came from. Jinja rewrites the traceback of an ordinary exception so
    the template's frames carry its own line numbers; an alarm's traceback is not rewritten, so its
    frames' lines are mapped through the compiled template's debug information."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
            if template is not None:
                line = template.get_corresponding_lineno(line)
        tb = tb.tb_next
    return line


def _generator_line(stream: Any, template: Template) -> int | None:
    """The template line a paused render is at: the innermost generator of template code."""
    line = None
    while isinstance(stream, types.GeneratorType):
        frame = stream.gi_frame
        if frame is not None and frame.f_code.co_filename == "<template>":
            line = template.get_corresponding_lineno(frame.f_lineno)
        stream = stream.gi_yieldfrom
    return line


def _where(line: int | None, message: str) -> str:
    return f"line {line}: {message}" if line else message


class _Limits:
    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.time = float(spec["time"])
        self.email_bytes = int(spec["email_bytes"])
        self.sms_chars = int(spec["sms_chars"])
        self.memory = int(spec["memory"])


def _produce(template: Template, values: Mapping[str, Any], cap: int, too_long: str) -> str:
    """The template's output, stopped with LimitExceeded as soon as it is longer than ``cap``."""
    stream = cast(Generator[str, None, None], template.generate(values))
    chunks: list[str] = []
    size = 0
    for chunk in stream:
        size += len(chunk)
        if size > cap:
            line = _generator_line(stream, template)
            stream.close()
            raise Problem(_where(line, too_long), line, limit=True)
        chunks.append(chunk)
    return "".join(chunks)


def _render_part(source: str, kind: str, values: Mapping[str, Any], cap: int, too_long: str,
                 known: set[str] | None) -> str:
    template: Template | None = None
    try:
        env = environment(kind)
        if known is not None:
            _check_names(env, source, kind, known)
        template = _compile(source, kind)
        text = _produce(template, values, cap, too_long)
    except TemplateSyntaxError as exc:
        raise Problem(f"syntax error on line {exc.lineno}: {exc.message}", exc.lineno) from None
    except UndefinedError as exc:
        raise _problem(f"missing variable: {exc.message}", exc) from None
    except SecurityError as exc:
        raise _problem(f"not allowed in a message template: {exc}", exc) from None
    except LimitExceeded as exc:
        raise _problem(str(exc), exc, limit=True) from None
    except TemplateError as exc:
        raise _problem(str(exc), exc) from None
    except RecursionError as exc:
        raise _problem("too deeply nested (a macro that calls itself?)", exc, limit=True) from None
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        raise _problem(f"cannot render: {exc}", exc) from None
    except _OutOfTime as exc:
        line = _template_line(exc, template)
        raise Problem(_where(line, _out_of_time()), line, limit=True) from None
    if kind == "subject":
        text = " ".join(text.split())  # one line, as mail headers need
    return text


def _problem(message: str, exc: BaseException, *, limit: bool = False) -> Problem:
    line = _template_line(exc)
    return Problem(_where(line, message), line, limit=limit)


def _check_names(env: BoundedSandbox, source: str, kind: str, known: set[str]) -> None:
    """A name no message ever has is an error even inside a branch the sample does not take."""
    tree = env.parse(source)
    unknown = set(meta.find_undeclared_variables(tree)) - set(env.globals) - known
    if unknown:
        name = sorted(unknown)[0]
        line = min((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), default=None)
        raise Problem(_where(line, f"unknown variable: '{name}' is undefined; a message template sees "
                                   f"{', '.join(sorted(known))}"), line)


def _out_of_time() -> str:
    return f"rendering took longer than the limit of {_budget.seconds:g} s"


def _on_alarm(signum: int, frame: Any) -> None:
    raise _OutOfTime


class _Cap:
    budget = 0    # the memory limit the address space was last capped for
    renders = 0   # renders since then


def _cap_memory(budget: int) -> None:
    """Allow this process ``budget`` bytes of address space beyond what it uses now (Linux); measured
    again every 100 renders, as the compiled templates it keeps take a little more."""
    _Cap.renders += 1
    if budget == _Cap.budget and _Cap.renders < 100:
        return
    _Cap.budget, _Cap.renders = budget, 0
    try:
        import resource

        with open("/proc/self/statm", "rb") as statm:
            used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        soft = used + budget
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (ImportError, OSError, ValueError):
        return  # no /proc or no RLIMIT_AS: the time limit and the parent's kill still bound the render


def render(request: Mapping[str, Any]) -> dict[str, Any]:
    """Render the request's parts with its context; every part's text or error, in order. A bound
    that is hit stops the render: the parts after it are not rendered."""
    limits = _Limits(request["limits"])
    parts: list[tuple[str, str]] = [(str(k), str(s)) for k, s in request["parts"]]
    known = set(request["context"]) if request.get("check_names") else None
    values = {name: wrap(name, value) for name, value in request["context"].items()}
    email_left = limits.email_bytes
    texts: dict[str, str] = {}
    errors: list[list[Any]] = []
    retire = False
    _budget.seconds = limits.time
    _cap_memory(limits.memory)
    signal.setitimer(signal.ITIMER_REAL, limits.time, ALARM_REPEAT)
    try:
        for kind, source in parts:
            if kind == "sms":
                cap = limits.sms_chars
                too_long = f"longer than {cap} characters; an SMS may have at most {cap}"
            else:
                cap = email_left  # characters are at least one byte each
                too_long = (f"the email is longer than {limits.email_bytes:,} bytes, the limit for its "
                            "subject, HTML and text together")
            _budget.chars = max(cap, 0)
            try:
                text = _render_part(source, kind, values, cap, too_long, known)
                if kind != "sms":
                    email_left -= len(text.encode("utf-8", "surrogatepass"))
                    if email_left < 0:
                        raise Problem(too_long, limit=True)
                texts[kind] = text
            except Problem as exc:
                errors.append([kind, exc.message, exc.line, exc.limit])
                if exc.limit:
                    break
            except MemoryError:
                errors.append([kind, f"rendering needed more than the limit of "
                                     f"{limits.memory // (1024 * 1024)} MB of memory", None, True])
                retire = True
                break
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return {"texts": texts, "errors": errors, "retire": retire}


def names(request: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level names each part reads (profile, quote, ...); a part that does not parse has none."""
    limits = _Limits(request["limits"])
    found: dict[str, list[str]] = {}
    _budget.seconds = limits.time
    _cap_memory(limits.memory)
    signal.setitimer(signal.ITIMER_REAL, limits.time, ALARM_REPEAT)
    try:
        for kind, source in request["parts"]:
            env = environment(kind)
            try:
                read = meta.find_undeclared_variables(env.parse(source))
                found[kind] = sorted(set(read) - set(env.globals))
            except Exception:  # a template that cannot be parsed reads nothing
                found[kind] = []
    except (_OutOfTime, MemoryError):
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return {"names": found, "retire": False}


def batch(request: Mapping[str, Any]) -> dict[str, Any]:
    """Each of the request's renders in turn, with its own bounds, and their replies in order. A render
    that leaves this process unfit (out of memory) ends the batch: the parent sends the rest elsewhere."""
    replies: list[dict[str, Any]] = []
    for one in request["renders"]:
        replies.append(handle(one))
        if replies[-1].get("retire"):
            break
    return {"replies": replies, "retire": bool(replies and replies[-1].get("retire"))}


def handle(request: Mapping[str, Any]) -> dict[str, Any]:
    if request["op"] == "batch":
        return batch(request)
    try:
        return names(request) if request["op"] == "names" else render(request)
    except _OutOfTime:  # the alarm fired outside template code, just as the render ended
        return {"texts": {}, "errors": [["template", _out_of_time(), None, True]], "retire": True}
    except MemoryError:
        return {"texts": {}, "errors": [["template", "rendering ran out of memory", None, True]],
                "retire": True}


HEADER = struct.Struct("!Q")  # each message on the pipes: its length, then its bytes (render_pool.py)


def _read_exactly(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, data: bytes) -> None:
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def serve() -> None:
    """The renderer's loop: one request (one render, or a batch of them) at a time until its parent
    closes the pipe."""
    requests, replies = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # the reply pipe carries replies only: a stray print goes to the error output
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which closes the pipe
    signal.signal(signal.SIGALRM, _on_alarm)
    try:
        _send(replies, b'{"ready": true}')
        while True:
            (size,) = HEADER.unpack(_read_exactly(requests, HEADER.size))
            reply = handle(pickle.loads(_read_exactly(requests, size)))
            _send(replies, json.dumps(reply).encode("ascii"))
            if reply.get("retire"):
                return
    except (EOFError, BrokenPipeError):
        return  # the parent has gone or has given up on this renderer


if __name__ == "__main__":
    serve()

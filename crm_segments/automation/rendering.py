"""Message templates render in Jinja2's immutable sandbox, apart from the UI's environment.

HTML parts are autoescaped; subjects, text and SMS are not (they are not HTML). A missing value is an
error that names it ("profile.nickname is undefined"), never a blank in a customer's inbox, and
``validate_template`` finds it at save time by rendering against a sample context.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

KINDS = ("subject", "html", "text", "sms")
SMS_MAX_LENGTH = 1600  # Twilio's limit for one message body
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$", "JPY": "¥"}


class TemplateProblem(ValueError):
    """A template cannot be rendered; ``kind`` names the part (subject, html, text, sms) and ``line``
    the template line at fault when it is known."""

    def __init__(self, kind: str, message: str, line: int | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.line = line


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


def _environment(*, html: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=html, undefined=_Undefined, finalize=_finalize,
                                        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.filters["money"] = money
    env.filters["date"] = date
    return env


_ENVIRONMENTS = {"html": _environment(html=True), "plain": _environment(html=False)}


@lru_cache(maxsize=512)
def _compile(source: str, kind: str) -> Any:
    env = _ENVIRONMENTS["html" if kind == "html" else "plain"]
    return env.from_string(source)


def render(source: str, kind: str, context: Mapping[str, Any]) -> str:
    """Render one part; raises TemplateProblem naming a missing variable or a syntax error."""
    if kind not in KINDS:
        raise ValueError(f"unknown template part {kind!r}; use one of {', '.join(KINDS)}")
    values = {name: wrap(name, value) for name, value in context.items()}
    try:
        text = str(_compile(source, kind).render(values))
    except TemplateSyntaxError as exc:
        raise TemplateProblem(kind, f"syntax error on line {exc.lineno}: {exc.message}", exc.lineno) from None
    except UndefinedError as exc:
        raise _problem(kind, f"missing variable: {exc.message}", exc) from None
    except SecurityError as exc:
        raise _problem(kind, f"not allowed in a message template: {exc}", exc) from None
    except TemplateError as exc:
        raise _problem(kind, str(exc), exc) from None
    except (TypeError, ValueError, ArithmeticError) as exc:  # e.g. a filter given the wrong type
        raise _problem(kind, f"cannot render: {exc}", exc) from None
    if kind == "subject":
        text = " ".join(text.split())  # one line, as mail headers need
    return text


def template_line(exc: BaseException) -> int | None:
    """The template line a render error came from: Jinja rewrites the traceback so the template's
    frames carry its own line numbers (file name "<template>" for templates made from strings)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _problem(kind: str, message: str, exc: BaseException) -> TemplateProblem:
    line = template_line(exc)
    return TemplateProblem(kind, f"line {line}: {message}" if line else message, line)


def names_used(source: str, kind: str) -> set[str]:
    """The top-level names a template reads (profile, quote, ...); raises TemplateSyntaxError."""
    env = _ENVIRONMENTS["html" if kind == "html" else "plain"]
    return set(meta.find_undeclared_variables(env.parse(source))) - set(env.globals)


def _check_names(source: str, kind: str, known: set[str]) -> None:
    """A name no message ever has is an error even inside a branch the sample does not take."""
    try:
        tree = _ENVIRONMENTS["html" if kind == "html" else "plain"].parse(source)
        unknown = names_used(source, kind) - known
    except TemplateSyntaxError:
        return  # rendering reports it with its line
    if unknown:
        name = sorted(unknown)[0]
        line = min((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), default=None)
        where = f"line {line}: " if line else ""
        raise TemplateProblem(kind, f"{where}unknown variable: '{name}' is undefined; "
                                    f"a message template sees {', '.join(sorted(known))}", line)


def validate_template(source: str, kind: str, context: Mapping[str, Any] | None = None) -> str:
    """Render against ``context`` (default: the sample context) and check the result; returns it."""
    from .context import sample_context

    if context is None:
        context = sample_context()
        _check_names(source, kind, set(context))
    text = render(source, kind, context)
    if kind == "subject" and not text:
        raise TemplateProblem(kind, "the subject is empty")
    if kind in ("text", "sms") and not text.strip():
        raise TemplateProblem(kind, "the message is empty")
    if kind == "sms" and len(text) > SMS_MAX_LENGTH:
        raise TemplateProblem(kind, f"{len(text)} characters; an SMS may have at most {SMS_MAX_LENGTH}")
    return text

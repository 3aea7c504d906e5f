"""Errors services raise; each names the field (or row and column) at fault."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldError:
    field: str
    message: str
    row: int | None = None  # 1-based line number in an imported file

    def __str__(self) -> str:
        where = f"line {self.row}, " if self.row is not None else ""
        return f"{where}{self.field}: {self.message}"


@dataclass
class ValidationFailed(Exception):
    """Input refused; nothing was written."""

    errors: list[FieldError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(str(e) for e in self.errors)


class NotFound(LookupError):
    pass


class Conflict(Exception):
    """The input clashes with existing data (e.g. a duplicate unique key); names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Forbidden(PermissionError):
    """The user's role may not do this (e.g. a sales user changing a built-in tag); nothing was written."""


class RateLimited(Exception):
    """Too many of something in too short a time; ``retry_after`` is how many seconds until one more fits."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

"""Field types shared by the input schemas; each refuses bad input with a message naming the rule.

Timestamps must carry a time zone (``AwareDatetime``): a naive value is refused with an error naming
the field rather than guessed to be UTC, because a wrong guess shifts every date rule by hours.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from crm_segments import email_addresses
from crm_segments.kernel.record_ids import MAX_ID as MAX_ID  # re-exported: the schemas bound ids by it

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
# Separators people type in phone numbers; removing them never changes the number.
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")


def Text(max_length: int, *, min_length: int = 0) -> StringConstraints:  # noqa: N802 - reads as a type
    """A string stripped of surrounding space, at most ``max_length`` characters (the column size)."""
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


@dataclass(frozen=True)
class OneOf:
    """A string limited to ``values`` (a model module's tuple); the schema lists them as an enum."""

    values: tuple[str, ...]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["enum"] = list(self.values)
        return json_schema

    def _check(self, value: str) -> str:
        if value not in self.values:
            raise PydanticCustomError(
                "one_of", "must be one of: {allowed}", {"allowed": ", ".join(self.values)}
            )
        return value


def _email(value: str) -> str:
    try:
        return email_addresses.normalize(value)  # the domain in IDNA (punycode) form
    except email_addresses.AddressRefused as exc:
        reason = {"reason": str(exc)}
        raise PydanticCustomError("email", "not a valid email address: {reason}", reason) from None


def _phone(value: str) -> str:
    value = _PHONE_SEPARATORS.sub("", value)
    if not E164.match(value):
        raise PydanticCustomError("phone", "must be an E.164 number such as +14155550123")
    return value


def _country(value: str) -> str:
    value = value.strip().upper()
    if len(value) != 2 or not value.isascii() or not value.isalpha():
        raise PydanticCustomError("country", "must be a two-letter ISO 3166-1 code such as US")
    return value


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "time_zone", "must be an IANA time zone such as Europe/Paris"
        ) from None
    return value


def _currency(value: str) -> str:
    value = value.strip().upper()
    if len(value) != 3 or not value.isascii() or not value.isalpha():
        raise PydanticCustomError("currency", "must be a three-letter ISO 4217 code such as USD")
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Email = Annotated[
    str, BeforeValidator(_strip), AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254,
                    "description": "ASCII before the @ (what the email provider accepts); an "
                                   "internationalised domain is stored in its IDNA (punycode) form"}),
]
Phone = Annotated[
    str, AfterValidator(_phone),
    WithJsonSchema({"type": "string", "description": "E.164, such as +14155550123; spaces, dashes, "
                                                     "dots and parentheses are removed first"}),
]
Country = Annotated[
    str, AfterValidator(_country),
    WithJsonSchema({"type": "string", "description": "ISO 3166-1 alpha-2 code, any case"}),
]
TimeZone = Annotated[
    str, BeforeValidator(_strip), AfterValidator(_time_zone),
    WithJsonSchema({"type": "string", "maxLength": 64, "description": "IANA time zone name"}),
]
Currency = Annotated[
    str, AfterValidator(_currency),
    WithJsonSchema({"type": "string", "description": "ISO 4217 code, any case"}),
]
ExternalId = Annotated[str, Text(64, min_length=1)]
# Money columns are Numeric(14, 2): never negative, cents at most; kept with two places, as stored.
CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2), AfterValidator(_cents)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2), AfterValidator(_cents)]
# In responses money is a string with exactly two decimals, whatever produced the value.
MoneyOut = Annotated[
    Decimal, PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{2}$"}, mode="serialization"),
]
# Row ids are PostgreSQL integer (32-bit) columns: a larger id can never name a row (kernel/record_ids.py).
Id = Annotated[int, Field(ge=1, le=MAX_ID)]

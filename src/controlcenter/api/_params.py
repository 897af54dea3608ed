"""Request parameters whose OpenAPI schema tells the truth about what the server accepts.

- :data:`Instant`: an RFC 3339 date-time (section 5.6: ``T``, seconds, an offset or ``Z``)
  and nothing else (no epoch numbers, no dates without a time, no naive times). Every
  well-formed one is accepted: times whose UTC instant falls outside years 1-9999 are
  clamped to that range rather than overflowing.
- Limits that come from settings (page sizes, points per series): the route marks the
  parameter with :func:`setting_max`, :func:`apply_setting_bounds` writes the configured
  maximum into the served schema, and :func:`check_max` answers 422 above it, as the
  framework does for a bound written in the code.

Status codes: 422 means a parameter breaks its schema; 400 means well-formed parameters
that contradict each other or the data (``start`` after ``end``, ``factory`` without
``site``, a rule whose conditions do not fit together, more matching series than allowed).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import HTTPException
from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from controlcenter.config import ApiSettings

__all__ = [
    "MAX_US",
    "MIN_US",
    "Instant",
    "apply_setting_bounds",
    "check_max",
    "instant_us",
    "setting_max",
]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH: Final = datetime(1970, 1, 1)
_US: Final = timedelta(microseconds=1)
#: The instants the server represents: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z.
MIN_US: Final = (datetime.min.replace(tzinfo=UTC) - EPOCH) // _US
MAX_US: Final = (datetime.max.replace(tzinfo=UTC) - EPOCH) // _US
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(\.\d+)?(?:[Zz]|([+-])(\d\d):(\d\d))"
)


def _invalid(message: str) -> PydanticCustomError:
    # Its own error type: a malformed value is a 422, not a relational "value_error" (400).
    return PydanticCustomError("datetime_format", message)


def _parse(value: Any) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value  # already parsed (a default, or a call from Python)
    m = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise _invalid("expected an RFC 3339 date-time such as 2026-11-23T09:00:00Z")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, sign, off_h, off_m = m.group(7), m.group(8), m.group(9), m.group(10)
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    if second == 60:  # a leap second: the last microsecond of that minute
        second, micro = 59, 999_999
    try:
        wall = datetime(year, month, day, hour, minute, second, micro)
    except ValueError as exc:
        raise _invalid(f"not a valid date-time: {exc}") from None
    offset_min = 0
    if sign is not None:
        if int(off_h) > 23 or int(off_m) > 59:
            raise _invalid("the UTC offset must be within -23:59..+23:59")
        offset_min = (1 if sign == "+" else -1) * (int(off_h) * 60 + int(off_m))
    # Integer arithmetic: converting 0001-01-01T00:00+14:00 to UTC overflows datetime.
    us = (wall - _NAIVE_EPOCH) // _US - offset_min * 60_000_000
    return EPOCH + timedelta(microseconds=min(max(us, MIN_US), MAX_US))


#: An RFC 3339 date-time, as an aware UTC datetime clamped to years 1-9999.
Instant = Annotated[
    datetime,
    PlainValidator(_parse),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def instant_us(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime.

    >>> instant_us(_parse("1970-01-01T09:00:00.5+09:00"))
    500000
    >>> instant_us(_parse("0001-01-01T00:00:00+14:00")) == MIN_US
    True
    """
    return (value - EPOCH) // _US


_MARK: Final = "x-cc-max-setting"


def setting_max(setting: str) -> dict[str, Any]:
    """``json_schema_extra`` of a parameter whose maximum is the ApiSettings field ``setting``."""
    return {_MARK: setting}


def check_max(value: int, maximum: int, loc: tuple[str, str]) -> None:
    """Raise 422, shaped like the framework's own errors, when ``value > maximum``."""
    if value > maximum:
        detail = [
            {
                "loc": list(loc),
                "msg": f"Input should be less than or equal to {maximum}",
                "type": "less_than_equal",
            }
        ]
        raise HTTPException(422, detail)


def apply_setting_bounds(node: Any, api: ApiSettings) -> None:
    """Replace every :func:`setting_max` mark in an OpenAPI document by ``maximum``."""
    if isinstance(node, dict):
        setting = node.pop(_MARK, None)
        if setting is not None:
            maximum = getattr(api, setting)
            for branch in node.get("anyOf", [node]):
                if branch.get("type") == "integer":
                    branch["maximum"] = maximum
        for child in node.values():
            apply_setting_bounds(child, api)
    elif isinstance(node, list):
        for child in node:
            apply_setting_bounds(child, api)

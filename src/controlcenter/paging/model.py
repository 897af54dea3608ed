"""What an admin stores: contacts, on-call schedules and overrides (validated input).

>>> c = Contact.model_validate({"name": "김민준", "email": "mj@example.kr",
...     "channels": ["email"], "sites": ["namdong"]})
>>> c.language, c.covers("namdong", "f1"), c.covers("banwol", "f1")
('ko', True, False)
>>> Contact.model_validate({"name": "x", "channels": ["sms"]})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: ...
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    Strict,
    model_validator,
)
from pydantic_core import PydanticCustomError

from controlcenter.smtp import ADDRESS_PATTERN

__all__ = ["CHANNELS", "Contact", "OverrideIn", "Schedule"]

#: Every channel a person may prefer.
CHANNELS = ("email", "sms", "alimtalk", "http", "webhook", "mqtt", "websocket")
Channel = Literal["email", "sms", "alimtalk", "http", "webhook", "mqtt", "websocket"]
_CODE = r"^[^/#+\s\x00]{1,64}$"
_TEXT = r"^[^\x00]*$"
_NEEDS = {
    "email": "email",
    "sms": "phone",
    "alimtalk": "phone",
    "http": "phone",
    "webhook": "webhook_url",
    "websocket": "key_id",
}


def _not_a_number(value: Any) -> Any:
    # JSON numbers are not dates, times or booleans here (the schema says strings), though
    # pydantic's lax mode would read them as such.
    if isinstance(value, int | float):
        raise PydanticCustomError("type_error", "a string in ISO 8601 / RFC 3339 form is needed")
    return value


def _local(value: time) -> time:
    return value.replace(tzinfo=None)


def _not_text(value: Any) -> Any:
    # A JSON integer (1 or 1.0) is one; a string or a boolean is not.
    if isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "an integer is needed")
    return value


Int = Annotated[int, BeforeValidator(_not_text)]
Bool = Annotated[bool, Strict()]
ContactId = Annotated[int, Field(ge=1, le=2**31 - 1), BeforeValidator(_not_text)]
Date = Annotated[date, BeforeValidator(_not_a_number)]
# Hand-overs and quiet hours are wall-clock times in CC_TIME_ZONE: an offset is dropped.
Time = Annotated[time, BeforeValidator(_not_a_number), AfterValidator(_local)]
DateTime = Annotated[datetime, BeforeValidator(_not_a_number)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Model):
    """A person who can be paged.

    Channels: ``email``, ``sms`` and ``alimtalk`` (SOLAPI), ``http`` (the generic gateway)
    need the address they name; ``webhook`` posts to ``webhook_url``; ``mqtt`` publishes on
    ``{root}/v1/pages/{id}``; ``websocket`` reaches the dashboards open with the API key
    ``key_id`` (``/api/v1/paging/live``). ``sites`` empty: every site; ``factories``
    (``site/factory``) empty: every factory of the covered sites.
    ``quiet_start``/``quiet_end``: local quiet hours in which only critical alerts page at
    once (others wait for the end).
    """

    id: Int | None = None
    name: str = Field(min_length=1, max_length=100, pattern=_TEXT)
    email: str | None = Field(None, max_length=254, pattern=ADDRESS_PATTERN)
    phone: str | None = Field(None, pattern=r"^\+?[0-9][0-9-]{6,19}$")
    language: Literal["ko", "en"] = "ko"
    sites: tuple[str, ...] = Field((), max_length=100)
    factories: tuple[str, ...] = Field((), max_length=500)
    channels: tuple[Channel, ...] = Field(("email",), min_length=1, max_length=len(CHANNELS))
    webhook_url: HttpUrl | None = None
    key_id: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{12}$",
        description="the API key (its 12-hex id) whose websocket receives this person's pages",
    )
    quiet_start: Time | None = None
    quiet_end: Time | None = None
    enabled: Bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Contact:
        for ch in self.channels:
            field = _NEEDS.get(ch)
            if field is not None and getattr(self, field) is None:
                raise ValueError(f"channel {ch!r} needs {field}")
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet hours need both quiet_start and quiet_end")
        if self.quiet_start is not None and self.quiet_start == self.quiet_end:
            raise ValueError("quiet_start and quiet_end must differ")
        for f in self.factories:
            site, _, factory = f.partition("/")
            if not site or not factory:
                raise ValueError(f"factories are site/factory codes, got {f!r}")
        return self

    def covers(self, site: str, factory: str | None) -> bool:
        """Whether this person looks after ``site`` (and ``factory`` when given)."""
        if self.sites and site not in self.sites:
            return False
        if not self.factories or factory is None:
            return not self.factories or any(f.startswith(site + "/") for f in self.factories)
        return f"{site}/{factory}" in self.factories


class Schedule(_Model):
    """A weekly on-call rotation for a site (or the whole complex when ``site`` is None).

    ``level`` 0 is paged when an alert opens; level n when the alert escalates to level n.
    """

    id: Int | None = None
    name: str = Field(min_length=1, max_length=100, pattern=_TEXT)
    site: str | None = Field(None, pattern=_CODE)
    level: Int = Field(0, ge=0, le=20)
    min_severity: Literal["info", "warning", "critical"] = "info"
    handover_day: Int = Field(0, ge=0, le=6, description="0 = Monday")
    handover_time: Time = time(9, 0)
    start_date: Date
    rotation: tuple[ContactId, ...] = Field(min_length=1, max_length=100)
    enabled: Bool = True


class OverrideIn(_Model):
    """Someone else on call for a while (a holiday, a swap)."""

    contact_id: ContactId
    starts_at: DateTime
    ends_at: DateTime
    reason: str = Field("", max_length=500, pattern=_TEXT)

    @model_validator(mode="after")
    def _ordered(self) -> OverrideIn:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone offset")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

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
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

__all__ = ["CHANNELS", "Contact", "OverrideIn", "Schedule"]

#: Every channel a person may prefer.
CHANNELS = ("email", "sms", "alimtalk", "http", "webhook")
Channel = Literal["email", "sms", "alimtalk", "http", "webhook"]
_CODE = r"^[^/#+\s\x00]{1,64}$"
_TEXT = r"^[^\x00]*$"
_NEEDS = {"email": "email", "sms": "phone", "alimtalk": "phone", "http": "phone"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Model):
    """A person who can be paged.

    ``sites`` empty: every site; ``factories`` (``site/factory``) empty: every factory of
    the covered sites. ``quiet_start``/``quiet_end``: local quiet hours in which only
    critical alerts page at once (others wait for the end).
    """

    id: int | None = None
    name: str = Field(min_length=1, max_length=100, pattern=_TEXT)
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")
    phone: str | None = Field(None, pattern=r"^\+?[0-9][0-9-]{6,19}$")
    language: Literal["ko", "en"] = "ko"
    sites: tuple[str, ...] = Field((), max_length=100)
    factories: tuple[str, ...] = Field((), max_length=500)
    channels: tuple[Channel, ...] = Field(("email",), min_length=1, max_length=5)
    webhook_url: HttpUrl | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Contact:
        for ch in self.channels:
            field = _NEEDS.get(ch)
            if field is not None and getattr(self, field) is None:
                raise ValueError(f"channel {ch!r} needs {field}")
        if "webhook" in self.channels and self.webhook_url is None:
            raise ValueError("channel 'webhook' needs webhook_url")
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

    id: int | None = None
    name: str = Field(min_length=1, max_length=100, pattern=_TEXT)
    site: str | None = Field(None, pattern=_CODE)
    level: int = Field(0, ge=0, le=20)
    min_severity: Literal["info", "warning", "critical"] = "info"
    handover_day: int = Field(0, ge=0, le=6, description="0 = Monday")
    handover_time: time = time(9, 0)
    start_date: date
    rotation: tuple[int, ...] = Field(min_length=1, max_length=100)
    enabled: bool = True


class OverrideIn(_Model):
    """Someone else on call for a while (a holiday, a swap)."""

    contact_id: int = Field(ge=1, le=2**31 - 1)
    starts_at: datetime
    ends_at: datetime
    reason: str = Field("", max_length=500, pattern=_TEXT)

    @model_validator(mode="after")
    def _ordered(self) -> OverrideIn:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone offset")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

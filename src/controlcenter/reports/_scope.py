"""What a report covers (a site, or one factory of it), its charts' time step and times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Scope", "bucket_unit", "local"]


@dataclass(frozen=True, slots=True)
class Scope:
    """A site, or one factory of it (``factory`` None: the whole site)."""

    site: str
    factory: str | None = None


def bucket_unit(days: int) -> str:
    """The charts' time step: hours for a day, days for a month."""
    return "hour" if days == 1 else "day"


def local(t: datetime, tz: str) -> str:
    """``YYYY-MM-DD HH:MM`` in the complex's time zone."""
    from zoneinfo import ZoneInfo

    return t.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")

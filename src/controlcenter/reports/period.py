"""The period a report covers: one local day or one local month of the complex."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = ["Kind", "Period", "PeriodError"]

Kind = Literal["daily", "monthly"]
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")


class PeriodError(ValueError):
    """A date or month that does not name a period."""


@dataclass(frozen=True, slots=True)
class Period:
    """A local day or month in ``tz``; ``start``/``end`` are its UTC bounds ``[start, end)``.

    >>> p = Period.parse("monthly", "2026-02", "Asia/Seoul")
    >>> p.label, p.days, p.start.isoformat()
    ('2026-02', 28, '2026-01-31T15:00:00+00:00')
    """

    kind: Kind
    first: date
    days: int
    tz: str

    @classmethod
    def parse(cls, kind: Kind, value: str, tz: str) -> Period:
        """The period named by ``YYYY-MM-DD`` (daily) or ``YYYY-MM`` (monthly).

        Raises:
            PeriodError: when ``value`` does not fit ``kind`` or is no real date.
        """
        if kind == "daily":
            if not _DAY.match(value):
                raise PeriodError(f"a daily report takes a date YYYY-MM-DD, got {value!r}")
            try:
                return cls("daily", date.fromisoformat(value), 1, tz)
            except ValueError as exc:
                raise PeriodError(f"no such date: {value}") from exc
        if not _MONTH.match(value):
            raise PeriodError(f"a monthly report takes a month YYYY-MM, got {value!r}")
        year, month = int(value[:4]), int(value[5:])
        if not 1 <= month <= 12 or year < 1:
            raise PeriodError(f"no such month: {value}")
        return cls.month(year, month, tz)

    @classmethod
    def month(cls, year: int, month: int, tz: str) -> Period:
        """The local month ``year``-``month``."""
        first = date(year, month, 1)
        after = date(year + month // 12, month % 12 + 1, 1)
        return cls("monthly", first, (after - first).days, tz)

    @property
    def label(self) -> str:
        """``YYYY-MM-DD`` or ``YYYY-MM``."""
        return self.first.isoformat() if self.kind == "daily" else self.first.isoformat()[:7]

    @property
    def last(self) -> date:
        """The period's last local day."""
        return self.first + timedelta(days=self.days - 1)

    def local_start(self, day: date) -> datetime:
        """Local midnight of ``day``, in UTC."""
        return datetime.combine(day, time(0), ZoneInfo(self.tz)).astimezone(UTC)

    @property
    def start(self) -> datetime:
        """The first instant (UTC)."""
        return self.local_start(self.first)

    @property
    def end(self) -> datetime:
        """The instant after the last (UTC)."""
        return self.local_start(self.first + timedelta(days=self.days))

    @property
    def hours(self) -> float:
        """Its length in hours (23 or 25 on a day that changes the clocks)."""
        return (self.end - self.start).total_seconds() / 3600

"""Who is on call: weekly rotations with hand-over times, overrides, quiet hours.

Pure functions over the complex's local time (``CC_TIME_ZONE``): a schedule hands over
every week on ``handover_day`` (0 = Monday) at ``handover_time``; the week that begins
at the first hand-over on or after ``start_date`` belongs to ``rotation[0]``, the next to
``rotation[1]``, and so on round. An override (a holiday, a swap) puts another person on
call between two instants and wins over the rotation; the latest-starting one wins among
overlapping overrides.

>>> from datetime import date, time, datetime
>>> from zoneinfo import ZoneInfo
>>> s = Shift(rotation=(7, 8, 9), start_date=date(2026, 11, 30), handover_day=0,
...     handover_time=time(9, 0))
>>> kst = ZoneInfo("Asia/Seoul")
>>> [on_call(s, (), datetime(2026, 12, d, 10, tzinfo=kst)) for d in (1, 7, 14, 21)]
[7, 8, 9, 7]
>>> on_call(s, (), datetime(2026, 12, 7, 8, 59, tzinfo=kst))  # before Monday's hand-over
7
>>> before = datetime(2026, 11, 30, 8, tzinfo=kst)
>>> on_call(s, (), before) is None  # before the first hand-over
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Override", "Quiet", "Shift", "next_handover", "on_call"]

_WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Shift:
    """A weekly rotation (contact ids in order) and its hand-over."""

    rotation: tuple[int, ...]
    start_date: date
    handover_day: int = 0
    handover_time: time = time(9, 0)


@dataclass(frozen=True, slots=True)
class Override:
    """``contact`` is on call from ``starts`` to ``ends`` (aware instants)."""

    contact: int
    starts: datetime
    ends: datetime


def _first_handover(shift: Shift, tz: ZoneInfo) -> datetime:
    ahead = (shift.handover_day - shift.start_date.weekday()) % 7
    day = shift.start_date + timedelta(days=ahead)
    return datetime.combine(day, shift.handover_time, tzinfo=tz)


def _week_index(shift: Shift, at: datetime) -> int | None:
    tz = at.tzinfo if isinstance(at.tzinfo, ZoneInfo) else ZoneInfo("UTC")
    first = _first_handover(shift, tz)
    local = at.astimezone(tz)
    if local < first:
        return None
    # Whole local weeks (wall clock): a hand-over stays at its local time across DST.
    naive = local.replace(tzinfo=None) - first.replace(tzinfo=None)
    return naive // _WEEK


def on_call(shift: Shift, overrides: Iterable[Override], at: datetime) -> int | None:
    """The contact on call at ``at`` (aware, in the complex's zone), or None.

    Raises:
        ValueError: ``at`` is naive.
    """
    if at.tzinfo is None:
        raise ValueError("on_call needs an aware datetime")
    live = [o for o in overrides if o.starts <= at < o.ends]
    if live:
        return max(live, key=lambda o: o.starts).contact
    week = _week_index(shift, at)
    if week is None or not shift.rotation:
        return None
    return shift.rotation[week % len(shift.rotation)]


def next_handover(shift: Shift, at: datetime) -> datetime:
    """The first hand-over after ``at`` (in ``at``'s zone)."""
    tz = at.tzinfo if isinstance(at.tzinfo, ZoneInfo) else ZoneInfo("UTC")
    first = _first_handover(shift, tz)
    week = _week_index(shift, at)
    nxt = first.replace(tzinfo=None) + _WEEK * (0 if week is None else week + 1)
    return nxt.replace(tzinfo=tz)


@dataclass(frozen=True, slots=True)
class Quiet:
    """A person's quiet hours (local wall clock; ``start > end`` spans midnight).

    >>> from zoneinfo import ZoneInfo
    >>> q = Quiet(time(22, 0), time(7, 0))
    >>> kst = ZoneInfo("Asia/Seoul")
    >>> late = datetime(2026, 12, 6, 23, 30, tzinfo=kst)
    >>> noon = datetime(2026, 12, 6, 12, tzinfo=kst)
    >>> q.holds(late), q.holds(noon)
    (True, False)
    >>> q.ends_after(datetime(2026, 12, 6, 23, 30, tzinfo=kst)).isoformat()
    '2026-12-07T07:00:00+09:00'
    """

    start: time
    end: time

    def holds(self, at: datetime) -> bool:
        """Whether ``at`` (aware, in the complex's zone) falls in the quiet hours."""
        t = at.timetz().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def ends_after(self, at: datetime) -> datetime:
        """When the quiet hours holding ``at`` end."""
        end = datetime.combine(at.date(), self.end, tzinfo=at.tzinfo)
        return end if end > at else end + timedelta(days=1)

"""The rota as loaded from the database: who is on call where, now or at any instant.

:class:`Rota` is a snapshot of contacts, schedules and overrides (small tables, re-read
every few seconds by the pager and on each request by the API); the rotation arithmetic
itself is in :mod:`controlcenter.paging.rota`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from controlcenter.paging.model import Contact, Schedule
from controlcenter.paging.repository import PagingRepository
from controlcenter.paging.rota import Override, Shift, next_handover, on_call

__all__ = ["Duty", "Rota"]

_SEV = {"info": 1, "warning": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class Duty:
    """One schedule's person on call at an instant (``until``: the next hand-over or the
    override's end, whichever comes first)."""

    schedule: Schedule
    contact: Contact
    until: datetime
    override: bool


class Rota:
    """Contacts, schedules and overrides at one moment (see the module docstring)."""

    def __init__(
        self,
        contacts: list[Contact],
        schedules: list[Schedule],
        overrides: list[dict[str, Any]],
        tz: ZoneInfo,
    ) -> None:
        self.contacts = {c.id: c for c in contacts if c.id is not None}
        self.schedules = [s for s in schedules if s.enabled]
        self.tz = tz
        self._overrides: dict[int, list[Override]] = {}
        for o in overrides:
            self._overrides.setdefault(o["schedule_id"], []).append(
                Override(o["contact_id"], o["starts_at"], o["ends_at"])
            )

    @classmethod
    async def load(cls, repo: PagingRepository, tz: ZoneInfo, now: datetime) -> Rota:
        """Read the rota from the database (overrides that are over are left out)."""
        return cls(await repo.all(Contact), await repo.all(Schedule), await repo.overrides(now), tz)

    def duty(self, schedule: Schedule, at: datetime) -> Duty | None:
        """Who ``schedule`` has on call at ``at`` (None: nobody, or a disabled contact)."""
        local = at.astimezone(self.tz)
        shift = Shift(
            schedule.rotation, schedule.start_date, schedule.handover_day, schedule.handover_time
        )
        overrides = self._overrides.get(schedule.id or 0, [])
        cid = on_call(shift, overrides, local)
        contact = self.contacts.get(cid) if cid is not None else None
        if contact is None or not contact.enabled:
            return None
        live = [o for o in overrides if o.starts <= local < o.ends and o.contact == cid]
        until = next_handover(shift, local)
        if live:
            until = min(until, max(o.ends for o in live))
        return Duty(schedule, contact, until, bool(live))

    def now_on_call(self, at: datetime) -> list[Duty]:
        """Every schedule's person on call at ``at``, by site and level."""
        duties = [d for s in self.schedules if (d := self.duty(s, at)) is not None]
        return sorted(duties, key=lambda d: (d.schedule.site or "", d.schedule.level))

    def recipients(
        self, site: str, factory: str | None, severity: str, level: int, at: datetime
    ) -> list[Contact]:
        """Who to page for an alert of ``site``/``factory`` at ``severity`` and escalation
        ``level``: the people on call in the schedules for that site (or the complex) and
        level whose minimum severity it reaches, who cover the site and factory."""
        sev = _SEV.get(severity, 0)
        out: dict[int, Contact] = {}
        for s in self.schedules:
            if s.level != level or s.site not in (None, site) or _SEV[s.min_severity] > sev:
                continue
            d = self.duty(s, at)
            if d is not None and d.contact.covers(site, factory) and d.contact.id is not None:
                out[d.contact.id] = d.contact
        return list(out.values())

    def responders(
        self, site: str, factory: str | None, severity: str, level: int, at: datetime
    ) -> list[Contact]:
        """Everyone on call at ``at`` for an alert escalated to ``level``: the recipients
        of each level up to it (an escalation adds people, it does not release them)."""
        out: dict[int | None, Contact] = {}
        for n in range(level + 1):
            out |= {c.id: c for c in self.recipients(site, factory, severity, n, at)}
        return list(out.values())

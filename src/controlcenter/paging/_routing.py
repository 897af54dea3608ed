"""The pager's routing of claimed pages: who still gets them, and one page per event.

A page is planned for the person on call when its alert opened; by the time it is due (a
repeat, a page held through quiet hours) the rota may have handed over. :func:`handed_over`
moves such pages to whoever is on call now, and :func:`grouped` makes one page per person
and rule of what is due together, whatever the sites.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from controlcenter.paging.oncall import Rota
from controlcenter.paging.repository import Pending

__all__ = ["grouped", "handed_over"]


def handed_over(
    rows: list[Pending],
    rota: Rota,
    now: datetime,
    done: list[tuple[int, int]],
    records: list[tuple[Any, ...]],
) -> tuple[list[Pending], list[tuple[int, int | None, str, datetime, float | None]]]:
    """Pages whose person is still on call for their alert, and the plans that move the
    others to whoever took over (a hand-over or an override since the page was planned);
    with nobody on call now, the page stays with its person."""
    keep: list[Pending] = []
    moved: list[tuple[int, int | None, str, datetime, float | None]] = []
    for r in rows:
        level = int(r["escalation_level"] or 0)
        now_on = rota.responders(r["site"], r["factory"], r["severity"], level, now)
        if not now_on or r["contact_id"] in {c.id for c in now_on}:
            keep.append(r)
            continue
        done.append((r["alert_id"], r["contact_id"]))
        was = rota.contacts.get(r["contact_id"])
        names = ", ".join(c.name for c in now_on)
        who = (r["alert_id"], r["contact_id"], was.name if was else "-", "-", r["reason"], 0)
        records.append((*who, "skipped", f"handed over to {names}"))
        moved += [(r["alert_id"], c.id, "repeat", now, r["repeat_s"]) for c in now_on]
    return keep, moved


def grouped(rows: Iterable[Pending]) -> list[list[Pending]]:
    # Per person and rule, across sites: one page for a complex-wide event.
    groups: dict[tuple[int, str], list[Pending]] = {}
    for r in rows:
        groups.setdefault((r["contact_id"], r["rule_name"]), []).append(r)
    return list(groups.values())

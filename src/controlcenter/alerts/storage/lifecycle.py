"""Alert lifecycle: open -> acknowledged -> resolved, with assignee, notes, escalation and audit.

One alert per rule and subject while it is active: the book keeps the active ones in memory
(loaded from the database at start, so state survives a restart) and the database enforces
it too (a partial unique index). Every transition is written with its history row in one
transaction, then handed to ``emit`` for delivery (which never blocks).

Manual resolve while the condition still holds: the alert is closed, and the next alert for
that subject opens only after the condition has cleared and breached again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from controlcenter.alerts.delivery.notify import Notification
from controlcenter.alerts.rules.rule import Rule, Severity
from controlcenter.alerts.storage.repository import AlertRepository, to_dt
from controlcenter.domain import US_PER_S
from controlcenter.errors import AlertStateError
from controlcenter.metrics import ALERTS_ACTIVE, ALERTS_TRANSITIONS

__all__ = ["AlertBook"]

logger = logging.getLogger(__name__)
SYSTEM = "system"


class AlertBook:
    """The active alerts and every transition on them.

    Args:
        repo: the alert tables.
        emit: receives every transition's notification (must not block).
        clock: wall-clock seconds (injectable for tests).
    """

    def __init__(
        self,
        repo: AlertRepository,
        emit: Callable[[Notification], None],
        clock: Callable[[], float],
    ) -> None:
        self.repo = repo
        self._emit = emit
        self._clock = clock
        self.active: dict[tuple[int, str], dict[str, Any]] = {}
        self.rules: dict[int, Rule] = {}
        self.contacts: list[dict[str, Any]] = []
        #: alert id -> when this service raised it (wall clock), for escalation delays
        self._raised_at: dict[int, datetime] = {}

    def _now(self) -> datetime:
        return to_dt(self._clock())

    async def load(self) -> list[dict[str, Any]]:
        """Load the active alerts from the database; returns them."""
        rows = await self.repo.active_alerts()
        self.active = {(r["rule_id"] or 0, r["subject"]): r for r in rows}
        ALERTS_ACTIVE.set(len(self.active))
        logger.info("alerts: %d active alerts loaded", len(rows))
        return rows

    def _record(
        self,
        transition: str,
        alert: dict[str, Any],
        actor: str,
        at: datetime,
        extra: dict[str, Any] | None = None,
        targets: tuple[str, ...] = (),
    ) -> None:
        ALERTS_TRANSITIONS.labels(transition).inc()
        ALERTS_ACTIVE.set(len(self.active))
        self._emit(
            Notification.of_alert(
                transition, alert, actor=actor, at=at, extra=extra, targets=targets
            )
        )

    # -- from evaluation -------------------------------------------------------------------

    async def open(
        self,
        rule: Rule,
        subject: str,
        where: dict[str, Any],
        at_us: int,
        value: float,
        severity: Severity,
    ) -> dict[str, Any] | None:
        """Open an alert for ``rule`` on ``subject`` (no-op when one is active)."""
        rid = rule.id or 0
        if (rid, subject) in self.active:
            return None
        at = to_dt(at_us / US_PER_S)
        fields = {
            "rule_id": rule.id,
            "rule_name": rule.name,
            "subject": subject,
            "severity": severity.label,
            "message": rule.description,
            "value": value,
            "peak_value": value,
            "last_value": value,
            "opened_at": at,
            "last_seen_at": at,
            **where,
        }
        row, created = await self.repo.insert_alert(fields, SYSTEM, {"value": value})
        self.active[(rid, subject)] = row
        if created:
            # Escalation counts from now too: an alert raised by late (backfilled) readings
            # gives the crew the rule's delay before the next level is paged.
            self._raised_at[row["alert_id"]] = self._now()
            self._record("opened", row, SYSTEM, at)
        return row if created else None

    async def close(self, rule_id: int, subject: str, at_us: int, value: float | None) -> None:
        """Resolve the active alert of a rule and subject: its condition cleared."""
        alert = self.active.get((rule_id, subject))
        if alert is None:
            return
        at = to_dt(at_us / US_PER_S)
        opened = alert.get("opened_at")
        if isinstance(opened, datetime) and at < opened:
            # A reading delayed on its way (a silence was declared while it was in flight)
            # resolves the alert when it opened, never before: the trail does not run back.
            at = opened
        row = await self.repo.transition(
            alert["alert_id"],
            {"state": "resolved", "resolved_at": at, "resolved_by": SYSTEM, "last_value": value},
            at=at,
            actor=SYSTEM,
            transition="resolved",
            details={"reason": "condition cleared", "value": value},
        )
        # Forgotten only once stored: a retry after a database error closes it again.
        self.active.pop((rule_id, subject), None)
        if row is not None:
            self._record("resolved", row, SYSTEM, at)

    async def touch(self, updates: list[tuple[int, str, float, float, int, Severity]]) -> None:
        """Peaks, latest values and severity of active alerts: (rule, subject, peak, value,
        time µs, severity). A severity increase is a transition of its own."""
        rows = []
        for rule_id, subject, peak, value, at_us, sev in updates:
            alert = self.active.get((rule_id, subject))
            if alert is None:
                continue
            at = to_dt(at_us / US_PER_S)
            old = Severity.parse(alert["severity"])
            if sev > old:
                row = await self.repo.transition(
                    alert["alert_id"],
                    {"severity": sev.label, "peak_value": peak},
                    at=at,
                    actor=SYSTEM,
                    transition="severity",
                    details={"from": old.label, "to": sev.label, "value": value},
                )
                if row is not None:
                    self.active[(rule_id, subject)] = row
                    self._record("severity", row, SYSTEM, at)
                    alert = row
            alert.update(peak_value=peak, last_value=value, last_seen_at=at)
            rows.append((alert["alert_id"], peak, value, at, alert["severity"]))
        await self.repo.touch(rows)

    # -- by people ------------------------------------------------------------------------

    async def _change(
        self,
        alert_id: int,
        actor: str,
        transition: str,
        changes: dict[str, Any],
        details: dict[str, Any],
        allowed: tuple[str, ...],
    ) -> dict[str, Any]:
        current = await self.repo.alert(alert_id)
        if current is None:
            raise KeyError(alert_id)
        if current["state"] not in allowed:
            raise AlertStateError(f"cannot {transition} an alert that is {current['state']}")
        at = self._now()
        changes = {k: (at if v is _NOW else v) for k, v in changes.items()}
        row = await self.repo.transition(
            alert_id, changes, at=at, actor=actor, transition=transition, details=details
        )
        if row is None:
            raise AlertStateError(f"cannot {transition} an alert that is resolved")
        key = (row["rule_id"] or 0, row["subject"])
        if row["state"] == "resolved":
            self.active.pop(key, None)
        elif key in self.active:
            self.active[key] = row
        self._record(transition, row, actor, at)
        return row

    async def acknowledge(self, alert_id: int, actor: str) -> dict[str, Any]:
        """open -> acknowledged (stops escalation).

        Raises:
            KeyError: no such alert.
            AlertStateError: it is not open.
        """
        return await self._change(
            alert_id,
            actor,
            "acknowledged",
            {"state": "acknowledged", "acknowledged_at": _NOW, "acknowledged_by": actor},
            {},
            ("open",),
        )

    async def assign(self, alert_id: int, actor: str, assignee: str) -> dict[str, Any]:
        """Set the assignee of an active alert."""
        return await self._change(
            alert_id,
            actor,
            "assigned",
            {"assignee": assignee},
            {"assignee": assignee},
            ("open", "acknowledged"),
        )

    async def resolve(self, alert_id: int, actor: str, note: str | None = None) -> dict[str, Any]:
        """Resolve by hand."""
        return await self._change(
            alert_id,
            actor,
            "resolved",
            {"state": "resolved", "resolved_at": _NOW, "resolved_by": actor},
            {"reason": "by hand", "note": note} if note else {"reason": "by hand"},
            ("open", "acknowledged"),
        )

    async def note(self, alert_id: int, actor: str, text: str) -> dict[str, Any]:
        """Add a note (any state).

        Raises:
            KeyError: no such alert.
        """
        at = self._now()
        row = await self.repo.add_note(alert_id, at, actor, text)
        if row is None:
            raise KeyError(alert_id)
        key = (row["rule_id"] or 0, row["subject"])
        if key in self.active:
            self.active[key] = row
        self._record("note", row, actor, at, extra={"note": text})
        return row

    # -- escalation -----------------------------------------------------------------------

    async def escalate_due(self) -> int:
        """Escalate open (unacknowledged) alerts whose rule's delay has passed; returns count.

        Level n+1 is the next contact level above the alert's level that has contacts for
        its site; without one, escalation stops there.
        """
        now = self._now()
        done = 0
        live = {a["alert_id"] for a in self.active.values()}
        self._raised_at = {k: v for k, v in self._raised_at.items() if k in live}
        for key, alert in list(self.active.items()):
            rule = self.rules.get(key[0])
            if alert["state"] != "open" or rule is None or rule.escalate_after_s is None:
                continue
            since = alert["escalated_at"] or alert["opened_at"]
            since = max(since, self._raised_at.get(alert["alert_id"], since))
            if (now - since).total_seconds() < rule.escalate_after_s:
                continue
            level = alert["escalation_level"]
            nxt = [
                c
                for c in self.contacts
                if c["level"] > level and c["site"] in (None, alert["site"])
            ]
            if not nxt:
                continue
            new_level = min(c["level"] for c in nxt)
            people = [c for c in nxt if c["level"] == new_level]
            row = await self.repo.transition(
                alert["alert_id"],
                {"escalation_level": new_level, "escalated_at": now},
                at=now,
                actor=SYSTEM,
                transition="escalated",
                details={"level": new_level, "contacts": [c["name"] for c in people]},
                # Only if nobody (another worker, an operator elsewhere) got there first.
                expect={"state": "open", "escalation_level": level},
            )
            if row is None:
                fresh = await self.repo.alert(alert["alert_id"])  # follow what happened
                if fresh is None or fresh["state"] == "resolved":
                    self.active.pop(key, None)
                else:
                    self.active[key] = fresh
                continue
            self.active[key] = row
            targets = tuple(c["webhook_url"] for c in people if c["webhook_url"])
            contacts = [{k: c[k] for k in ("name", "phone", "email", "level")} for c in people]
            self._record(
                "escalated", row, SYSTEM, now, extra={"contacts": contacts}, targets=targets
            )
            done += 1
        return done


class _Now:
    """Marker: the transition's time."""


_NOW = _Now()

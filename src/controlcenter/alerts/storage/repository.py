"""The alert tables: rules, alerts with their audit history, contacts, webhooks, dead letters.

Every alert transition is one transaction: the alert row and its history row together.
Database errors surface as :class:`~controlcenter.errors.StorageError`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from controlcenter.alerts.rules.rule import Rule
from controlcenter.errors import RuleConflictError
from controlcenter.store import map_storage_errors

__all__ = ["AlertFilter", "AlertRepository", "to_dt"]

_ALERT_COLUMNS = """
alert_id, rule_id, rule_name, subject, state, severity, series_id, site, factory, kind, sensor,
metric, message, value, peak_value, last_value, opened_at, last_seen_at, acknowledged_at,
acknowledged_by, resolved_at, resolved_by, assignee, escalation_level, escalated_at, notes
"""

# One index probe per series on readings (series_id, time DESC). No index may lead with time
# alone: the planner then walks it newest first for every series (revision 0009).
_LATEST_VALUES = """
SELECT s.id AS series_id, r.value FROM unnest($1::int[]) AS s(id)
CROSS JOIN LATERAL (
    SELECT value FROM readings WHERE series_id = s.id ORDER BY time DESC LIMIT 1
) r
"""

_OPEN_BY_SENSOR = """
SELECT factory, kind, sensor, severity, count(*) AS n FROM alerts
WHERE state <> 'resolved' AND site = $1 AND ($2::text IS NULL OR factory = $2)
GROUP BY factory, kind, sensor, severity
"""
_OPEN_BY_SEVERITY = """
SELECT severity, count(*) AS n FROM alerts
WHERE state <> 'resolved' AND site = $1 AND ($2::text IS NULL OR factory = $2)
GROUP BY severity
"""
_OPEN_BY_KIND = """
SELECT kind, count(*) AS n FROM alerts
WHERE state <> 'resolved' AND site = $1 AND ($2::text IS NULL OR factory = $2)
  AND kind = ANY($3::text[])
GROUP BY kind
"""


def to_dt(seconds: float) -> datetime:
    """Epoch seconds to an aware datetime."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def _alert(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    notes = out.get("notes")
    if isinstance(notes, str):
        out["notes"] = json.loads(notes)
    return out


class AlertFilter:
    """Filters for listing alerts (all optional)."""

    def __init__(
        self,
        *,
        state: Sequence[str] = (),
        severity: Sequence[str] = (),
        site: str | None = None,
        factory: str | None = None,
        kind: str | None = None,
        rule: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> None:
        self.state, self.severity = list(state), list(severity)
        self.site, self.factory, self.kind, self.rule = site, factory, kind, rule
        self.since, self.until = since, until
        self.limit, self.offset = limit, offset

    def sql(self) -> tuple[str, list[Any]]:
        """The WHERE clause and its arguments."""
        where: list[str] = []
        args: list[Any] = []

        def add(cond: str, value: Any) -> None:
            args.append(value)
            where.append(cond.replace("?", f"${len(args)}"))

        if self.state:
            add("state = ANY(?::text[])", self.state)
        if self.severity:
            add("severity = ANY(?::text[])", self.severity)
        for col in ("site", "factory", "kind"):
            if getattr(self, col) is not None:
                add(f"{col} = ?", getattr(self, col))
        if self.rule is not None:
            add("rule_name = ?", self.rule)
        if self.since is not None:
            add("opened_at >= ?", self.since)
        if self.until is not None:
            add("opened_at < ?", self.until)
        return (" WHERE " + " AND ".join(where)) if where else "", args


class AlertRepository:
    """SQL for the alerts subsystem over an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # -- rules ----------------------------------------------------------------------------

    async def rules(self) -> list[Rule]:
        """Every stored rule."""
        with map_storage_errors("cannot load alert rules"):
            rows = await self.pool.fetch(
                "SELECT rule_id, name, enabled, definition FROM alert_rules ORDER BY rule_id"
            )
        return [_rule(r) for r in rows]

    async def rule(self, rule_id: int) -> Rule | None:
        """One rule, or None."""
        with map_storage_errors("cannot load the alert rule"):
            row = await self.pool.fetchrow(
                "SELECT rule_id, name, enabled, definition FROM alert_rules WHERE rule_id = $1",
                rule_id,
            )
        return None if row is None else _rule(row)

    async def save_rule(self, rule: Rule) -> Rule:
        """Insert (``rule.id`` None) or update a rule; returns it with its id.

        Raises:
            RuleConflictError: the name is taken by another rule.
            KeyError: updating a rule that does not exist.
        """
        definition = json.dumps(rule.definition())
        try:
            with map_storage_errors("cannot store the alert rule"):
                if rule.id is None:
                    rid = await self.pool.fetchval(
                        "INSERT INTO alert_rules (name, enabled, definition)"
                        " VALUES ($1, $2, $3::jsonb) RETURNING rule_id",
                        rule.name,
                        rule.enabled,
                        definition,
                    )
                else:
                    rid = await self.pool.fetchval(
                        "UPDATE alert_rules SET name = $2, enabled = $3, definition = $4::jsonb,"
                        " builtin = false, updated_at = now()"  # an operator's rule now
                        " WHERE rule_id = $1 RETURNING rule_id",
                        rule.id,
                        rule.name,
                        rule.enabled,
                        definition,
                    )
        except Exception as exc:
            if isinstance(exc.__cause__, asyncpg.UniqueViolationError):
                raise RuleConflictError(f"a rule named {rule.name!r} exists") from exc
            raise
        if rid is None:
            raise KeyError(rule.id)
        return rule.model_copy(update={"id": rid})

    async def delete_rule(self, rule_id: int) -> bool:
        """Delete a rule (its alerts keep their rule name); False when absent."""
        with map_storage_errors("cannot delete the alert rule"):
            status = await self.pool.execute("DELETE FROM alert_rules WHERE rule_id = $1", rule_id)
        return bool(status.endswith(" 1"))

    # -- counts -----------------------------------------------------------------------------

    async def open_counts(
        self,
        by: Literal["severity", "kind"],
        site: str,
        factory: str | None,
        kinds: Sequence[str] = (),
    ) -> dict[str, int] | None:
        """Unresolved alerts of a site (or one factory) counted by severity or by kind (of
        ``kinds``); None when the database has no alert table (alerting never migrated)."""
        if not await self.pool.fetchval("SELECT to_regclass('alerts') IS NOT NULL"):
            return None
        if by == "severity":
            rows = await self.pool.fetch(_OPEN_BY_SEVERITY, site, factory)
        else:
            rows = await self.pool.fetch(_OPEN_BY_KIND, site, factory, list(kinds))
        return {r[by]: int(r["n"]) for r in rows}

    async def open_by_sensor(self, site: str, factory: str | None) -> list[asyncpg.Record]:
        """Unresolved alerts of a site (or one factory) counted per (factory, kind, sensor,
        severity): the map's colours."""
        return list(await self.pool.fetch(_OPEN_BY_SENSOR, site, factory))

    # -- references -----------------------------------------------------------------------

    async def contracts(self) -> dict[tuple[str, str], float]:
        """``{(site, factory): contract_kw}`` of factories that have one."""
        with map_storage_errors("cannot load contracted power"):
            rows = await self.pool.fetch(
                "SELECT si.code AS site, f.code AS factory, f.contract_kw FROM factories f"
                " JOIN sites si USING (site_id) WHERE f.contract_kw IS NOT NULL"
            )
        return {(r["site"], r["factory"]): float(r["contract_kw"]) for r in rows}

    async def latest_values(self, series: Sequence[int]) -> list[tuple[int, float]]:
        """The latest reading of each of ``series`` (capacities at start-up)."""
        if not series:
            return []
        with map_storage_errors("cannot load latest values"):
            rows = await self.pool.fetch(_LATEST_VALUES, list(series))
        return [(r["series_id"], r["value"]) for r in rows]

    async def gateways(self) -> list[asyncpg.Record]:
        """Every factory's gateway status: site, factory, status, status_at."""
        with map_storage_errors("cannot load gateway statuses"):
            return await self.pool.fetch(
                "SELECT si.code AS site, f.code AS factory, f.gateway_status AS status,"
                " f.gateway_status_at AS status_at FROM factories f JOIN sites si USING (site_id)"
                " WHERE f.gateway_status IS NOT NULL"
            )

    async def contacts(self) -> list[dict[str, Any]]:
        """Enabled escalation contacts, by level."""
        with map_storage_errors("cannot load alert contacts"):
            # On-call schedules above level 0 are escalation levels too (the pager pages
            # whoever is on call there); negative ids keep them apart from contacts.
            rows = await self.pool.fetch(
                "SELECT contact_id, level, name, phone, email, webhook_url, site"
                " FROM alert_contacts WHERE enabled UNION ALL"
                " SELECT -schedule_id, level, name, NULL, NULL, NULL, site"
                " FROM paging_schedules WHERE enabled AND level >= 1 ORDER BY level, contact_id"
            )
        return [dict(r) for r in rows]

    async def webhooks(self) -> list[dict[str, Any]]:
        """Enabled webhook endpoints."""
        with map_storage_errors("cannot load webhooks"):
            rows = await self.pool.fetch(
                "SELECT webhook_id, name, url, min_severity FROM alert_webhooks WHERE enabled"
            )
        return [dict(r) for r in rows]

    async def dead_letter(
        self, channel: str, target: str, payload: dict[str, Any], attempts: int, error: str
    ) -> None:
        """Record a notification that could not be delivered."""
        with map_storage_errors("cannot record the notification dead letter"):
            await self.pool.execute(
                "INSERT INTO alert_dead_letters (channel, target, payload, attempts, error)"
                " VALUES ($1, $2, $3::jsonb, $4, $5)",
                channel,
                target,
                json.dumps(payload, default=str),
                attempts,
                error[:2000],
            )

    # -- alerts ---------------------------------------------------------------------------

    async def active_alerts(self) -> list[dict[str, Any]]:
        """Alerts that are open or acknowledged."""
        with map_storage_errors("cannot load active alerts"):
            rows = await self.pool.fetch(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE state <> 'resolved'"  # noqa: S608
            )
        return [_alert(r) for r in rows]

    async def alert(self, alert_id: int) -> dict[str, Any] | None:
        """One alert, or None."""
        with map_storage_errors("cannot load the alert"):
            row = await self.pool.fetchrow(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE alert_id = $1",  # noqa: S608
                alert_id,
            )
        return None if row is None else _alert(row)

    async def history(self, alert_id: int) -> list[dict[str, Any]]:
        """An alert's audit history, oldest first."""
        with map_storage_errors("cannot load the alert history"):
            rows = await self.pool.fetch(
                "SELECT time, actor, transition, details FROM alert_history"
                " WHERE alert_id = $1 ORDER BY time, id",
                alert_id,
            )
        out = []
        for r in rows:
            d = dict(r)
            d["details"] = json.loads(d["details"]) if isinstance(d["details"], str) else {}
            out.append(d)
        return out

    async def list_alerts(self, flt: AlertFilter) -> list[dict[str, Any]]:
        """Alerts matching ``flt``, newest first."""
        where, args = flt.sql()
        args += [flt.limit, flt.offset]
        n = len(args)
        sql = (
            f"SELECT {_ALERT_COLUMNS} FROM alerts{where}"  # noqa: S608
            f" ORDER BY opened_at DESC, alert_id DESC LIMIT ${n - 1} OFFSET ${n}"
        )
        with map_storage_errors("cannot list alerts"):
            rows = await self.pool.fetch(sql, *args)
        return [_alert(r) for r in rows]

    async def insert_alert(
        self, fields: dict[str, Any], actor: str, details: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Open an alert; returns (row, created). An active one for the rule and subject wins."""
        cols = list(fields)
        placeholders = ", ".join(f"${i + 1}" for i in range(len(cols)))
        sql = (
            f"INSERT INTO alerts ({', '.join(cols)}) VALUES ({placeholders})"  # noqa: S608
            " ON CONFLICT (rule_id, subject) WHERE state <> 'resolved' DO NOTHING"
            f" RETURNING {_ALERT_COLUMNS}"
        )
        with map_storage_errors("cannot open the alert"):
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(sql, *fields.values())
                if row is None:
                    row = await conn.fetchrow(
                        f"SELECT {_ALERT_COLUMNS} FROM alerts"  # noqa: S608
                        " WHERE rule_id = $1 AND subject = $2 AND state <> 'resolved'",
                        fields["rule_id"],
                        fields["subject"],
                    )
                    if row is None:
                        raise KeyError(fields["subject"])  # resolved meanwhile; caller retries
                    return _alert(row), False
                await _history(conn, row["alert_id"], fields["opened_at"], actor, "opened", details)
        return _alert(row), True

    async def transition(
        self,
        alert_id: int,
        changes: dict[str, Any],
        *,
        at: datetime,
        actor: str,
        transition: str,
        details: dict[str, Any],
        only_active: bool = True,
        expect: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Update an alert and write its history row; None when no such (active) alert.

        ``expect`` makes it a compare-and-set: the update happens only while those columns
        still hold those values (another worker may have escalated or acknowledged it).
        """
        expect = expect or {}
        sets = ", ".join(f"{col} = ${i + 2}" for i, col in enumerate(changes))
        guard = " AND state <> 'resolved'" if only_active else ""
        first = len(changes) + 2
        guard += "".join(f" AND {col} = ${first + i}" for i, col in enumerate(expect))
        # Column names are the callers' constants, never input; values are parameters.
        sql = (
            f"UPDATE alerts SET {sets} WHERE alert_id = $1{guard}"  # noqa: S608
            f" RETURNING {_ALERT_COLUMNS}"
        )
        with map_storage_errors("cannot update the alert"):
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(sql, alert_id, *changes.values(), *expect.values())
                if row is None:
                    return None
                await _history(conn, alert_id, at, actor, transition, details)
        return _alert(row)

    async def add_note(
        self, alert_id: int, at: datetime, actor: str, text: str
    ) -> dict[str, Any] | None:
        """Append a note (kept on the alert and in its history)."""
        note = json.dumps([{"time": at.isoformat(), "actor": actor, "text": text}])
        with map_storage_errors("cannot add the note"):
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    f"UPDATE alerts SET notes = notes || $2::jsonb WHERE alert_id = $1"  # noqa: S608
                    f" RETURNING {_ALERT_COLUMNS}",
                    alert_id,
                    note,
                )
                if row is None:
                    return None
                await _history(conn, alert_id, at, actor, "note", {"text": text})
        return _alert(row)

    async def touch(self, rows: Sequence[tuple[int, float, float, datetime, str]]) -> None:
        """Store peak, latest value, last-seen time and severity of active alerts."""
        if not rows:
            return
        with map_storage_errors("cannot update active alerts"):
            await self.pool.executemany(
                "UPDATE alerts SET peak_value = $2, last_value = $3, last_seen_at = $4,"
                " severity = $5 WHERE alert_id = $1",
                rows,
            )


async def _history(
    conn: Any,
    alert_id: int,
    at: datetime,
    actor: str,
    transition: str,
    details: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO alert_history (alert_id, time, actor, transition, details)"
        " VALUES ($1, $2, $3, $4, $5::jsonb)",
        alert_id,
        at,
        actor,
        transition,
        json.dumps(details, default=str),
    )


def _rule(row: asyncpg.Record) -> Rule:
    definition = row["definition"]
    data = json.loads(definition) if isinstance(definition, str) else dict(definition)
    data.update(id=row["rule_id"], name=row["name"], enabled=row["enabled"])
    return Rule.model_validate(data)

"""The paging tables: contacts, schedules, overrides, pending pages, the send outbox and
delivery attempts (every statement of the package).

Database errors surface as :class:`~controlcenter.errors.StorageError`. Column names in
the dynamic statements are this module's constants, never input; values are parameters.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic import BaseModel

from controlcenter.paging.model import Contact, OverrideIn, Schedule
from controlcenter.store import map_storage_errors

__all__ = ["Outbox", "PagingRepository", "Pending"]

#: A connection as the pool hands it out (or a bare one).
Conn = asyncpg.Connection | PoolConnectionProxy

M = TypeVar("M", Contact, Schedule)
_TABLES: dict[type[BaseModel], tuple[str, str]] = {
    Contact: ("paging_contacts", "contact_id"),
    Schedule: ("paging_schedules", "schedule_id"),
}
_ALERT = (
    "a.rule_name, a.severity, a.state, a.site, a.factory, a.kind, a.sensor, a.metric,"
    " a.message, a.value, a.peak_value, a.opened_at, a.escalation_level"
)

#: A claimed pending page: its row joined with its alert's columns.
Pending = dict[str, Any]


@contextlib.asynccontextmanager
async def _transaction(pool: asyncpg.Pool, failure: str) -> AsyncIterator[Conn]:
    """A connection in a transaction; database errors become StorageError(``failure``)."""
    with map_storage_errors(failure):
        async with pool.acquire() as conn, conn.transaction():
            yield conn


def _columns(item: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in item.model_dump(mode="python", exclude={"id"}).items():
        if isinstance(value, tuple):
            out[name] = [*value]
        elif name == "webhook_url" and value is not None:
            out[name] = str(value)
        else:
            out[name] = value
    return out


def _row(model: type[M], r: asyncpg.Record, key: str) -> M:
    data = dict(r)
    data["id"] = data.pop(key)
    return model.model_validate(data, strict=False)


class PagingRepository:
    """SQL for paging over an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # -- contacts and schedules (one generic CRUD for both) --------------------------------

    async def all(self, model: type[M]) -> list[M]:
        """Every stored row of ``model``'s table."""
        table, key = _TABLES[model]
        with map_storage_errors(f"cannot load {table}"):
            rows = await self.pool.fetch(f"SELECT * FROM {table} ORDER BY {key}")  # noqa: S608
        return [_row(model, r, key) for r in rows]

    async def get(self, model: type[M], item_id: int) -> M | None:
        """One row, or None."""
        table, key = _TABLES[model]
        with map_storage_errors(f"cannot load {table}"):
            r = await self.pool.fetchrow(
                f"SELECT * FROM {table} WHERE {key} = $1",  # noqa: S608
                item_id,
            )
        return None if r is None else _row(model, r, key)

    async def by_key(self, key_id: str) -> Contact | None:
        """The contact bound to an API key, or None."""
        with map_storage_errors("cannot load paging_contacts"):
            r = await self.pool.fetchrow(
                "SELECT * FROM paging_contacts WHERE key_id = $1 AND enabled", key_id
            )
        return None if r is None else _row(Contact, r, "contact_id")

    async def save(self, item: M) -> M:
        """Insert (``id`` None) or replace a row; returns it with its id.

        Raises:
            KeyError: replacing a row that does not exist.
            ValueError: a schedule name that is taken, or a rotation naming no contact.
        """
        if isinstance(item, Schedule):
            await self._check_rotation(item.rotation)
        new_id = await self._store(type(item), item.id, _columns(item))
        return item.model_copy(update={"id": new_id})

    async def _store(
        self, model: type[BaseModel], item_id: int | None, data: dict[str, Any]
    ) -> int:
        table, key = _TABLES[model]
        cols = [*data]
        if item_id is None:
            sql = (
                f"INSERT INTO {table} ({', '.join(cols)})"  # noqa: S608
                f" VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))}) RETURNING {key}"
            )
            args: list[Any] = [*data.values()]
        else:
            sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
            sql = f"UPDATE {table} SET {sets} WHERE {key} = $1 RETURNING {key}"  # noqa: S608
            args = [item_id, *data.values()]
        try:
            with map_storage_errors(f"cannot store into {table}"):
                new_id = await self.pool.fetchval(sql, *args)
        except Exception as exc:
            cause = exc.__cause__
            if isinstance(cause, asyncpg.UniqueViolationError):
                if cause.constraint_name == "paging_contacts_key":
                    raise ValueError("this API key is bound to another contact") from exc
                raise ValueError(f"the name {data.get('name')!r} is taken") from exc  # noqa: TRY004
            raise
        if new_id is None:
            raise KeyError(item_id)
        return int(new_id)

    async def _check_rotation(self, rotation: Sequence[int]) -> None:
        with map_storage_errors("cannot check the rotation"):
            known = await self.pool.fetchval(
                "SELECT count(*) FROM paging_contacts WHERE contact_id = ANY($1::int[])",
                list(set(rotation)),
            )
        if known != len(set(rotation)):
            raise ValueError("the rotation names a contact that does not exist")

    async def delete(self, model: type[M], item_id: int) -> bool:
        """Delete a row; False when absent."""
        table, key = _TABLES[model]
        with map_storage_errors("cannot delete " + table):
            status = await self.pool.execute(
                f"DELETE FROM {table} WHERE {key} = $1",  # noqa: S608
                item_id,
            )
        return bool(status.endswith(" 1"))

    # -- overrides ------------------------------------------------------------------------

    async def add_override(self, schedule_id: int, o: OverrideIn) -> dict[str, Any]:
        """Add an override to a schedule.

        Raises:
            KeyError: no such schedule or contact.
        """
        try:
            with map_storage_errors("cannot store the override"):
                r = await self.pool.fetchrow(
                    "INSERT INTO paging_overrides (schedule_id, contact_id, starts_at, ends_at,"
                    " reason) VALUES ($1, $2, $3, $4, $5) RETURNING *",
                    schedule_id,
                    o.contact_id,
                    o.starts_at,
                    o.ends_at,
                    o.reason,
                )
        except Exception as exc:
            if isinstance(exc.__cause__, asyncpg.ForeignKeyViolationError):
                raise KeyError("no such schedule or contact") from exc
            raise
        return dict(r) if r is not None else {}

    async def overrides(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Overrides that end after ``since`` (all when None)."""
        with map_storage_errors("cannot load overrides"):
            rows = await self.pool.fetch(
                "SELECT * FROM paging_overrides WHERE $1::timestamptz IS NULL OR ends_at > $1"
                " ORDER BY schedule_id, starts_at",
                since,
            )
        return [dict(r) for r in rows]

    async def delete_override(self, schedule_id: int, override_id: int) -> bool:
        """Delete an override; False when absent."""
        with map_storage_errors("cannot delete the override"):
            status = await self.pool.execute(
                "DELETE FROM paging_overrides WHERE override_id = $1 AND schedule_id = $2",
                override_id,
                schedule_id,
            )
        return bool(status.endswith(" 1"))

    # -- pending pages --------------------------------------------------------------------

    async def plan(
        self, rows: Sequence[tuple[int, int | None, str, datetime, float | None]]
    ) -> None:
        """Pages to send: (alert, contact, reason, due, repeat_s); an existing page for the
        pair is brought forward and takes the new reason (an escalation re-pages)."""
        if not rows:
            return
        with map_storage_errors("cannot plan pages"):
            await self.pool.executemany(
                "INSERT INTO page_pending (alert_id, contact_id, reason, next_at, repeat_s)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (alert_id, contact_id) DO UPDATE"
                " SET reason = EXCLUDED.reason, held = false, repeat_s = EXCLUDED.repeat_s,"
                " next_at = least(page_pending.next_at, EXCLUDED.next_at)",
                rows,
            )

    async def forget(self, alert_ids: Sequence[int]) -> None:
        """No more pages for these alerts (acknowledged or resolved)."""
        with map_storage_errors("cannot drop pending pages"):
            await self.pool.execute(
                "DELETE FROM page_pending WHERE alert_id = ANY($1::bigint[])", list(alert_ids)
            )

    async def claim(self, now: datetime, limit: int, lease_s: float) -> list[Pending]:
        """Due pages, at most ``limit``, leased for ``lease_s`` (another worker skips them).

        Pages of alerts that are no longer open are deleted on the way.
        """
        async with _transaction(self.pool, "cannot claim due pages") as conn:
            await conn.execute(
                "DELETE FROM page_pending p USING alerts a WHERE a.alert_id = p.alert_id"
                " AND a.state <> 'open' AND p.next_at <= $1",
                now,
            )
            rows = await conn.fetch(
                f"SELECT p.*, {_ALERT} FROM page_pending p"  # noqa: S608
                " JOIN alerts a USING (alert_id) WHERE p.next_at <= $1"
                " ORDER BY p.next_at LIMIT $2 FOR UPDATE OF p SKIP LOCKED",
                now,
                limit,
            )
            await conn.executemany(
                "UPDATE page_pending SET next_at = $3 WHERE alert_id = $1 AND contact_id = $2",
                [(r["alert_id"], r["contact_id"], now + timedelta(seconds=lease_s)) for r in rows],
            )
        return [dict(r) for r in rows]

    async def settle(
        self,
        later: Sequence[tuple[int, int, datetime, bool, int]],
        done: Sequence[tuple[int, int]],
        sends: Sequence[tuple[int, str, str]] = (),
        lease_until: datetime | None = None,
    ) -> list[int]:
        """After a dispatch: ``later`` (alert, contact, next_at, held, sent+) and ``done``
        (pages that do not repeat) are stored, and ``sends`` (contact, channel, page JSON)
        go to the outbox leased until ``lease_until``, in one transaction; the sends' ids."""
        async with _transaction(self.pool, "cannot settle pages") as conn:
            await conn.executemany(
                "UPDATE page_pending SET next_at = $3, held = $4, sent = sent + $5"
                " WHERE alert_id = $1 AND contact_id = $2",
                later,
            )
            await conn.executemany(
                "DELETE FROM page_pending WHERE alert_id = $1 AND contact_id = $2", done
            )
            if not sends or lease_until is None:
                return []
            return await _store_sends(conn, sends, lease_until)

    async def pending(self, alert_id: int) -> list[dict[str, Any]]:
        """An alert's pending pages."""
        with map_storage_errors("cannot load pending pages"):
            rows = await self.pool.fetch(
                "SELECT p.*, c.name AS person FROM page_pending p"
                " JOIN paging_contacts c USING (contact_id) WHERE alert_id = $1"
                " ORDER BY contact_id",
                alert_id,
            )
        return [dict(r) for r in rows]

    # -- deliveries -----------------------------------------------------------------------

    async def record(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Delivery attempts: (alert, contact, person, channel, reason, attempt, outcome,
        error)."""
        if not rows:
            return
        with map_storage_errors("cannot record deliveries"):
            async with self.pool.acquire() as conn:
                await _insert_deliveries(conn, rows)

    async def deliveries(self, alert_id: int, limit: int = 1_000) -> list[dict[str, Any]]:
        """An alert's delivery attempts, oldest first."""
        with map_storage_errors("cannot load deliveries"):
            rows = await self.pool.fetch(
                "SELECT time, contact_id, person, channel, reason, attempt, outcome, error"
                " FROM page_deliveries WHERE alert_id = $1 ORDER BY time, id LIMIT $2",
                alert_id,
                limit,
            )
        return [dict(r) for r in rows]


class Outbox:
    """The send outbox (``page_outbox``, and the delivery records written with it).

    A send is one page to one person on one channel. The dispatcher stores it in the same
    transaction that settles the pending page (:meth:`PagingRepository.settle`), leased to
    this pager; the sender records each attempt and, with the final one (sent or failed),
    deletes the send in the same transaction, so an attempt is recorded exactly once. A
    pager that stops leaves its unfinished sends with their lease released, and one that
    crashes leaves them until their lease runs out: the next pager (or another worker)
    sends them then.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def claim(
        self, now: datetime, limit: int, lease_s: float, held: Sequence[int]
    ) -> list[dict[str, Any]]:
        """Sends whose lease ran out (left by a stopped or crashed pager), at most
        ``limit``, leased anew; ``held`` (this pager's own) are never taken."""
        if limit <= 0:
            return []
        with map_storage_errors("cannot claim unfinished sends"):
            rows = await self.pool.fetch(
                "UPDATE page_outbox SET lease_until = $2 WHERE send_id IN ("
                " SELECT send_id FROM page_outbox WHERE lease_until <= $1"
                " AND NOT (send_id = ANY($4::bigint[])) ORDER BY send_id LIMIT $3"
                " FOR UPDATE SKIP LOCKED) RETURNING *",
                now,
                now + timedelta(seconds=lease_s),
                limit,
                list(held),
            )
        return sorted((dict(r) for r in rows), key=lambda r: int(r["send_id"]))

    async def renew(self, ids: Sequence[int], until: datetime) -> None:
        """Keep this pager's sends (queued or in flight) leased until ``until``."""
        if not ids:
            return
        with map_storage_errors("cannot renew send leases"):
            await self.pool.execute(
                "UPDATE page_outbox SET lease_until = $2 WHERE send_id = ANY($1::bigint[])",
                list(ids),
                until,
            )

    async def attempted(
        self, send_id: int, attempt: int, final: bool, records: Sequence[tuple[Any, ...]]
    ) -> None:
        """Record an attempt (``records``: delivery rows) and, when ``final``, forget the
        send; one transaction."""
        async with _transaction(self.pool, "cannot record deliveries") as conn:
            await _insert_deliveries(conn, records)
            if final:
                await conn.execute("DELETE FROM page_outbox WHERE send_id = $1", send_id)
            else:
                await conn.execute(
                    "UPDATE page_outbox SET attempt = $2 WHERE send_id = $1",
                    send_id,
                    attempt,
                )

    async def release(
        self,
        ids: Sequence[int],
        now: datetime,
        cut: Mapping[int, int],
        records: Sequence[tuple[Any, ...]],
    ) -> None:
        """At shutdown: the unfinished sends ``ids`` are due at once for the next pager;
        ``cut`` (send -> attempt) were cut mid-attempt, which counts; ``records`` note them."""
        async with _transaction(self.pool, "cannot release sends") as conn:
            await _insert_deliveries(conn, records)
            await conn.executemany(
                "UPDATE page_outbox SET attempt = $2 WHERE send_id = $1", [*cut.items()]
            )
            await conn.execute(
                "UPDATE page_outbox SET lease_until = $2 WHERE send_id = ANY($1::bigint[])",
                list(ids),
                now,
            )

    async def pending(self) -> int:
        """How many sends are unfinished (all pagers)."""
        with map_storage_errors("cannot count sends"):
            return int(await self.pool.fetchval("SELECT count(*) FROM page_outbox"))


async def _store_sends(
    conn: Conn, sends: Sequence[tuple[int, str, str]], lease_until: datetime
) -> list[int]:
    """Store sends (contact, channel, page JSON) on ``conn`` (the caller's transaction);
    their ids, in order."""
    ids = []
    for contact_id, channel, page in sends:
        ids.append(
            await conn.fetchval(
                "INSERT INTO page_outbox (contact_id, channel, page, lease_until)"
                " VALUES ($1, $2, $3::jsonb, $4) RETURNING send_id",
                contact_id,
                channel,
                page,
                lease_until,
            )
        )
    return ids


async def _insert_deliveries(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Delivery attempts: (alert, contact, person, channel, reason, attempt, outcome,
    error)."""
    if rows:
        await conn.executemany(
            "INSERT INTO page_deliveries (alert_id, contact_id, person, channel, reason,"
            " attempt, outcome, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [(*r[:7], str(r[7])[:2000]) for r in rows],
        )

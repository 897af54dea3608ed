"""The send outbox: every send from its dispatch until its last attempt is recorded.

A send is one page to one person on one channel. The dispatcher stores it
(``page_outbox``) in the same transaction that settles the pending page, leased to this
pager; the sender records each attempt and, with the final one (sent or failed), deletes
the send in the same transaction, so an attempt is recorded exactly once. A pager that
stops leaves its unfinished sends with their lease released, and one that crashes leaves
them until their lease runs out: the next pager (or another worker) sends them then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from controlcenter.paging.message import Page
from controlcenter.store import map_storage_errors

__all__ = ["Outbox", "page_from_json", "page_to_json"]

#: A connection as the pool hands it out (or a bare one).
Conn = asyncpg.Connection | PoolConnectionProxy

#: The alert fields a page's text uses (see ``controlcenter.paging.message``).
_LISTED = ("alert_id", "factory", "kind", "sensor", "metric", "value", "peak_value", "message")


def page_to_json(page: Page) -> str:
    """A page as JSON (the listed alerts keep only what a message shows).

    >>> p = Page("opened", "pm10", "s1", "warning", ({"alert_id": 3, "value": 9.0},), 1)
    >>> page_from_json(page_to_json(p)) == p
    True
    """
    doc = asdict(page)
    doc["alerts"] = [{k: a.get(k) for k in _LISTED if k in a} for a in page.alerts]
    return orjson.dumps(doc, default=str).decode()


def page_from_json(text: str | Mapping[str, Any]) -> Page:
    """The page :func:`page_to_json` stored."""
    doc = dict(orjson.loads(text) if isinstance(text, str) else text)
    doc["alerts"] = tuple(doc.get("alerts") or ())
    doc["alert_ids"] = tuple(doc.get("alert_ids") or ())
    return Page(**doc)


class Outbox:
    """SQL of ``page_outbox`` (and the delivery records written with it)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @staticmethod
    async def add(
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
        with map_storage_errors("cannot record deliveries"):
            async with self.pool.acquire() as conn, conn.transaction():
                await insert_deliveries(conn, records)
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
        with map_storage_errors("cannot release sends"):
            async with self.pool.acquire() as conn, conn.transaction():
                await insert_deliveries(conn, records)
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


async def insert_deliveries(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Delivery attempts: (alert, contact, person, channel, reason, attempt, outcome,
    error)."""
    if rows:
        await conn.executemany(
            "INSERT INTO page_deliveries (alert_id, contact_id, person, channel, reason,"
            " attempt, outcome, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [(*r[:7], str(r[7])[:2000]) for r in rows],
        )

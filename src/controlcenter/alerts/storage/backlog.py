"""The ``alert_backlog`` table (revision 0017): evaluated transitions left by a shutdown.

A stopping alert stage writes what it could not apply in time (:meth:`AlertBacklog.save`,
one JSON document per evaluated batch, in order); the next start replays them
(:meth:`AlertBacklog.replay`) before it evaluates anything new. Replaying is safe to
repeat: opening an alert that is already open, closing one that is closed and raising a
severity that is already raised change nothing, so a replay cut short (a crash, a lost
link) is simply replayed again. Rows are claimed with ``FOR UPDATE SKIP LOCKED`` inside
the replay's transaction, so two workers starting together never replay the same row, and
a row is deleted only when the transaction that applied it commits.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from controlcenter.store import map_storage_errors

__all__ = ["AlertBacklog"]

_CLAIM = "SELECT id, work FROM alert_backlog ORDER BY id FOR UPDATE SKIP LOCKED"
_DELETE = "DELETE FROM alert_backlog WHERE id = ANY($1::bigint[])"
_INSERT = "INSERT INTO alert_backlog (work) VALUES ($1::jsonb)"


class AlertBacklog:
    """The alert transitions a shutdown left to apply (see the module docstring)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def save(self, works: list[dict[str, Any]]) -> None:
        """Record ``works`` (JSON-ready documents) in order, in one transaction.

        Raises:
            StorageError: the database refused or is away.
        """
        if not works:
            return
        with map_storage_errors("cannot record the alert backlog"):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.executemany(_INSERT, [(json.dumps(w),) for w in works])

    async def replay(self, apply: Callable[[dict[str, Any]], Awaitable[None]]) -> int:
        """Apply every recorded document in order with ``apply``, then delete them;
        returns how many were applied.

        Raises:
            StorageError: the database refused or is away (the rows stay for a retry).
        """
        with map_storage_errors("cannot replay the alert backlog"):
            async with self.pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(_CLAIM)
                for row in rows:
                    await apply(json.loads(row["work"]))
                if rows:
                    await conn.execute(_DELETE, [r["id"] for r in rows])
        return len(rows)

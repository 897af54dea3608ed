"""Reads of readings for the API: the latest value per series, and streamed exports.

(Downsampled history is in :mod:`~controlcenter.store.downsample`.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from typing import Literal

import asyncpg

__all__ = ["EXPORT_TABLES", "export_rows", "ingest_counts", "latest_rows", "ping"]

# One index probe per series on readings (series_id, time DESC). No index may lead with time
# alone: the planner then walks it newest first for every series (revision 0009).
LATEST = """
SELECT s.id AS series_id, r.time, r.value
FROM unnest($1::int[]) AS s(id)
CROSS JOIN LATERAL (
    SELECT time, value FROM readings WHERE series_id = s.id ORDER BY time DESC LIMIT 1
) AS r
"""
_EXPORT_RAW = """
SELECT time, series_id, value FROM readings
WHERE series_id = ANY($1::int[]) AND time >= $2 AND time < $3 ORDER BY time, series_id
"""
# {table} is one of the constant names of EXPORT_TABLES, never user input.
_EXPORT_ROLLUP = """
SELECT bucket AS time, series_id, avg, min, max, last, count FROM {table}
WHERE series_id = ANY($1::int[]) AND bucket >= $2 AND bucket < $3 ORDER BY bucket, series_id
"""
#: The rollup tables an export may read, by resolution.
EXPORT_TABLES = {"1m": "readings_1m", "5m": "readings_5m", "1h": "readings_1h"}

# A reading's metrics share its sensor and time: readings are the distinct pairs. The window
# ends 2 s ago, so that readings still in flight do not lower the rate.
_INGEST_COUNTS = """
WITH recent AS (
    SELECT se.sensor_id, r.time FROM readings r JOIN series se USING (series_id)
    WHERE r.time >= now() - make_interval(secs => $1 + 2) AND r.time < now() - interval '2 s'
)
SELECT (SELECT count(*) FROM readings) AS values,
       (SELECT count(*) FROM recent) AS recent_values,
       (SELECT count(*) FROM (SELECT DISTINCT sensor_id, time FROM recent) AS x)
           AS recent_readings,
       (SELECT count(*) FROM series) AS series,
       (SELECT count(*) FROM dead_letters) AS dead
"""


async def ingest_counts(
    conn: asyncpg.Pool | asyncpg.Connection, window_s: float
) -> asyncpg.Record | None:
    """Values stored, series, dead letters, and the values and readings of the
    ``window_s`` seconds that ended 2 s ago (``demo``'s progress line)."""
    row: asyncpg.Record | None = await conn.fetchrow(_INGEST_COUNTS, window_s)
    return row


async def ping(pool: asyncpg.Pool) -> None:
    """One round trip to the database (readiness)."""
    await pool.fetchval("SELECT 1")


async def latest_rows(pool: asyncpg.Pool, ids: Sequence[int]) -> list[asyncpg.Record]:
    """``(series_id, time, value)`` of the newest stored reading of each of ``ids``."""
    return list(await pool.fetch(LATEST, list(ids)))


async def export_rows(
    pool: asyncpg.Pool,
    resolution: Literal["raw", "1m", "5m", "1h"],
    ids: Sequence[int],
    start: datetime,
    end: datetime,
    *,
    timeout_s: float,
    chunk_rows: int,
) -> AsyncGenerator[list[asyncpg.Record], None]:
    """Rows of ``ids`` in ``[start, end)`` in (time, series) order, ``chunk_rows`` at a
    time through a server-side cursor; every database step is bounded by ``timeout_s``.
    Raw rows are ``(time, series_id, value)``, rollup rows ``(time, series_id, avg, min,
    max, last, count)``."""
    if resolution == "raw":
        sql = _EXPORT_RAW
    else:
        sql = _EXPORT_ROLLUP.format(table=EXPORT_TABLES[resolution])
    async with asyncio.timeout(timeout_s):
        conn = await pool.acquire()
    try:
        async with asyncio.timeout(timeout_s):
            tr = conn.transaction()
            await tr.start()
            cursor = await conn.cursor(sql, list(ids), start, end)
        while True:
            async with asyncio.timeout(timeout_s):
                rows = await cursor.fetch(chunk_rows)
            if not rows:
                break
            yield rows
        async with asyncio.timeout(timeout_s):
            await tr.rollback()  # read-only; the cursor needed the transaction
    finally:
        async with asyncio.timeout(timeout_s):
            await pool.release(conn)

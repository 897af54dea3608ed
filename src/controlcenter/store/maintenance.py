"""Storage mode, and the upkeep plain PostgreSQL needs that TimescaleDB does by itself.

On TimescaleDB, continuous-aggregate and retention policies keep ``readings_1m``,
``readings_5m``, ``readings_1h`` and old chunks in order. On plain PostgreSQL,
:class:`Maintenance` does the same from the service: it recomputes the rollup buckets that
committed batches touched (tracked in memory, so no extra statement per batch), and drops
expired partitions.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from controlcenter.domain import US_PER_S, datetime_from_us
from controlcenter.store.pool import map_storage_errors

__all__ = ["Maintenance", "StorageMode", "read_storage_mode"]

logger = logging.getLogger(__name__)

_REFRESH_1M = """
INSERT INTO readings_1m AS r (bucket, series_id, min, max, sum, count, last)
SELECT date_bin('1 minute', time, TIMESTAMPTZ '2000-01-01'), series_id,
       min(value), max(value), sum(value), count(*), (array_agg(value ORDER BY time DESC))[1]
FROM readings
WHERE time >= $1 AND time < $2
GROUP BY 1, 2
ON CONFLICT (series_id, bucket) DO UPDATE
SET min = EXCLUDED.min, max = EXCLUDED.max, sum = EXCLUDED.sum,
    count = EXCLUDED.count, last = EXCLUDED.last
"""

# Coarser rollups from the 1-minute one; {table} and {width} are the constants below.
_REFRESH_FROM_1M = """
INSERT INTO {table} AS r (bucket, series_id, min, max, sum, count, last)
SELECT date_bin('{width}', bucket, TIMESTAMPTZ '2000-01-01'), series_id,
       min(min), max(max), sum(sum), sum(count), (array_agg(last ORDER BY bucket DESC))[1]
FROM readings_1m
WHERE bucket >= $1 AND bucket < $2
GROUP BY 1, 2
ON CONFLICT (series_id, bucket) DO UPDATE
SET min = EXCLUDED.min, max = EXCLUDED.max, sum = EXCLUDED.sum,
    count = EXCLUDED.count, last = EXCLUDED.last
"""
_REFRESH_5M = _REFRESH_FROM_1M.format(table="readings_5m", width="5 minutes")
_REFRESH_1H = _REFRESH_FROM_1M.format(table="readings_1h", width="1 hour")

_EXPIRED_PARTITIONS = """
SELECT c.relname
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = 'readings'
  AND c.relname ~ '^readings_p[0-9]{8}$'
  AND to_timestamp(substr(c.relname, 11), 'YYYYMMDD') + (SELECT partition_interval FROM cc_storage)
      < now() - make_interval(days => $1)
"""


@dataclass(frozen=True, slots=True)
class StorageMode:
    """How readings are stored in this database."""

    timescale: bool
    partition_width_us: int

    @property
    def name(self) -> str:
        """``timescaledb`` or ``postgres``."""
        return "timescaledb" if self.timescale else "postgres"


async def read_storage_mode(pool: asyncpg.Pool) -> StorageMode:
    """The mode the migrations chose (see migrations/versions/0002_readings.py)."""
    with map_storage_errors("cannot read the storage mode"):
        row = await pool.fetchrow("SELECT mode, partition_interval FROM cc_storage")
    if row is None:
        raise RuntimeError("cc_storage is empty: run `controlcenter migrate`")
    width: timedelta = row["partition_interval"]
    return StorageMode(row["mode"] == "timescaledb", int(width.total_seconds() * US_PER_S))


def _floor(us: int, width_us: int) -> int:
    return us - us % width_us


class Maintenance:
    """Rollup refresh and retention for plain PostgreSQL (no-ops under TimescaleDB).

    Call :meth:`touched` after every committed batch with its time range, and run
    :meth:`run` as a long-lived task.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        mode: StorageMode,
        *,
        interval_s: float,
        retention_days: int,
        startup_lookback_s: float = 3 * 3600,
    ) -> None:
        self._pool = pool
        self._mode = mode
        self._interval_s = interval_s
        self._retention_days = retention_days
        now = int(datetime.now(UTC).timestamp() * US_PER_S)
        # Batches committed before a crash may not have been rolled up: redo a window.
        self._dirty: tuple[int, int] | None = (now - int(startup_lookback_s * US_PER_S), now)

    def touched(self, min_us: int, max_us: int) -> None:
        """Record that readings between ``min_us`` and ``max_us`` were committed."""
        if self._mode.timescale:
            return
        if self._dirty is None:
            self._dirty = (min_us, max_us)
        else:
            self._dirty = (min(self._dirty[0], min_us), max(self._dirty[1], max_us))

    async def refresh(self) -> int:
        """Recompute the touched rollup buckets now; returns the 1-minute rows written."""
        if self._mode.timescale or self._dirty is None:
            return 0
        lo_us, hi_us = self._dirty
        self._dirty = None
        minute, five, hour = 60 * US_PER_S, 300 * US_PER_S, 3600 * US_PER_S
        try:
            lo_m, hi_m = _floor(lo_us, minute), _floor(hi_us, minute) + minute
            lo_5, hi_5 = _floor(lo_us, five), _floor(hi_us, five) + five
            lo_h, hi_h = _floor(lo_us, hour), _floor(hi_us, hour) + hour
            with map_storage_errors("cannot refresh rollups"):
                async with self._pool.acquire() as conn, conn.transaction():
                    status = await conn.execute(_REFRESH_1M, _ts(lo_m), _ts(hi_m))
                    await conn.execute(_REFRESH_5M, _ts(lo_5), _ts(hi_5))
                    await conn.execute(_REFRESH_1H, _ts(lo_h), _ts(hi_h))
        except BaseException:
            self.touched(lo_us, hi_us)  # try again next time
            raise
        return int(status.rsplit(" ", 1)[-1])

    async def drop_expired(self) -> list[str]:
        """Drop partitions entirely older than the retention; returns their names."""
        if self._mode.timescale:
            return []
        with map_storage_errors("cannot apply retention"):
            rows = await self._pool.fetch(_EXPIRED_PARTITIONS, self._retention_days)
            for r in rows:
                # Names come from pg_class and match ^readings_p[0-9]{8}$: safe to quote.
                await self._pool.execute(f'DROP TABLE IF EXISTS "{r["relname"]}"')
        dropped = [r["relname"] for r in rows]
        if dropped:
            logger.info("retention dropped partitions %s", dropped)
        return dropped

    async def run(self) -> None:
        """Refresh rollups every ``interval_s`` and apply retention hourly, forever."""
        if self._mode.timescale:
            return
        last_retention = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.refresh()
                if loop.time() - last_retention > 3600:
                    await self.drop_expired()
                    last_retention = loop.time()
            except Exception:
                logger.exception("storage maintenance failed; retrying")
            await asyncio.sleep(self._interval_s)


def _ts(us: int) -> datetime:
    return datetime_from_us(us)

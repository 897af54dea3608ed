"""Storage mode, and the upkeep of the rollups and of retention.

The service records the time ranges that committed batches touched (in memory, so no
extra statement per batch; :class:`~controlcenter.store.dirty.DirtyRanges`) and every
``db.rollup_interval_s`` recomputes their buckets of ``readings_1m``, ``readings_5m`` and
``readings_1h``: on plain PostgreSQL these are tables it fills from ``readings``
(:mod:`~controlcenter.store.rollups`); under TimescaleDB they are continuous aggregates and it
calls ``refresh_continuous_aggregate`` over the same ranges
(:mod:`~controlcenter.store.timescale`), so both modes answer alike within one interval.
Ranges are refreshed newest first, at most an hour each, each in its own transaction: one
that fails is kept for the next round while the others go on. On plain PostgreSQL the
service also drops expired partitions hourly (TimescaleDB has a retention policy), even
when a refresh fails.

At shutdown :meth:`Maintenance.finish` records the ranges still to do in
``cc_rollup_pending`` and refreshes what fits in the time left; the next start refreshes
what is recorded there, and the last few hours (whatever a crash left behind).
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import numpy.typing as npt

from controlcenter.domain import US_PER_S, datetime_from_us
from controlcenter.errors import StorageError
from controlcenter.stage import sleep_or_stop
from controlcenter.store import rollups, timescale
from controlcenter.store.dirty import HOUR_US, MINUTE_US, DirtyRanges, pieces
from controlcenter.store.pool import TRANSIENT_ERRORS, map_storage_errors

__all__ = ["Maintenance", "StorageMode", "read_storage_mode"]

logger = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_WIDTH_US = {"readings_1m": MINUTE_US, "readings_5m": 5 * MINUTE_US, "readings_1h": HOUR_US}
_RETENTION_PERIOD_S = 3600.0
_RECORD_MIN_S = 1.0  # at shutdown, recording what is left gets at least this long

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
    return us // width_us * width_us


def _ceil(us: int, width_us: int) -> int:
    return -(-us // width_us) * width_us


def _now_us() -> int:
    return (datetime.now(UTC) - _EPOCH) // _ONE_US


def _ts(us: int) -> datetime:
    return datetime_from_us(us)


class Maintenance:
    """Rollup refresh (both modes) and retention (plain PostgreSQL).

    Call :meth:`touched` after every committed batch with its times, run ``run(stop)`` as
    a long-lived task, and :meth:`finish` once it has returned, at shutdown.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        mode: StorageMode,
        *,
        interval_s: float,
        retention_days: int,
        startup_lookback_s: float = 3 * 3600,
        max_ranges: int = 1024,
    ) -> None:
        self._pool = pool
        self._mode = mode
        self._interval_s = interval_s
        self._retention_days = retention_days
        self._dirty = DirtyRanges(max_ranges)
        # Batches committed before a crash may not have been rolled up: redo a window.
        now = _now_us()
        self._dirty.add(now - int(startup_lookback_s * US_PER_S), now)
        self._pending_loaded = False
        self._pending: list[tuple[datetime, datetime]] = []  # rows of cc_rollup_pending

    @property
    def dirty_ranges(self) -> list[tuple[int, int]]:
        """The ranges still to refresh, ``[lo, hi)`` in µs, oldest first."""
        return self._dirty.ranges()

    def touched(self, time_us: npt.NDArray[np.int64]) -> None:
        """Record that readings at these times (µs since the epoch) were committed."""
        self._dirty.add_times(time_us)

    async def refresh(
        self, deadline: float | None = None, *, stop: asyncio.Event | None = None
    ) -> int:
        """Recompute the touched buckets; returns the 1-minute rows written (plain mode).

        Args:
            deadline: ``loop.time()`` by which to stop; what is left stays to do.
            stop: once set, stop after the range in progress; what is left stays to do.

        Raises:
            StorageError: the database is unreachable (everything stays to do).
        """
        loop = asyncio.get_running_loop()
        if not self._pending_loaded:
            await self._load_pending()
        recorded = list(self._pending)  # refreshed below unless something is left
        horizon = _ceil(_now_us() - self._retention_days * 86_400 * US_PER_S, HOUR_US)
        # Older rows are expired: recomputing their buckets would drop what retention
        # removed from the rollups too (and TimescaleDB's policies never go there).
        work = [
            piece
            for lo, hi in reversed(self._dirty.take())
            if hi > horizon
            for piece in pieces(max(lo, horizon), hi)
        ]
        rows, complete = 0, True
        for k, (lo, hi) in enumerate(work):
            late = deadline is not None and loop.time() >= deadline
            if late or (stop is not None and stop.is_set()):
                self._keep(work[k:])
                complete = False
                break
            try:
                async with asyncio.timeout_at(deadline):
                    rows += await self._refresh_piece(lo, hi)
            except StorageError as exc:
                cause = exc.__cause__
                # The link is down: stop here. A statement timeout is this piece's alone.
                if isinstance(cause, TRANSIENT_ERRORS) and not isinstance(cause, TimeoutError):
                    self._keep(work[k:])
                    raise
                complete = False
                self._dirty.add(lo, hi)
                logger.warning("rollup refresh of %s..%s failed: %s", _ts(lo), _ts(hi), exc)
            except TimeoutError:  # the deadline
                self._keep(work[k:])
                complete = False
                break
            except BaseException:
                self._keep(work[k:])
                raise
        if complete and recorded:
            await self._forget_pending(recorded, deadline)
        return rows

    async def finish(self, deadline: float) -> None:
        """At shutdown: record what is left for the next start, then refresh what fits.

        Never raises for the database: the next start catches up from the record.
        """
        left = self._dirty.ranges()
        # One short statement: it may take a little of the next step's time, never more.
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(max(deadline, loop.time() + _RECORD_MIN_S)):
                await self._save_pending(left)
        except (StorageError, TimeoutError) as exc:
            logger.warning("cannot record the rollup ranges left to refresh: %s", exc)
        try:
            await self.refresh(deadline)
        except StorageError as exc:
            logger.warning("final rollup refresh failed: %s", exc)
        if len(self._dirty):
            logger.info("rollups: %d range(s) left to refresh at the next start", len(self._dirty))

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

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh rollups every ``interval_s`` and apply retention hourly, until ``stop``.

        A failing refresh never stops retention, and the reverse. Once ``stop`` is set the
        round in progress ends after the range it is refreshing (the rest stays to do,
        for :meth:`finish`) and the loop returns.
        """
        last_retention = -math.inf
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                await self.refresh(stop=stop)
            except StorageError as exc:
                logger.warning("rollup refresh failed; retrying: %s", exc)
            except Exception:
                logger.exception("rollup refresh failed; retrying")
            if not self._mode.timescale and loop.time() - last_retention >= _RETENTION_PERIOD_S:
                try:
                    await self.drop_expired()
                    last_retention = loop.time()
                except StorageError as exc:
                    logger.warning("retention failed; retrying: %s", exc)
                except Exception:
                    logger.exception("retention failed; retrying")
            await sleep_or_stop(stop, self._interval_s)

    def _keep(self, work: list[tuple[int, int]]) -> None:
        for lo, hi in work:
            self._dirty.add(lo, hi)

    async def _refresh_piece(self, lo: int, hi: int) -> int:
        """Recompute every rollup bucket overlapping ``[lo, hi)`` (minute-aligned)."""
        if self._mode.timescale:
            with map_storage_errors("cannot refresh continuous aggregates"):
                async with self._pool.acquire() as conn:
                    for name, width in _WIDTH_US.items():
                        start, end = _ts(_floor(lo, width)), _ts(_ceil(hi, width))
                        # No parameters: the simple-query protocol, one CALL per string.
                        await conn.execute(timescale.refresh_cagg(name, start, end))
            return 0
        five, hour = 5 * MINUTE_US, HOUR_US
        with map_storage_errors("cannot refresh rollups"):
            async with self._pool.acquire() as conn, conn.transaction():
                status = await conn.execute(rollups.REFRESH_1M, _ts(lo), _ts(hi))
                await conn.execute(rollups.REFRESH_5M, _ts(_floor(lo, five)), _ts(_ceil(hi, five)))
                await conn.execute(rollups.REFRESH_1H, _ts(_floor(lo, hour)), _ts(_ceil(hi, hour)))
        return int(status.rsplit(" ", 1)[-1])

    async def _load_pending(self) -> None:
        with map_storage_errors("cannot read the rollup ranges left to refresh"):
            rows = await self._pool.fetch(rollups.SELECT_PENDING)
        self._pending = [(r["lo"], r["hi"]) for r in rows]
        for lo, hi in self._pending:
            self._dirty.add((lo - _EPOCH) // _ONE_US, (hi - _EPOCH) // _ONE_US)
        self._pending_loaded = True
        if rows:
            logger.info("rollups: %d range(s) left by the last run to refresh", len(rows))

    async def _save_pending(self, ranges: list[tuple[int, int]]) -> None:
        if not ranges:
            return
        los, his = [_ts(lo) for lo, _ in ranges], [_ts(hi) for _, hi in ranges]
        with map_storage_errors("cannot record the rollup ranges left to refresh"):
            await self._pool.execute(rollups.INSERT_PENDING, los, his)
        self._pending.extend(zip(los, his, strict=True))

    async def _forget_pending(
        self, recorded: list[tuple[datetime, datetime]], deadline: float | None
    ) -> None:
        los, his = [lo for lo, _ in recorded], [hi for _, hi in recorded]
        try:
            async with asyncio.timeout_at(deadline):
                with map_storage_errors("cannot clear the rollup ranges left to refresh"):
                    await self._pool.execute(rollups.DELETE_PENDING, los, his)
        except (StorageError, TimeoutError) as exc:
            logger.warning("%s (they will be refreshed again)", exc)
            return
        done = set(recorded)
        self._pending = [p for p in self._pending if p not in done]

"""The scoring stage: every committed batch through the anomaly engine, events handed on.

Fed by the pipeline (``pipeline.add_sink(scoring.submit)``) through a bounded queue whose
``put`` is awaited: every committed batch is scored, and a slow engine slows ingest rather
than skipping readings. Listeners (alerts) get ``(batch, scores, events)`` after each batch
and ``(empty batch, empty scores, silence events)`` after each periodic silence sweep.

A database error that a retry can fix (the link is down) is retried with capped, jittered
backoff around the two statements that are safe to repeat, the warm-start read and the
event store, so an outage delays scoring instead of stopping the service.

Warm start: a series the engine has no window for (a restart, or another worker owned it)
gets its window filled from its most recent rows in the database before it is scored, so a
restart does not raise a burst of false alarms. After a restart with a backlog that is every
series at once (20,400 series: 5.2 M rows), so it goes ``engine.warm_start_chunk_series`` at
a time: rows read as binary columns (``store.fetch_columns``, no Python object per row) and
the engine primed in a worker thread. Before, the rows were decoded on the event loop and
the whole history primed there in one call (33 s, the loop stalled for 23 s), which starved
the MQTT connection until it dropped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
import numpy as np
import numpy.typing as npt

from controlcenter.anomaly import DETECTOR_NAMES, Engine, EngineConfig, Events
from controlcenter.anomaly.profile import MetricProfile, profile_from_knobs
from controlcenter.backoff import Backoff
from controlcenter.config import Settings
from controlcenter.domain import Batch, SensorKey, datetime_from_us
from controlcenter.kinds import STATE_ENGINE, Registry, packaged
from controlcenter.metrics import (
    ENGINE_BATCH_SECONDS,
    ENGINE_EVENTS,
    ENGINE_READINGS,
    ENGINE_SERIES,
    ENGINE_WARM_STARTS,
)
from controlcenter.store import Catalog, fetch_columns, map_storage_errors, retry_transient

__all__ = ["ScoredListener", "Scoring"]

logger = logging.getLogger(__name__)

#: Called with (batch, scores, events) after every scored batch and silence sweep.
ScoredListener = Callable[[Batch, npt.NDArray[np.float64], Events], Awaitable[None]]

_HISTORY = """
SELECT s.id, r.time, r.value
FROM unnest($1::int[], $2::timestamptz[]) AS s(id, before)
CROSS JOIN LATERAL (
    SELECT time, value FROM readings
    WHERE series_id = s.id AND time < s.before
    ORDER BY time DESC LIMIT $3
) r
"""

# Per (series, local day, slot of the day): what the daily baseline learns
# (anomaly/_daily.py); $5 is the complex's offset from UTC in microseconds.
_DAILY_HISTORY = """
SELECT s.id, d.day, d.slot, d.n, d.total, d.total_sq
FROM unnest($1::int[], $2::timestamptz[]) AS s(id, before)
CROSS JOIN LATERAL (
    SELECT r.us / 86400000000 AS day, (r.us % 86400000000) * $4::bigint / 86400000000 AS slot,
           count(*)::float8 AS n, sum(r.value) AS total, sum(r.value * r.value) AS total_sq
    FROM (
        SELECT (extract(epoch FROM time) * 1000000)::bigint + $5::bigint AS us, value
        FROM readings
        WHERE series_id = s.id AND time < s.before AND time >= s.before - $3::interval
    ) r
    GROUP BY 1, 2
) d
"""
_HISTORY_COLUMNS = (("series", "int4"), ("time", "timestamptz"), ("value", "float8"))
_DAILY_COLUMNS = (
    ("series", "int4"),
    ("day", "int8"),
    ("slot", "int8"),
    ("n", "float8"),
    ("total", "float8"),
    ("total_sq", "float8"),
)


class Scoring:
    """Runs the engine on committed batches; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        catalog: Catalog,
        registry: Registry | None = None,
    ) -> None:
        es = settings.engine
        self._settings = es
        self._retry = (es.retry_initial_s, es.retry_max_s)
        self._pool = pool
        self._catalog = catalog
        self.engine = Engine(
            EngineConfig(
                window=es.window,
                refresh=es.refresh,
                min_history=es.min_history,
                daily_slots=es.daily_slots,
                day_offset_s=settings.utc_offset_s(),
            ),
            profiles={**_FALLBACKS, **_profiles(registry or packaged())},
        )
        self._queue: asyncio.Queue[Batch] = asyncio.Queue(es.queue_max_batches)
        self._listeners: list[ScoredListener] = []
        self._profiles = set(self.engine.profile_names)
        self._types = registry or packaged()
        self._sensor_ids: dict[SensorKey, int] = {}
        self.scored = 0

    def use_kinds(self, registry: Registry) -> None:
        """Take the engine profiles of kinds and metrics added since (``KindBook`` listener);
        series of a metric the engine has not met yet get them from their first reading."""
        if self.engine.add_profiles(_profiles(registry)):
            self._profiles = set(self.engine.profile_names)
        self._types = registry

    def add_listener(self, listener: ScoredListener) -> None:
        """Call ``listener`` with every scored batch and silence sweep."""
        self._listeners.append(listener)

    async def submit(self, batch: Batch) -> None:
        """Queue a committed batch for scoring (waits while the queue is full)."""
        if len(batch):
            await self._queue.put(batch)

    async def run(self, stop: asyncio.Event) -> None:
        """Score queued batches and sweep for silent series every ``sweep_interval_s``
        until ``stop`` is set; then score what is queued and return."""
        async with asyncio.TaskGroup() as tg:
            worker = tg.create_task(self._work(), name="scoring worker")
            await stop.wait()
            await self._queue.join()
            worker.cancel()

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + self._settings.sweep_interval_s
        while True:
            try:
                async with asyncio.timeout(max(0.0, next_sweep - loop.time())):
                    batch = await self._queue.get()
            except TimeoutError:
                await self.sweep(time.time_ns() // 1000)
                next_sweep = loop.time() + self._settings.sweep_interval_s
                continue
            try:
                await self.score(batch)
            finally:
                self._queue.task_done()

    async def drained(self) -> None:
        """Return once every submitted batch has been scored."""
        await self._queue.join()

    async def score(self, batch: Batch) -> tuple[npt.NDArray[np.float64], Events]:
        """Score one batch now (registering and warm-starting its new series first)."""
        await self._retrying(lambda: self._prepare(np.unique(batch.series), before=batch))
        started = time.perf_counter()
        if len(batch) > self._settings.inline_max_readings:
            scores, events = await asyncio.to_thread(self.engine.ingest, batch)
        else:
            scores, events = self.engine.ingest(batch)
        ENGINE_BATCH_SECONDS.observe(time.perf_counter() - started)
        ENGINE_READINGS.inc(len(batch))
        self.scored += len(batch)
        await self._hand_on(batch, scores, events)
        return scores, events

    async def sweep(self, now_us: int) -> Events:
        """Report series that fell silent."""
        events = self.engine.sweep(now_us)
        if len(events):
            await self._hand_on(Batch.empty(), np.empty(0, np.float64), events)
        return events

    async def _hand_on(self, batch: Batch, scores: npt.NDArray[np.float64], events: Events) -> None:
        if len(events):
            names = np.asarray(DETECTOR_NAMES)[events.detector]
            for name, count in zip(*np.unique(names, return_counts=True), strict=True):
                ENGINE_EVENTS.labels(str(name)).inc(int(count))
            logger.debug("%d anomaly events", len(events))
            if self._settings.store_events:
                await self._retrying(lambda: self._store(events, names))
        for listener in self._listeners:
            await listener(batch, scores, events)

    async def _retrying(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` (safe to repeat) until it succeeds; only transient errors retry."""
        await retry_transient(step, Backoff(*self._retry), "scoring")

    async def _store(self, events: Events, names: npt.NDArray[np.str_]) -> None:
        times = [datetime_from_us(t) for t in events.time.tolist()]
        starts = [datetime_from_us(t) for t in events.start.tolist()]
        records = zip(
            times,
            events.series.tolist(),
            names.tolist(),
            events.value.tolist(),
            events.score.tolist(),
            starts,
            strict=True,
        )
        with map_storage_errors("cannot store anomaly events"):
            await self._pool.copy_records_to_table(
                "anomaly_events",
                records=list(records),
                columns=("time", "series_id", "detector", "value", "score", "started_at"),
            )

    async def _prepare(self, ids: npt.NDArray[np.int32], before: Batch) -> None:
        store = self.engine.store
        inside = ids < store.capacity
        new = ids[~inside | ~store.known[np.minimum(ids, store.capacity - 1)]]
        if len(new):
            self._register(new)
        unknown = self.engine.unknown(ids)
        if len(unknown):
            await self._warm_start(unknown, before)
        self._update_capacities(before)

    def _register(self, ids: npt.NDArray[np.int32]) -> None:
        # First sight of a series only: a Python loop over new series, never over readings.
        profiles = []
        sensors = []
        for sid in ids.tolist():
            key = self._catalog.key_of(sid)
            name = f"{key.sensor.kind}.{key.metric}" if key else "generic"
            if name not in self._profiles:
                # A metric without engine settings: states are never z-scored.
                vtype = self._types.value_type(key.sensor.kind, key.metric) if key else None
                name = f"generic.{vtype}" if vtype in ("state", "counter") else "generic"
            profiles.append(name)
            # The metrics of one sensor are watched together (the relation detector).
            sensors.append(
                self._sensor_ids.setdefault(key.sensor, len(self._sensor_ids)) if key else -1
            )
        self.engine.add_series(ids, profiles, sensor=np.asarray(sensors, dtype=np.int64))
        ENGINE_SERIES.set(int(self.engine.store.known.sum()))

    async def _warm_start(self, ids: npt.NDArray[np.int32], batch: Batch) -> None:
        # Each series' history ends before its first reading in this batch.
        first_time = _earliest(batch, ids, default=0)
        chunk = self._settings.warm_start_chunk_series
        for lo in range(0, len(ids), chunk):
            await self._warm_start_chunk(ids[lo : lo + chunk], first_time[lo : lo + chunk])

    async def _warm_start_chunk(
        self, ids: npt.NDArray[np.int32], first_time: npt.NDArray[np.int64]
    ) -> None:
        """Prime ``ids`` from the database: their windows, then their daily baselines."""
        engine = self.engine
        rows = await self._fetch(
            _HISTORY, ids, first_time, (engine.config.window,), _HISTORY_COLUMNS
        )
        history = Batch.from_lists(rows["series"], rows["time"], rows["value"])
        daily = None
        days = self._settings.daily_warm_start_days
        has = engine.store.daily_row[ids] >= 0
        if days > 0 and has.any():
            # The days before the window (which prime loads from ``history``).
            oldest = _earliest(history, ids[has], default=np.iinfo(np.int64).max)
            before = np.minimum(first_time[has], oldest)
            daily = await self._fetch(
                _DAILY_HISTORY,
                ids[has],
                before,
                (
                    timedelta(days=days),
                    engine.config.daily_slots,
                    engine.config.day_offset_s * 1_000_000,
                ),
                _DAILY_COLUMNS,
            )
        # Milliseconds to seconds of numpy per chunk: off the event loop, which meanwhile
        # keeps serving the MQTT link and the API. Nothing else touches the engine.
        await asyncio.to_thread(self._prime, ids, history, daily)
        if len(history):
            ENGINE_WARM_STARTS.inc(len(np.unique(history.series)))

    def _prime(
        self,
        ids: npt.NDArray[np.int32],
        history: Batch,
        daily: dict[str, npt.NDArray[np.generic]] | None,
    ) -> None:
        if daily is not None and len(daily["series"]):
            self.engine.prime_daily(*(daily[name] for name, _ in _DAILY_COLUMNS))
        if len(history):
            self.engine.prime(history.sorted_by_time())
        self.engine.mark_primed(ids)

    async def _fetch(
        self,
        sql: str,
        ids: npt.NDArray[np.int32],
        before_us: npt.NDArray[np.int64],
        args: tuple[object, ...],
        columns: tuple[tuple[str, str], ...],
    ) -> dict[str, npt.NDArray[np.generic]]:
        """Columns of ``sql($1 ids, $2 befores, *args)``."""
        befores = [datetime_from_us(t) for t in before_us.tolist()]
        return await fetch_columns(
            self._pool, sql, ids.tolist(), befores, *args, columns=columns, what="warm-start rows"
        )

    def _update_capacities(self, batch: Batch) -> None:
        # A car park's occupancy may not exceed its capacity: narrow the limit whenever a
        # capacity reading arrives (a mask finds them; the loop runs over those few only).
        # The catalog's columns pair each car park's capacity series with its occupied one.
        partner = self._catalog.columns.capacity_partner
        inside = batch.series[batch.series < len(partner)]
        hits = inside[partner[inside] >= 0]
        for sid in np.unique(hits).tolist():
            occupied = int(partner[sid])
            if occupied >= self.engine.store.capacity:
                continue
            last = batch.value[batch.series == sid][-1]
            if self.engine.store.known[occupied]:
                self.engine.set_limits([occupied], hi=[last])


#: Profiles of metrics the registry gives no engine settings, by value type.
_FALLBACKS: dict[str, MetricProfile] = {
    "generic.state": profile_from_knobs(STATE_ENGINE),
    "generic.counter": MetricProfile(
        monotonic=True, robust_z=math.inf, ewma_z=math.inf, daily_z=math.inf, relation=False
    ),
}


def _profiles(registry: Registry) -> dict[str, MetricProfile]:
    """The engine profile of every ``kind.metric`` of the registry."""
    return {name: profile_from_knobs(k) for name, k in registry.engine_knobs().items()}


def _earliest(batch: Batch, ids: npt.NDArray[np.int32], default: int) -> npt.NDArray[np.int64]:
    """``int64[len(ids)]``: each id's earliest time in ``batch`` (``default`` if absent)."""
    out = np.full(len(ids), default, dtype=np.int64)
    if len(batch) == 0 or len(ids) == 0:
        return out
    order = np.argsort(batch.series, kind="stable")
    uniq, start = np.unique(batch.series[order], return_index=True)
    earliest = np.minimum.reduceat(batch.time[order], start)
    at = np.minimum(np.searchsorted(uniq, ids), uniq.size - 1)
    found = uniq[at] == ids
    out[found] = earliest[at[found]]
    return out

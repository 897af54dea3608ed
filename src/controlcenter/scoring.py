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
a time: rows read as binary columns (``store/warmstart.py``, no Python object per row) and
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

import asyncpg
import numpy as np
import numpy.typing as npt

from controlcenter.anomaly import DETECTOR_NAMES, Engine, EngineConfig, Events
from controlcenter.anomaly.profile import MetricProfile, profile_from_knobs
from controlcenter.backoff import Backoff
from controlcenter.config import Settings
from controlcenter.domain import Batch, SensorKey
from controlcenter.kinds import STATE_ENGINE, Registry, packaged
from controlcenter.metrics import (
    ENGINE_BATCH_SECONDS,
    ENGINE_EVENTS,
    ENGINE_READINGS,
    ENGINE_SERIES,
    ENGINE_WARM_STARTS,
)
from controlcenter.stage import Inbox
from controlcenter.store import Catalog, retry_transient
from controlcenter.store.warmstart import (
    DAILY_COLUMNS,
    fetch_daily_history,
    fetch_history,
    insert_anomaly_events,
)

__all__ = ["ScoredListener", "Scoring"]

logger = logging.getLogger(__name__)

#: Called with (batch, scores, events) after every scored batch and silence sweep.
ScoredListener = Callable[[Batch, npt.NDArray[np.float64], Events], Awaitable[None]]


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
        self._queue: Inbox[Batch] = Inbox(es.queue_max_batches)
        self._listeners: list[ScoredListener] = []
        self._profiles = set(self.engine.profile_names)
        self._types = registry or packaged()
        self._sensor_ids: dict[SensorKey, int] = {}
        self.scored = 0
        self._newest_us: int | None = None  # the newest reading time scored

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
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + self._settings.sweep_interval_s
        while True:
            try:
                # The sweep's timer: waiting for the next batch is cut when a sweep is due.
                async with asyncio.timeout(max(0.0, next_sweep - loop.time())):
                    batch = await self._queue.next(stop)
            except TimeoutError:
                await self.sweep(time.time_ns() // 1000)
                next_sweep = loop.time() + self._settings.sweep_interval_s
                continue
            if batch is None:
                return  # stopped, and every batch handed to us is scored
            try:
                await self.score(batch)
            finally:
                self._queue.task_done()

    async def score(self, batch: Batch) -> tuple[npt.NDArray[np.float64], Events]:
        """Score one batch now (registering and warm-starting its new series first)."""
        await self._retrying(lambda: self._prepare(batch.series_ids(), before=batch))
        started = time.perf_counter()
        if len(batch) > self._settings.inline_max_readings:
            scores, events = await asyncio.to_thread(self.engine.ingest, batch)
        else:
            scores, events = self.engine.ingest(batch)
        ENGINE_BATCH_SECONDS.observe(time.perf_counter() - started)
        ENGINE_READINGS.inc(len(batch))
        self.scored += len(batch)
        newest = int(batch.time.max())
        self._newest_us = newest if self._newest_us is None else max(self._newest_us, newest)
        await self._hand_on(batch, scores, events)
        return scores, events

    async def sweep(self, now_us: int) -> Events:
        """Report series that fell silent, as of :meth:`silence_clock` at wall time ``now_us``."""
        events = self.engine.sweep(self.silence_clock(now_us))
        if len(events):
            await self._hand_on(Batch.empty(), np.empty(0, np.float64), events)
        return events

    def silence_clock(self, wall_us: int) -> int:
        """The time silence is judged at: the newest reading scored, but never more than
        ``silence_max_lag_s`` behind the wall clock (nor ahead of it).

        When readings arrive late (a loaded host, a broker's backlog replayed after an
        outage), every series would look silent against the wall clock and the control
        room would get an alert per sensor for a delay of its own pipeline; against the
        newest reading a series is silent only when the others went on without it. If
        nothing arrives at all, the wall clock takes over after the lag: silences are then
        reported that much later.
        """
        lag = int(self._settings.silence_max_lag_s * 1_000_000)
        if self._newest_us is None:
            return wall_us - lag
        return min(wall_us, max(self._newest_us, wall_us - lag))

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
        e = events
        await insert_anomaly_events(self._pool, e.time, e.series, names, e.value, e.score, e.start)

    async def _prepare(self, ids: npt.NDArray[np.int32], before: Batch) -> None:
        new = ids[~self.engine.registered(ids)]
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
        ENGINE_SERIES.set(self.engine.series_count)

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
        rows = await fetch_history(self._pool, ids, first_time, engine.config.window)
        history = Batch.from_lists(rows["series"], rows["time"], rows["value"])
        daily = None
        days = self._settings.daily_warm_start_days
        has = engine.has_daily(ids)
        if days > 0 and has.any():
            # The days before the window (which prime loads from ``history``).
            oldest = _earliest(history, ids[has], default=np.iinfo(np.int64).max)
            before = np.minimum(first_time[has], oldest)
            daily = await fetch_daily_history(
                self._pool,
                ids[has],
                before,
                days=days,
                slots=engine.config.daily_slots,
                offset_us=engine.config.day_offset_s * 1_000_000,
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
            self.engine.prime_daily(*(daily[name] for name, _ in DAILY_COLUMNS))
        if len(history):
            self.engine.prime(history.sorted_by_time())
        self.engine.mark_primed(ids)

    def _update_capacities(self, batch: Batch) -> None:
        # A car park's occupancy may not exceed its capacity: narrow the limit whenever a
        # capacity reading arrives (a mask finds them; the loop runs over those few only).
        # The catalog's columns pair each car park's capacity series with its occupied one.
        partner = self._catalog.columns.capacity_partner
        inside = batch.series[batch.series < len(partner)]
        hits = inside[partner[inside] >= 0]
        for sid in np.unique(hits).tolist():
            occupied = int(partner[sid])
            if self.engine.registered([occupied])[0]:
                last = batch.value[batch.series == sid][-1]
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
    if batch.by_series:  # a committed batch is sorted already (by the writer)
        series, times = batch.series, batch.time
    else:
        order = np.argsort(batch.series, kind="stable")
        series, times = batch.series[order], batch.time[order]
    start = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])  # sorted: no np.unique
    uniq = series[start]
    earliest = np.minimum.reduceat(times, start)
    at = np.minimum(np.searchsorted(uniq, ids), uniq.size - 1)
    found = uniq[at] == ids
    out[found] = earliest[at[found]]
    return out

"""The anomaly engine: every detector, vectorised over a batch of readings across series.

Semantics (the one-reading-at-a-time specification is :class:`~.reference.ReferenceEngine`;
tests check that both agree for any batch split and interleaving):

- Readings are taken per series in time order (a batch is sorted by (series, time) stably).
- A reading is *accepted* when it is finite, inside the series' static limits, and newer than
  the series' last accepted reading. Only accepted readings enter windows and statistics;
  the others are scored by the limit detector alone (impossible values fire, late or
  duplicate readings score 0).
- A reading's score depends only on readings up to it. Robust statistics (median, MAD, usual
  interval) are refreshed before the readings whose lifetime number ``n > 0`` satisfies
  ``(n + series % refresh) % refresh == 0``, from the ``window`` readings before them, so
  results do not depend on how readings were split into batches; the CUSUM restarts there.
- Score = ``x**2 / (1 + x**2)`` of the largest detector severity ``x`` (1 = threshold); an
  event is emitted for every detector whose severity reaches 1.

Cost: O(n log L) numpy work for ``n`` readings whose longest per-series run in the batch
is ``L``, plus ``O(W)`` per robust refresh (``n / refresh`` of them), no Python loop over
readings or series.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly._batch import prepare
from controlcenter.anomaly._config import EngineConfig
from controlcenter.anomaly._daily import CLASSES, DailyUpdate, Visits, run_visits, weekend
from controlcenter.anomaly._detect import detect
from controlcenter.anomaly._relation_store import MAX_SLOTS, RelationStore
from controlcenter.anomaly._results import batch_events, write_back
from controlcenter.anomaly.events import Detector, Events, severity_to_score
from controlcenter.anomaly.profile import (
    COLUMNS,
    DEFAULT_PROFILES,
    GENERIC,
    MetricProfile,
    profile_table,
)
from controlcenter.anomaly.window import WindowStore
from controlcenter.domain import Batch

__all__ = ["Engine", "EngineConfig"]

logger = logging.getLogger(__name__)

_COL = {name: i for i, name in enumerate(COLUMNS)}


class Engine:
    """Scores readings of many series at once and keeps their windows.

    River-like API: :meth:`score` (no state change), :meth:`update` (learn, returns self),
    :meth:`ingest` (both in one pass, plus events), :meth:`state` (snapshot).

    Args:
        config: engine-wide settings.
        profiles: detector settings keyed ``"kind.metric"`` (default :data:`DEFAULT_PROFILES`);
            :data:`GENERIC` is always available as ``"generic"``.

    >>> from controlcenter.domain import Batch
    >>> eng = Engine(EngineConfig(window=16, refresh=8, min_history=8))
    >>> eng.add_series([0], "air.temp")
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(40) * 1_000_000
    >>> v = 20 + 0.1 * rng.standard_normal(40)
    >>> v[30] = 200.0  # impossible for an air temperature
    >>> scores, events = eng.ingest(Batch.from_lists(np.zeros(40), t, v))
    >>> scores.shape, bool(scores[30] > 0.98), events.names().tolist()
    ((40,), True, ['limit'])
    """

    def __init__(
        self,
        config: EngineConfig | None = None,
        profiles: Mapping[str, MetricProfile] | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        if self.config.refresh < 1 or self.config.min_history < 2:
            raise ValueError("refresh must be >= 1 and min_history >= 2")
        named = dict(DEFAULT_PROFILES if profiles is None else profiles)
        named.setdefault("generic", GENERIC)
        self.profile_names: tuple[str, ...] = tuple(named)
        self.profiles: tuple[MetricProfile, ...] = tuple(named.values())
        self._profile_index = {name: i for i, name in enumerate(self.profile_names)}
        self.table = profile_table(list(named.values()), self.config.season_after_s)
        keys = CLASSES * self.config.daily_slots
        self.store = WindowStore(self.config.window, self.config.capacity, keys)
        self.relations = RelationStore()

    def add_profiles(self, profiles: Mapping[str, MetricProfile]) -> int:
        """Add named profiles the engine does not know yet (a sensor kind added at run
        time); known names keep their row, so registered series keep their settings.
        Returns how many were added.

        >>> eng = Engine()
        >>> eng.add_profiles({"gas.lel": MetricProfile(lo=0.0), "air.pm10": GENERIC})
        1
        """
        new = {n: p for n, p in profiles.items() if n not in self._profile_index}
        if not new:
            return 0
        for name in new:
            self._profile_index[name] = len(self._profile_index)
        self.profile_names += tuple(new)
        self.profiles += tuple(new.values())
        added = profile_table(list(new.values()), self.config.season_after_s)
        self.table = np.concatenate([self.table, added])
        return len(new)

    # -- series ---------------------------------------------------------------------------

    def add_series(
        self,
        series: npt.ArrayLike,
        profile: str | npt.ArrayLike = "generic",
        *,
        lo: npt.ArrayLike | None = None,
        hi: npt.ArrayLike | None = None,
        sensor: npt.ArrayLike | None = None,
    ) -> None:
        """Register series ids with a profile name (one, or one per id) and optional limits.

        ``lo``/``hi`` narrow the profile's static limits per series, e.g. ``hi=capacity``
        for parking occupancy. ``sensor`` (one id per series, ``>= 0``) groups the metrics
        of one device for the relation detector. Re-adding a known series changes its
        profile, limits and sensor only.
        """
        ids = np.asarray(series, dtype=np.int32).reshape(-1)
        if ids.size == 0:
            return
        if ids.min() < 0:
            raise ValueError("series ids must be >= 0")
        if isinstance(profile, str):
            prof = np.full(ids.size, self._profile_index[profile], dtype=np.int16)
        else:
            names = np.asarray(profile, dtype=np.str_).reshape(-1)
            prof = np.array([self._profile_index[str(p)] for p in names], dtype=np.int16)
        st = self.store
        st.ensure(int(ids.max()))
        st.known[ids] = True
        st.profile[ids] = prof
        plo = self.table[prof, _COL["lo"]]
        phi = self.table[prof, _COL["hi"]]
        st.lo[ids] = plo if lo is None else np.maximum(plo, np.asarray(lo, dtype=np.float64))
        st.hi[ids] = phi if hi is None else np.minimum(phi, np.asarray(hi, dtype=np.float64))
        st.add_daily(ids[self.table[prof, _COL["inv_daily_z"]] > 0])
        if sensor is not None:
            sens = np.broadcast_to(np.asarray(sensor, dtype=np.int64), ids.shape)
            st.sensor[ids] = sens
            joins = self.table[prof, _COL["relation"]] > 0
            self._join_sensors(ids[joins], sens[joins])

    def _join_sensors(self, ids: npt.NDArray[np.int32], sensors: npt.NDArray[np.int64]) -> None:
        """Give series a slot in their sensor's relation vector (a new member resets what
        the detector learnt of that sensor: the vector changed)."""
        st, rs = self.store, self.relations
        changed = []
        for sid, sensor in zip(ids.tolist(), sensors.tolist(), strict=True):
            if sensor < 0:
                continue
            row = rs.row_of(int(sensor))
            if st.rel_row[sid] == row:
                continue
            if int(rs.d[row]) >= MAX_SLOTS:
                continue  # the detector watches the first MAX_SLOTS metrics of a sensor
            slot = int(rs.d[row])
            rs.slot_series[row, slot] = sid
            rs.d[row] = slot + 1
            rs.widen(slot + 1)
            st.rel_row[sid], st.rel_slot[sid] = row, slot
            changed.append(row)
        if changed:
            rs.reset(np.unique(np.asarray(changed, dtype=np.intp)))

    def set_limits(self, series: npt.ArrayLike, *, hi: npt.ArrayLike) -> None:
        """Change the upper limit of known series (e.g. a car park's new capacity)."""
        ids = np.asarray(series, dtype=np.int32).reshape(-1)
        phi = self.table[self.store.profile[ids], _COL["hi"]]
        self.store.hi[ids] = np.minimum(phi, np.asarray(hi, dtype=np.float64))

    def registered(self, series: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """``bool[n]``: which of ``series`` were added (:meth:`add_series`)."""
        ids = np.asarray(series, dtype=np.int64).reshape(-1)
        inside = (ids >= 0) & (ids < self.store.capacity)
        out = np.zeros(ids.size, dtype=np.bool_)
        out[inside] = self.store.known[ids[inside]]
        return out

    def has_daily(self, series: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """``bool[n]``: which of ``series`` (registered ones) keep a daily baseline."""
        ids = np.asarray(series, dtype=np.int64).reshape(-1)
        out: npt.NDArray[np.bool_] = self.store.daily_row[ids] >= 0
        return out

    @property
    def series_count(self) -> int:
        """How many series were added."""
        return int(self.store.known.sum())

    def unknown(self, series: npt.ArrayLike) -> npt.NDArray[np.int32]:
        """``int32[k]`` sorted unique ids among ``series`` that have no window yet.

        These need :meth:`prime` with their most recent history (or an empty batch when the
        database has none) before their readings are scored.
        """
        ids = np.unique(np.asarray(series, dtype=np.int32))
        st = self.store
        inside = ids < st.capacity
        have = np.zeros(ids.size, dtype=np.bool_)
        have[inside] = st.primed[ids[inside]] | (st.count[ids[inside]] > 0)
        out: npt.NDArray[np.int32] = ids[~have]
        return out

    def forget(self, series: npt.ArrayLike) -> None:
        """Drop the windows of ``series`` (another worker took them over)."""
        ids = np.asarray(series, dtype=np.int32).reshape(-1)
        self.store.reset(ids[ids < self.store.capacity])

    # -- river trio ------------------------------------------------------------------------

    def ingest(self, batch: Batch) -> tuple[npt.NDArray[np.float64], Events]:
        """Score ``batch`` online, learn it, and return ``(scores, events)``.

        Returns:
            ``float64[n]`` scores in [0, 1] in the batch's order, and the :class:`Events`
            of every detector that fired (sorted by time, series, detector).
        """
        scores, events = self._run(batch, commit=True, emit=True)
        return scores, events

    def score(self, batch: Batch) -> npt.NDArray[np.float64]:
        """``float64[n]`` online scores of ``batch`` without changing any state."""
        return self._run(batch, commit=False, emit=False)[0]

    def update(self, batch: Batch) -> Engine:
        """Learn ``batch`` (windows and statistics) without producing events."""
        self._run(batch, commit=True, emit=False)
        return self

    def prime(self, history: Batch) -> Engine:
        """Load history into windows without events; marks every series in it as primed.

        Pass the most recent ``W`` (or more) readings of series that :meth:`unknown`
        reported, all older than the readings about to be scored.
        """
        self._run(history, commit=True, emit=False)
        self.mark_primed(history.series)
        return self

    def prime_daily(
        self,
        series: npt.ArrayLike,
        day: npt.ArrayLike,
        slot: npt.ArrayLike,
        n: npt.ArrayLike,
        total: npt.ArrayLike,
        total_sq: npt.ArrayLike,
    ) -> Engine:
        """Load the daily baseline from aggregates: per (series, local day, slot of the day)
        the count, sum and sum of squares of its readings (days and slots shifted by
        ``day_offset_s``). Call before :meth:`prime`, with aggregates of readings older than
        the history given there; ignores series without a baseline.
        """
        st, k = self.store, self.config.daily_slots
        ids = np.asarray(series, dtype=np.int32).reshape(-1)
        if ids.size == 0 or st.daily_used == 0:
            return self
        inside = ids < st.capacity
        rows = np.full(ids.size, -1, dtype=np.int64)
        rows[inside] = st.daily_row[ids[inside]]
        sl = np.asarray(slot, dtype=np.int64).reshape(-1)
        ok = (rows >= 0) & (sl >= 0) & (sl < k)
        dd = np.asarray(day, dtype=np.int64).reshape(-1)[ok]
        key = (rows[ok] * (CLASSES * k) + sl[ok] + weekend(dd) * k).astype(np.intp)
        o = np.lexsort((dd, key))
        f64 = np.float64
        visits = Visits(
            key[o],
            dd[o].astype(f64),
            np.asarray(n, dtype=f64).reshape(-1)[ok][o],
            np.asarray(total, dtype=f64).reshape(-1)[ok][o],
            np.asarray(total_sq, dtype=f64).reshape(-1)[ok][o],
        )
        if visits.key.size:
            self._write_daily(run_visits(visits, st.daily_state(), self.config.daily_weight)[3])
        return self

    def mark_primed(self, series: npt.ArrayLike) -> None:
        """Record that ``series`` need no history (the database had none)."""
        ids = np.asarray(series, dtype=np.int32).reshape(-1)
        if ids.size:
            self.store.ensure(int(ids.max()))
            self.store.primed[ids] = True

    def state(self) -> dict[str, npt.NDArray[np.generic]]:
        """A snapshot (copies) of every per-series array, trimmed to the highest id in use."""
        st = self.store
        used = np.flatnonzero(st.known | (st.count > 0))
        top = int(used.max()) + 1 if used.size else 0
        snap: dict[str, npt.NDArray[np.generic]] = {
            "values": st.values[:top].copy(),
            "times": st.times[:top].copy(),
        }
        for name in WindowStore.COLUMNS:
            snap[name] = getattr(st, name)[:top].copy()
        mean, std = st.window_mean_std(np.arange(top, dtype=np.int32))
        snap["window_mean"], snap["window_std"] = mean, std
        return snap

    def memory(self) -> dict[str, int]:
        """Bytes per series slot, slots allocated, and total bytes of state."""
        st = self.store
        return {
            "bytes_per_series": st.bytes_per_series(),
            "capacity": st.capacity,
            "bytes_per_daily_series": st.bytes_per_daily_series(),
            "daily_series": st.daily_used,
            "bytes_per_sensor": self.relations.bytes_per_sensor(),
            "sensors": len(self.relations.rows),
            "total_bytes": st.nbytes() + self.relations.nbytes(),
        }

    # -- silence ---------------------------------------------------------------------------

    def sweep(self, now_us: int) -> Events:
        """Silence events for series quiet for longer than their profile allows.

        A series is silent when ``now_us - last_time > max(silence_factor * usual interval,
        min_silence_s)``; each silence is reported once, until the series speaks again.
        The usual interval is the median gap of the window at the last robust refresh (before
        the first refresh, the mean gap of the ring; a series with one reading is never
        silent). O(S) numpy; run it
        periodically (e.g. every ``min_silence_s / 4``), not per reading.
        """
        st = self.store
        tab = self.table[st.profile]
        factor = tab[:, _COL["silence_factor"]]
        interval = st.interval_us
        young = np.isnan(interval)
        if young.any():
            # Before the first refresh: the mean gap of the readings in the ring.
            idx = np.flatnonzero(young)
            c = st.count[idx]
            held = np.minimum(c, st.window)
            oldest = st.times[idx, np.where(c >= st.window, c % st.window, 0)]
            interval = interval.copy()
            with np.errstate(invalid="ignore", divide="ignore"):
                gap = (st.last_time[idx] - oldest) / (held - 1)
            interval[idx] = np.where(held >= 2, gap, np.nan)
        with np.errstate(invalid="ignore"):
            limit = np.maximum(factor * interval, tab[:, _COL["min_silence_us"]])
            gap = (now_us - st.last_time).astype(np.float64)
            fire = (st.count > 0) & ~st.silent & (gap > limit) & np.isfinite(limit)
        ids = np.flatnonzero(fire).astype(np.int32)
        st.silent[ids] = True
        sev = gap[ids] / limit[ids]
        return Events(
            ids,
            np.full(ids.size, now_us, dtype=np.int64),
            np.full(ids.size, Detector.SILENCE, dtype=np.uint8),
            st.last_value[ids],
            severity_to_score(sev),
            st.last_time[ids],
        )

    # -- the vectorised path ---------------------------------------------------------------

    def _run(
        self, batch: Batch, *, commit: bool, emit: bool
    ) -> tuple[npt.NDArray[np.float64], Events]:
        n = len(batch)
        scores = np.zeros(n, dtype=np.float64)
        if n == 0:
            return scores, Events.empty()
        self._register_new(batch.series)
        prep = prepare(batch, self.store)
        sev = detect(prep, self.store, self.table, self.config, self.relations, commit=commit)
        # The score of each reading is that of its worst detector.
        scores[prep.order] = severity_to_score(sev.worst(prep))
        if commit:
            write_back(self.store, prep, sev)
        events = batch_events(prep, sev) if emit else Events.empty()
        return scores, events

    def _register_new(self, series: npt.NDArray[np.int32]) -> None:
        st = self.store
        top = int(series.max())
        if series.min() < 0:
            raise ValueError("series ids must be >= 0")
        st.ensure(top)
        known = st.known[series]
        if not known.all():
            new = np.unique(series[~known])
            logger.debug("auto-registering %d series with the generic profile", new.size)
            self.add_series(new, "generic")

    def _write_daily(self, d: DailyUpdate) -> None:
        self.store.write_daily(d.key, d.values)

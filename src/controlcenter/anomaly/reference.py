"""The engine's specification, one reading at a time in plain Python.

:class:`ReferenceEngine` computes exactly what :class:`~.engine.Engine` computes, with no
vectorisation: a loop over readings in time order, a ``deque`` window per series and scalar
statistics. Tests check the engine against it for random batch splits and interleavings;
the benchmark uses it as the naive per-reading baseline. Too slow for production.

>>> from controlcenter.domain import Batch
>>> ref = ReferenceEngine()
>>> ref.add_series([0], "air.temp")
>>> scores, events = ref.ingest(Batch.from_lists([0, 0], [0, 1_000_000], [20.0, 120.0]))
>>> [round(s, 3) for s in scores.tolist()], events.names().tolist()
([0.0, 0.99], ['limit'])
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly._config import EngineConfig
from controlcenter.anomaly._daily import US_PER_DAY
from controlcenter.anomaly._detect import (
    NAME_TIE,
    RANGE_FLOOR_SIGMAS,
    ROUNDING,
    SEVERITY_CAP,
    STATISTICAL,
    TINY,
)
from controlcenter.anomaly._reference_daily import (
    daily_step,
    is_weekend,
    seasonal,
    weekend_days,
)
from controlcenter.anomaly._reference_state import (
    SCALARS,
    SeriesRef,
    finished_run,
    learnt_run,
    median,
)
from controlcenter.anomaly._reference_steps import SensorRef, fold, judge, relation_step
from controlcenter.anomaly._relation_store import MAX_SLOTS, SCALAR_COLUMNS
from controlcenter.anomaly._robust import (
    EDGE,
    GROUPED_STEPS,
    MAD_TO_SIGMA,
    MEAN_AD_TO_SIGMA,
    SECOND_TO_STEP,
)
from controlcenter.anomaly.engine import Engine
from controlcenter.anomaly.events import Detector, Events
from controlcenter.anomaly.profile import (
    COLUMNS,
    DEFAULT_PROFILES,
    GENERIC,
    LIMIT_SEVERITY,
    MetricProfile,
    profile_row,
)
from controlcenter.domain import Batch

__all__ = ["ReferenceEngine"]


class ReferenceEngine:
    """One-reading-at-a-time twin of :class:`~.engine.Engine` (same constructor and API).

    >>> ref = ReferenceEngine()
    >>> ref.add_series([0, 1], "power.kw")
    >>> sorted(ref.series)
    [0, 1]
    """

    def __init__(
        self,
        config: EngineConfig | None = None,
        profiles: Mapping[str, MetricProfile] | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        named = dict(DEFAULT_PROFILES if profiles is None else profiles)
        named.setdefault("generic", GENERIC)
        after = self.config.season_after_s
        self.rows = {
            k: dict(zip(COLUMNS, profile_row(p, after), strict=True)) for k, p in named.items()
        }
        self.series: dict[int, SeriesRef] = {}
        self.sensors: dict[int, SensorRef] = {}  # sensor id -> relation state, rows in order

    @classmethod
    def from_engine(cls, engine: Engine, series: npt.ArrayLike | None = None) -> ReferenceEngine:
        """A reference whose series (all, or ``series``) start in ``engine``'s exact state."""
        ref = cls(engine.config, dict(zip(engine.profile_names, engine.profiles, strict=True)))
        st = engine.store
        w = st.window
        ids = np.flatnonzero(st.known | (st.count > 0))
        if series is not None:
            ids = np.intersect1d(ids, np.asarray(series))
        for sid in ids.tolist():
            n = int(st.count[sid])
            lifetimes = range(max(0, n - w), n)
            s = SeriesRef(
                ref.rows[engine.profile_names[int(st.profile[sid])]],
                float(st.lo[sid]),
                float(st.hi[sid]),
                deque((float(st.values[sid, q % w]) for q in lifetimes), maxlen=w),
                deque((int(st.times[sid, q % w]) for q in lifetimes), maxlen=w),
            )
            for name in SCALARS:
                setattr(s, name, getattr(st, name)[sid].item())
            s.cusum = [float(st.cusum_pos[sid]), float(st.cusum_neg[sid])]
            s.phase = sid % engine.config.refresh
            row = int(st.daily_row[sid])
            if row >= 0:
                s.daily = {k: st.daily[row, k].tolist() for k in range(st.daily_slots)}
            ref.series[sid] = s
        ref._copy_sensors(engine)
        return ref

    def _copy_sensors(self, engine: Engine) -> None:
        """Take over the relation detector's state (sensors and their members)."""
        rs = engine.relations
        for sen_id, row in sorted(rs.rows.items(), key=lambda kv: kv[1]):
            sen = SensorRef(row)
            sen.slots = [int(x) for x in rs.slot_series[row, : int(rs.d[row])]]
            for name in SCALAR_COLUMNS.keys() - {"d"}:  # (d: the slots above)
                setattr(sen, name, getattr(rs, name)[row].item())
            for name in ("pend_r", "pend_x", "z", "mean", "cov", "inv"):
                arr = getattr(rs, name)[row]  # rs.width wide: pad to MAX_SLOTS
                full = np.zeros((MAX_SLOTS,) * arr.ndim)
                full[tuple(slice(0, n) for n in arr.shape)] = arr
                setattr(sen, name, full)
            self.sensors[sen_id] = sen
            for slot, sid in enumerate(sen.slots):
                if sid in self.series:
                    self.series[sid].sensor, self.series[sid].slot = sen_id, slot

    def add_series(
        self,
        series: npt.ArrayLike,
        profile: str | npt.ArrayLike = "generic",
        *,
        lo: npt.ArrayLike | None = None,
        hi: npt.ArrayLike | None = None,
        sensor: npt.ArrayLike | None = None,
    ) -> None:
        """Register series with a profile name, optional per-series limits and sensor."""
        ids = np.asarray(series, dtype=np.int64).reshape(-1).tolist()
        profs = [profile] * len(ids) if isinstance(profile, str) else list(profile)  # type: ignore[arg-type]
        los = np.broadcast_to(np.asarray(-np.inf if lo is None else lo), len(ids)).tolist()
        his = np.broadcast_to(np.asarray(np.inf if hi is None else hi), len(ids)).tolist()
        w = self.config.window
        for sid, pname, l_, h_ in zip(ids, profs, los, his, strict=True):
            par = self.rows[str(pname)]
            lo_s, hi_s = max(par["lo"], l_), min(par["hi"], h_)
            if sid in self.series:
                self.series[sid].par, self.series[sid].lo, self.series[sid].hi = par, lo_s, hi_s
            else:
                self.series[sid] = SeriesRef(par, lo_s, hi_s, deque(maxlen=w), deque(maxlen=w))
                self.series[sid].phase = sid % self.config.refresh
            if par["inv_daily_z"] > 0 and self.config.daily_slots > 0:
                st = self.series[sid]
                st.daily = {} if st.daily is None else st.daily
        if sensor is not None:
            sens = np.broadcast_to(np.asarray(sensor, dtype=np.int64), (len(ids),)).tolist()
            for sid, sen_id in zip(ids, sens, strict=True):
                st = self.series[sid]
                st_sensor = st.sensor
                if sen_id < 0 or st.par["relation"] <= 0 or st_sensor == sen_id:
                    continue
                sen = self.sensors.setdefault(sen_id, SensorRef(len(self.sensors)))
                if len(sen.slots) >= MAX_SLOTS:
                    continue
                st.sensor, st.slot = sen_id, len(sen.slots)
                sen.slots.append(sid)
                sen.reset()

    def ingest(self, batch: Batch) -> tuple[npt.NDArray[np.float64], Events]:
        """Score and learn ``batch`` reading by reading, in time order."""
        order = np.argsort(batch.time, kind="stable")
        scores = np.zeros(len(batch), dtype=np.float64)
        rows: list[tuple[int, int, int, float, float, int]] = []
        members: dict[tuple[int, int], list[int]] = {}
        for i in order.tolist():
            sid, t, x = int(batch.series[i]), int(batch.time[i]), float(batch.value[i])
            if sid not in self.series:
                self.add_series([sid], "generic")
            st = self.series[sid]
            st.last_r = (False, 0.0)
            worst = 0.0
            for det, sev, start in self._one(st, t, x):
                worst = max(worst, sev)
                if det is not None and sev >= 1.0:
                    rows.append((sid, t, int(det), x, sev * sev / (1.0 + sev * sev), start))
            scores[i] = worst * worst / (1.0 + worst * worst)
            if st.sensor >= 0 and st.last_r[0]:
                sen = self.sensors[st.sensor]
                members.setdefault((sen.row, t), []).append(i)
                # Unsure: a first day's slot, or a series with a daily pattern.
                reading = (st.last_r[1], x, st.last_e, st.last_u or st.seasonal)
                done = relation_step(sen, self.config, t, st.slot, reading)
                if done is not None:
                    sev, top, event = done
                    for j in members[(sen.row, t)]:  # the top metric's reading, if here
                        if int(batch.series[j]) == sen.slots[top]:
                            scores[j] = max(scores[j], sev * sev / (1.0 + sev * sev))
                    if event:
                        score = sev * sev / (1.0 + sev * sev)
                        who = sen.slots[top]
                        rows.append(
                            (who, t, int(Detector.RELATION), float(sen.pend_x[top]), score,
                             sen.ep_start)
                        )  # fmt: skip
        rows.sort(key=lambda r: (r[1], r[0], r[2]))
        return scores, Events.from_lists(*zip(*rows, strict=True)) if rows else Events.empty()

    def _refresh(self, st: SeriesRef, t: int) -> None:
        vals = list(st.values)
        c = len(vals)
        med = median(vals)
        dev = [abs(v - med) for v in vals]
        srt = sorted(vals)
        steps = [b - a for a, b in itertools.pairwise(srt) if b > a]
        st.resolution = min(steps) if steps else 0.0
        mad = _grouped_mad(dev, median(dev), st.resolution)
        rel = st.par["min_rel_std"] * med
        sd = MAD_TO_SIGMA * mad if mad > 0 else MEAN_AD_TO_SIGMA * (sum(dev) / c)
        st.median = med
        st.wmin, st.wmax = srt[0], srt[-1]
        if st.par["inv_stuck_learn"] > 0:  # the learnt stuck's runs (generic profile)
            st.runmax = learnt_run(finished_run(vals, c == self.config.window), st.runmax)
        st.sigma = math.sqrt(
            sd * sd + st.resolution**2 / 12.0 + st.par["min_std2"] + rel * rel + TINY
        )
        st.robust_ok = c >= self.config.min_history
        times = list(st.times)
        gaps = [float(b - a) for a, b in itertools.pairwise(times)]
        st.interval_us = median(gaps) if gaps else math.nan
        # The noise as a step: nonzero second differences (the engine's ``_median_step``).
        steps = [b - a for a, b in itertools.pairwise(vals)]
        second = [abs(d - c) / SECOND_TO_STEP for c, d in itertools.pairwise(steps)]
        second = [s for s in second if s != 0.0]
        st.step = median(second) if second else 0.0
        st.seasonal = seasonal(st.daily, self.config, t)

    def _statistical(
        self, st: SeriesRef, t: int, n: int, parts: list[float], least: float
    ) -> tuple[float, bool]:
        """Calibrated, episode-judged severity of the statistical evidence ``parts``
        (at least ``least``: the robust z of a value beyond the window's range)."""
        valid = n >= self.config.min_history
        e = min(max(parts), SEVERITY_CAP)
        long = st.par["long_tail"] > 0
        return judge(st, self.config, t, e, valid, st.par["inv_cal_z"], least=least, long=long)

    def _one(self, st: SeriesRef, t: int, x: float) -> list[tuple[Detector | None, float, int]]:
        """Severities of one reading: ``(detector or None, severity, episode start)``."""
        p, cfg = st.par, self.config
        if not (st.lo <= x <= st.hi and math.isfinite(x)):
            return [(Detector.LIMIT, LIMIT_SEVERITY, t)]
        if t <= st.last_time:
            return []
        n = st.count
        refresh_now = n > 0 and (n + st.phase) % cfg.refresh == 0
        if refresh_now:
            self._refresh(st, t)
            fold(st, cfg)
        has_prev = n > 0
        out: list[tuple[Detector | None, float, int]] = []
        # rate of change
        rate = 0.0
        if has_prev:
            dts = min(max((t - st.last_time) / 1e6, p["rate_min_dt_s"]), p["rate_max_dt_s"])
            dv = x - st.last_value
            rate = abs(dv) * p["inv_rate"] / dts
            if p["monotonic"] > 0 and dv < 0:
                rate = max(rate, LIMIT_SEVERITY)
        out.append((Detector.RATE, rate, t))
        # EWMA z; robust z of the deviation from the EWMA mean (or the median); CUSUM on it
        # learns the time of day in any case
        factor, level, unsure, spread = daily_step(st.daily, p, cfg, t, x)
        factor = factor if st.seasonal else 1.0
        level = level if st.seasonal else math.nan
        sev_ewma, dev, raw, ewma_raw, ref_dev, spread_e = self._ewma(st, x, n, level)
        robust_ok = st.robust_ok and n >= cfg.min_history
        zdev = dev / st.sigma
        st.last_r = (robust_ok, raw / st.sigma)  # the relation sees the time of day
        z = (x - st.median) / st.sigma if p["robust_median"] > 0 else zdev
        robust = abs(z) * p["inv_robust_z"] * factor if robust_ok else 0.0
        if st.seasonal and not unsure and spread > st.sigma:
            robust = robust * (st.sigma / spread)  # in the slot's spread where wider
        unit = min(st.sigma, max(MAD_TO_SIGMA * st.step, st.resolution))  # (the noise)
        if robust_ok and factor == 0.0 and spread > cfg.wide_slot * unit:
            sev_ewma = 0.0  # a wide slot: the change within it is the time of day's
        st.last_u = unsure and n * st.interval_us >= cfg.unsure_after_s * 1e6
        if st.last_u:
            # No earlier day of its kind: only a clearer one, and no more than the
            # deviation in the EWMA's spread (which a ramp widens) shows.
            robust = min(robust / cfg.unsure_scale, abs(dev) / spread_e * p["inv_robust_z"])
            if p["unsure_ewma"] > 0:
                sev_ewma /= cfg.unsure_scale  # a load's surge: a clearer EWMA z too
        life_us = n * st.interval_us
        aged = life_us >= p["season_after_us"]
        local = t + cfg.day_offset_s * 1_000_000
        day = local // US_PER_DAY
        continues = is_weekend(day) == is_weekend(day - 1)  # not a Monday or a Saturday
        if continues and is_weekend(day):  # a Sunday: once the weekend has seen two days
            begun = (local - life_us) / US_PER_DAY
            continues = (
                not math.isnan(begun) and weekend_days(day) - weekend_days(math.floor(begun)) >= 2
            )
        judged = robust_ok and aged and continues and not unsure and not math.isnan(level)
        if judged and p["inv_season_z"] > 0:
            # Far from its slot's profile (of its own day class): robust z evidence too.
            rel = p["min_rel_std"] * level
            floor2 = p["min_std2"] + st.resolution**2 / 12.0  # with the quantisation
            var = max(spread * spread, self._noise2(st))  # at least the noise
            off = abs(x - level) / math.sqrt(var + floor2 + rel * rel + 1e-24)
            robust = max(robust, off * p["inv_season_z"])
        # What the metric shows before the daily baseline explains it (relation's gate).
        z_raw = z if p["robust_median"] > 0 else raw / st.sigma
        own = max(abs(z_raw) * p["inv_robust_z"] if robust_ok else 0.0, ewma_raw)
        y = ref_dev / st.sigma
        y = min(max(y, -p["cusum_clip"]), p["cusum_clip"]) * factor if robust_ok else 0.0
        reset = refresh_now
        for j, sign in enumerate((1.0, -1.0)):
            step = sign * y - p["cusum_k"]
            base = step if reset else st.cusum[j] + step
            st.cusum[j] = min(max(base, 0.0), p["cusum_cap"])
        parts = [robust, sev_ewma, max(st.cusum) * p["inv_cusum_h"]]
        st.last_e = min(max(*parts, own), SEVERITY_CAP)
        least = 0.0
        if robust_ok:  # beyond the window's range by range_k times it: uncalibrated
            span = max(st.wmax - st.wmin, RANGE_FLOOR_SIGMAS * st.sigma)
            out_by = max(x - st.wmax, st.wmin - x, 0.0)
            least = min(robust, SEVERITY_CAP) if out_by * p["inv_range_k"] >= span else 0.0
        stuck = self._stuck(st, x, t, has_prev)  # (updates the run the learnt stuck reads)
        held = self._held(st, robust_ok)
        sev, event = self._statistical(st, t, n, parts, max(least, held))
        # One event per episode (or growth), named after the strongest detector.
        named = [*parts, held]
        top = max(named) * (1.0 - NAME_TIE)
        strongest = STATISTICAL[next(i for i, v in enumerate(named) if v >= top)]
        out.append((strongest if event else None, sev, st.ep_start))
        out.append((Detector.STUCK, stuck, t))
        st.values.append(x)
        st.times.append(t)
        st.count += 1
        st.last_time, st.last_value, st.silent = t, x, False
        return out

    def _noise2(self, st: SeriesRef) -> float:
        """The noise variance the window's median step implies, times
        ``noise_floor`` (the EWMA z's variance floor)."""
        noise = MAD_TO_SIGMA * st.step
        return self.config.noise_floor * (noise * noise * 0.5)

    def _ewma(
        self, st: SeriesRef, x: float, n: int, level: float
    ) -> tuple[float, float, float, float, float, float]:
        """EWMA z severity of ``x`` (0 during warm-up), its deviation less the seasonal step
        (``level``: the daily profile's mean ``x`` is judged by, NaN: none); the deviation
        as it was, and the severity of that; the deviation from the CUSUM's reference mean
        (less the step too); the spread ``x`` is judged by (inf at the first reading); then
        learn ``x`` (winsorized) into both means."""
        p = st.par
        adj = _seasonal_step(st, level, p["alpha"])
        if n == 0:
            st.ewm_mean, st.ewm_var, st.ref_mean = x, 0.0, x
            return 0.0, 0.0, 0.0, 0.0, 0.0, math.inf
        raw, d = _deviation(x, st.ewm_mean, adj)
        ref_dev = _deviation(x, st.ref_mean, adj)[1]
        rel = p["min_rel_std"] * st.ewm_mean
        floor2 = st.resolution**2 / 12.0
        var = max(st.ewm_var, self._noise2(st))
        spread = math.sqrt(var + p["min_std2"] + rel * rel + floor2 + TINY)
        scale = p["inv_ewma_z"] / spread if n >= self.config.min_history else 0.0
        sev, sev_raw = abs(d) * scale, abs(raw) * scale
        learn = x
        if st.robust_ok:
            band = p["ewma_clip"] * st.sigma
            # With a daily pattern: the band spans the median and the time of day's mean.
            lo = st.median if math.isnan(level) else min(st.median, level)
            hi = st.median if math.isnan(level) else max(st.median, level)
            learn = min(max(x, lo - band), hi + band)
        al, ra = p["alpha"], p["cusum_alpha"]
        st.ewm_mean = (1.0 - al) * st.ewm_mean + al * learn
        st.ewm_var = (1.0 - al) * st.ewm_var + (1.0 - al) * al * d * d
        st.ref_mean = (1.0 - ra) * st.ref_mean + ra * learn
        return sev, d, raw, sev_raw, ref_dev, spread

    def _held(self, st: SeriesRef, robust_ok: bool) -> float:
        """The learnt stuck's evidence (the engine's ``_detect._learnt_stuck``): the run of
        repeats this reading made (``_stuck`` counted it) over ``stuck_learn`` times the
        learnt longest run."""
        inv = st.par["inv_stuck_learn"]
        if inv <= 0 or not robust_ok or st.changes < self.config.stuck_min_changes:
            return 0.0
        learnt = 0.0 if math.isnan(st.runmax) else st.runmax
        return min(st.run / max(learnt / inv, self.config.stuck_learn_min), 1.0)

    def _stuck(self, st: SeriesRef, x: float, t: int, has_prev: bool) -> float:
        p = st.par
        moved = has_prev and x != st.last_value
        st.run = st.run + 1 if has_prev and not moved else 0
        st.run_start = st.run_start if st.run else t  # the run's first reading
        st.changes += int(moved)
        if st.changes < self.config.stuck_min_changes or (p["stuck_zero_ok"] > 0 and x == 0.0):
            return 0.0
        sev, lim, dur = (st.run + 1) * p["inv_stuck_k"], p["stuck_min_us"], t - st.run_start
        return min(sev, max(dur, 0) / lim) if lim > 0 and dur < lim else sev

    def sweep(self, now_us: int) -> Events:
        """Silence events, as :meth:`Engine.sweep`."""
        rows = []
        for sid in sorted(self.series):
            st = self.series[sid]
            interval = st.interval_us
            if math.isnan(interval) and len(st.times) >= 2:
                interval = (st.last_time - st.times[0]) / (len(st.times) - 1)
            limit = st.par["silence_factor"] * interval
            limit = math.nan if math.isnan(limit) else max(limit, st.par["min_silence_us"])
            gap = float(now_us - st.last_time)
            if st.count > 0 and not st.silent and math.isfinite(limit) and gap > limit:
                st.silent = True
                sev = gap / limit
                score = sev * sev / (1 + sev * sev)
                rows.append(
                    (sid, now_us, int(Detector.SILENCE), st.last_value, score, st.last_time)
                )
        return Events.from_lists(*zip(*rows, strict=True)) if rows else Events.empty()


def _seasonal_step(st: SeriesRef, level: float, al: float) -> float:
    """What the time of day moved the profile's mean by since its EWMA (``st.ewm_level``)
    caught up: the part of a deviation the daily baseline explains (0: none); then learn
    ``level`` (NaN: no profile, the EWMA restarts when one comes)."""
    adj = 0.0
    if math.isnan(level):
        st.ewm_level = math.nan
    elif math.isnan(st.ewm_level):
        st.ewm_level = level  # (re)start: no step yet
    else:
        adj = level - st.ewm_level
        if abs(adj) <= ROUNDING * (abs(level) + abs(st.ewm_level)):
            adj = 0.0
        st.ewm_level = (1.0 - al) * st.ewm_level + al * level
    return adj


def _deviation(x: float, mean: float, adj: float) -> tuple[float, float]:
    """``x - mean`` (0 at float rounding), and that less the part in the seasonal step
    ``adj``'s own direction (the step explains, never adds)."""
    scale = ROUNDING * (abs(x) + abs(mean))
    raw = x - mean
    raw = 0.0 if abs(raw) <= scale else raw  # float rounding, not a deviation
    d = raw - min(max(adj, min(raw, 0.0)), max(raw, 0.0))
    return raw, 0.0 if abs(d) <= scale else d


def _grouped_mad(dev: list[float], mad: float, res: float) -> float:
    """The MAD of a quantised window read between its steps (``_robust.grouped_mad``)."""
    if not (res > 0 and mad > 0 and res * GROUPED_STEPS >= mad):
        return mad
    h = res * 0.5
    lo, hi = mad - h * EDGE, mad + h * EDGE
    below = sum(1 for d in dev if d < lo)
    inside = sum(1 for d in dev if lo <= d < hi)
    within = (len(dev) * 0.5 - below) / max(inside, 1) * (2.0 * h)
    return min(max(mad - h + within, mad - h), mad + h)

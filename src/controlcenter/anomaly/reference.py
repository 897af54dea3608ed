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
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly._daily import US_PER_DAY
from controlcenter.anomaly._detect import TINY
from controlcenter.anomaly._robust import MAD_TO_SIGMA
from controlcenter.anomaly.engine import Engine, EngineConfig
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


@dataclass
class _Series:
    par: dict[str, float]
    lo: float
    hi: float
    values: deque[float]
    times: deque[int]
    count: int = 0
    last_time: int = -(2**63)
    last_value: float = 0.0
    ewm_mean: float = 0.0
    ewm_var: float = 0.0
    cusum: list[float] = field(default_factory=lambda: [0.0, 0.0])
    run: int = 0
    changes: int = 0
    median: float = 0.0
    sigma: float = 1.0
    robust_ok: bool = False
    interval_us: float = math.nan
    silent: bool = False
    phase: int = 0  # series id % refresh: refreshes happen when (count + phase) % refresh == 0
    # Daily baseline, when the series has one: slot -> [mean, var, n, sum, sumsq, day].
    daily: dict[int, list[float]] | None = None


_SCALARS = (
    "count",
    "last_time",
    "last_value",
    "ewm_mean",
    "ewm_var",
    "run",
    "changes",
    "median",
    "sigma",
    "robust_ok",
    "interval_us",
    "silent",
)


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    c = len(s)
    return (s[(c - 1) // 2] + s[c // 2]) * 0.5


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
        self.rows = {k: dict(zip(COLUMNS, profile_row(p), strict=True)) for k, p in named.items()}
        self.series: dict[int, _Series] = {}

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
            s = _Series(
                ref.rows[engine.profile_names[int(st.profile[sid])]],
                float(st.lo[sid]),
                float(st.hi[sid]),
                deque((float(st.values[sid, q % w]) for q in lifetimes), maxlen=w),
                deque((int(st.times[sid, q % w]) for q in lifetimes), maxlen=w),
            )
            for name in _SCALARS:
                setattr(s, name, getattr(st, name)[sid].item())
            s.cusum = [float(st.cusum_pos[sid]), float(st.cusum_neg[sid])]
            s.phase = sid % engine.config.refresh
            row = int(st.daily_row[sid])
            if row >= 0:
                s.daily = {k: st.daily[row, k].tolist() for k in range(st.daily_slots)}
            ref.series[sid] = s
        return ref

    def add_series(
        self,
        series: npt.ArrayLike,
        profile: str | npt.ArrayLike = "generic",
        *,
        lo: npt.ArrayLike | None = None,
        hi: npt.ArrayLike | None = None,
    ) -> None:
        """Register series with a profile name and optional per-series limits."""
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
                self.series[sid] = _Series(par, lo_s, hi_s, deque(maxlen=w), deque(maxlen=w))
                self.series[sid].phase = sid % self.config.refresh
            if par["inv_daily_z"] > 0 and self.config.daily_slots > 0:
                st = self.series[sid]
                st.daily = {} if st.daily is None else st.daily

    def ingest(self, batch: Batch) -> tuple[npt.NDArray[np.float64], Events]:
        """Score and learn ``batch`` reading by reading, in time order."""
        order = np.argsort(batch.time, kind="stable")
        scores = np.zeros(len(batch), dtype=np.float64)
        rows: list[tuple[int, int, int, float, float]] = []
        for i in order.tolist():
            sid, t, x = int(batch.series[i]), int(batch.time[i]), float(batch.value[i])
            if sid not in self.series:
                self.add_series([sid], "generic")
            worst = 0.0
            for det, sev in self._one(self.series[sid], t, x):
                worst = max(worst, sev)
                if sev >= 1.0:
                    rows.append((sid, t, int(det), x, sev * sev / (1.0 + sev * sev)))
            scores[i] = worst * worst / (1.0 + worst * worst)
        rows.sort(key=lambda r: (r[1], r[0], r[2]))
        return scores, Events.from_lists(*zip(*rows, strict=True)) if rows else Events.empty()

    def _refresh(self, st: _Series) -> None:
        vals = list(st.values)
        c = len(vals)
        med = _median(vals)
        mad = _median([abs(v - med) for v in vals])
        rel = st.par["min_rel_std"] * med
        sd = MAD_TO_SIGMA * mad
        st.median = med
        st.sigma = math.sqrt(sd * sd + st.par["min_std2"] + rel * rel + TINY)
        st.robust_ok = c >= self.config.min_history
        times = list(st.times)
        gaps = [float(b - a) for a, b in itertools.pairwise(times)]
        st.interval_us = _median(gaps) if gaps else math.nan

    def _one(self, st: _Series, t: int, x: float) -> list[tuple[Detector, float]]:
        p, cfg = st.par, self.config
        if not (st.lo <= x <= st.hi and math.isfinite(x)):
            return [(Detector.LIMIT, LIMIT_SEVERITY)]
        if t <= st.last_time:
            return []
        n = st.count
        refresh_now = n > 0 and (n + st.phase) % cfg.refresh == 0
        if refresh_now:
            self._refresh(st)
        has_prev = n > 0
        out: list[tuple[Detector, float]] = []
        # rate of change
        rate = 0.0
        if has_prev:
            dts = min(max((t - st.last_time) / 1e6, p["rate_min_dt_s"]), p["rate_max_dt_s"])
            dv = x - st.last_value
            rate = abs(dv) * p["inv_rate"] / dts
            if p["monotonic"] > 0 and dv < 0:
                rate = max(rate, LIMIT_SEVERITY)
        out.append((Detector.RATE, rate))
        # EWMA z; robust z of the deviation from the EWMA mean (or the median); CUSUM on it
        sev_ewma, dev = self._ewma(st, x, n)
        robust_ok = st.robust_ok and n >= cfg.min_history
        zdev = dev / st.sigma
        z = (x - st.median) / st.sigma if p["robust_median"] > 0 else zdev
        factor = self._daily(st, t, x)
        out.append((Detector.ROBUST_Z, abs(z) * p["inv_robust_z"] * factor if robust_ok else 0.0))
        out.append((Detector.EWMA_Z, sev_ewma))
        y = min(max(zdev, -p["cusum_clip"]), p["cusum_clip"]) * factor if robust_ok else 0.0
        reset = refresh_now
        for j, sign in enumerate((1.0, -1.0)):
            step = sign * y - p["cusum_k"]
            base = step if reset else st.cusum[j] + step
            st.cusum[j] = min(max(base, 0.0), p["cusum_cap"])
        out.append((Detector.SHIFT, max(st.cusum) * p["inv_cusum_h"]))
        out.append((Detector.STUCK, self._stuck(st, x, has_prev)))
        st.values.append(x)
        st.times.append(t)
        st.count += 1
        st.last_time, st.last_value, st.silent = t, x, False
        return out

    def _ewma(self, st: _Series, x: float, n: int) -> tuple[float, float]:
        """EWMA z severity of ``x`` (0 during warm-up) and its deviation; then learn ``x``."""
        p = st.par
        al = p["alpha"]
        if n == 0:
            st.ewm_mean, st.ewm_var = x, 0.0
            return 0.0, 0.0
        d = x - st.ewm_mean
        rel = p["min_rel_std"] * st.ewm_mean
        spread = math.sqrt(st.ewm_var + p["min_std2"] + rel * rel + TINY)
        sev = abs(d) * p["inv_ewma_z"] / spread if n >= self.config.min_history else 0.0
        learn = x
        if st.robust_ok:
            band = p["ewma_clip"] * st.sigma
            learn = min(max(x, st.median - band), st.median + band)
        st.ewm_mean = (1.0 - al) * st.ewm_mean + al * learn
        st.ewm_var = (1.0 - al) * st.ewm_var + (1.0 - al) * al * d * d
        return sev, d

    def _daily(self, st: _Series, t: int, x: float) -> float:
        """0 when ``x`` is usual for this slot on earlier days, else 1; then learn ``x``."""
        if st.daily is None:
            return 1.0
        p, k, w = st.par, self.config.daily_slots, self.config.daily_weight
        day = t // US_PER_DAY
        slot = (t - day * US_PER_DAY) * k // US_PER_DAY
        rec = st.daily.setdefault(slot, [math.nan, 0.0, 0.0, 0.0, 0.0, -math.inf])
        if rec[5] != day:
            if rec[2] > 0:  # a later day: fold the day's visit into the profile
                m = rec[3] / rec[2]
                v = max(rec[4] / rec[2] - m * m, 0.0)
                if math.isnan(rec[0]):
                    rec[0], rec[1] = m, v
                else:
                    d = m - rec[0]
                    rec[0], rec[1] = rec[0] + w * d, (1 - w) * rec[1] + w * v + w * (1 - w) * d * d
            rec[2] = rec[3] = rec[4] = 0.0
            rec[5] = day
        factor = 1.0
        if p["inv_daily_z"] > 0 and not math.isnan(rec[0]):
            rel = p["min_rel_std"] * rec[0]
            z = abs(x - rec[0]) / math.sqrt(rec[1] + p["min_std2"] + rel * rel + 1e-24)
            factor = 0.0 if z * p["inv_daily_z"] < 1.0 else 1.0
        rec[2] += 1.0
        rec[3] += x
        rec[4] += x * x
        return factor

    def _stuck(self, st: _Series, x: float, has_prev: bool) -> float:
        p = st.par
        moved = has_prev and x != st.last_value
        st.run = st.run + 1 if has_prev and not moved else 0
        st.changes += int(moved)
        if st.changes < self.config.stuck_min_changes or (p["stuck_zero_ok"] > 0 and x == 0.0):
            return 0.0
        return (st.run + 1) * p["inv_stuck_k"]

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
                rows.append(
                    (sid, now_us, int(Detector.SILENCE), st.last_value, sev * sev / (1 + sev * sev))
                )
        return Events.from_lists(*zip(*rows, strict=True)) if rows else Events.empty()

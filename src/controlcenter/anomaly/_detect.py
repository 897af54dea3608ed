"""The detectors over a prepared batch: severities per accepted reading and the new state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly._batch import Prepared
from controlcenter.anomaly._calibrate import CalState, LongTail, calibrate, gather
from controlcenter.anomaly._daily import (
    US_PER_DAY,
    DailyUpdate,
    SeenVisits,
    daily_factor,
    weekend,
)
from controlcenter.anomaly._episode import EpisodeResult, episodes
from controlcenter.anomaly._relation import RelationResult, RelationStore, relation
from controlcenter.anomaly._robust import (
    MAD_TO_SIGMA,
    InForce,
    Refresh,
    refresh_rows,
    stats_per_reading,
)
from controlcenter.anomaly._scan import affine_scan, clamp_scan, int_mod
from controlcenter.anomaly.events import Detector
from controlcenter.anomaly.profile import COLUMNS, LIMIT_SEVERITY
from controlcenter.anomaly.window import WindowStore

if TYPE_CHECKING:
    from controlcenter.anomaly._config import EngineConfig

__all__ = ["NAME_TIE", "ROUNDING", "SEVERITY_CAP", "STATISTICAL", "TINY", "Severities", "detect"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: Added to every variance so that a flat series with no noise floor never divides by zero.
TINY = 1e-18
#: Relative size of a deviation that is float rounding, not a change.
ROUNDING = 1e-12
#: Largest severity any statistical detector reports (a flat series that moves).
SEVERITY_CAP = 1e6
#: Statistical detectors, in the order :meth:`Severities.stat_detector` names them (the
#: last: the generic profile's learnt stuck, ``stuck_learn``).
STATISTICAL = (Detector.ROBUST_Z, Detector.EWMA_Z, Detector.SHIFT, Detector.STUCK)
#: Evidence within this relative distance of the strongest names the event (the first).
NAME_TIE = 1e-9
_COL = {name: i for i, name in enumerate(COLUMNS)}


@dataclass(frozen=True, slots=True)
class Severities:
    """Per accepted reading (``[m]`` arrays, ``acc`` order): severities and state after it."""

    n_life: I64
    rate: F64
    robust: F64
    ewma: F64
    shift: F64
    held: F64
    stuck: F64
    ewm_mean: F64
    ewm_var: F64
    ewm_level: F64
    ref_mean: F64
    cusum_pos: F64
    cusum_neg: F64
    run: I64
    changes: I64
    run_start: I64
    refresh: Refresh
    res: F64
    cal: CalState
    ep: EpisodeResult
    rel: RelationResult
    daily: DailyUpdate | None = None
    limit_severity: float = LIMIT_SEVERITY

    def stat_detector(self, at: npt.NDArray[np.intp]) -> npt.NDArray[np.uint8]:
        """The statistical detector that names the events of readings ``at``: the
        strongest; near ties (rounding) go to the first of them. Only for the few
        readings that open or grow an episode."""
        stacked = np.stack((self.robust[at], self.ewma[at], self.shift[at], self.held[at]))
        near = stacked >= stacked.max(axis=0) * (1.0 - NAME_TIE)
        which = np.argmax(near, axis=0) if at.size else np.zeros(0, dtype=np.intp)
        out: npt.NDArray[np.uint8] = np.asarray(STATISTICAL, dtype=np.uint8)[which]
        return out

    def per_detector(self) -> Iterator[tuple[Detector, F64]]:
        """``(detector, float64[m])`` for the detectors that fire on every reading they
        hold for (the statistical ones report episodes: :attr:`ep`)."""
        yield Detector.RATE, self.rate
        yield Detector.STUCK, self.stuck

    def worst(self, prep: Prepared) -> F64:
        """``float64[n]`` largest severity of each sorted reading."""
        acc = np.maximum(np.maximum(self.rate, self.ep.x), self.stuck)
        if self.rel.member.size:
            acc[self.rel.member] = np.maximum(acc[self.rel.member], self.rel.member_x)
        if acc.size == len(prep.s):
            return acc  # every reading accepted (the usual batch): in sorted order already
        out = np.zeros(len(prep.s), dtype=np.float64)
        out[prep.rejected_bad] = self.limit_severity
        out[prep.acc] = acc
        return out


class _Params:
    """Profile numbers gathered per accepted reading, on demand."""

    def __init__(self, table: F64, prof: npt.NDArray[np.int16]) -> None:
        self._t = np.ascontiguousarray(table.T)
        # An intp index gathers 4x faster than the stored int16 (no conversion per gather).
        self._prof = prof.astype(np.intp)
        self._cache: dict[str, F64] = {}

    def __getitem__(self, name: str) -> F64:
        out = self._cache.get(name)
        if out is None:
            out = self._cache[name] = self._t[_COL[name]].take(self._prof)
        return out


def _previous(prep: Prepared, store: WindowStore, x: F64, t: I64) -> tuple[F64, I64]:
    xp = np.empty_like(x)
    tp = np.empty_like(t)
    if x.size:
        xp[1:], tp[1:] = x[:-1], t[:-1]
        xp[prep.gstart] = store.last_value[prep.gs]
        tp[prep.gstart] = store.last_time[prep.gs]
    return xp, tp


def _rate(par: _Params, x: F64, t: I64, xp: F64, tp: I64, has_prev: npt.NDArray[np.bool_]) -> F64:
    dt_s = np.where(has_prev, t - np.where(has_prev, tp, t), 0) / 1e6
    dts = np.clip(dt_s, par["rate_min_dt_s"], par["rate_max_dt_s"])
    dv = np.where(has_prev, x - xp, 0.0)
    sev: F64 = np.abs(dv) * par["inv_rate"] / dts
    backwards = (par["monotonic"] > 0) & (dv < 0)
    sev[backwards] = np.maximum(sev[backwards], LIMIT_SEVERITY)
    return sev


def _stuck(
    prep: Prepared,
    store: WindowStore,
    par: _Params,
    x: F64,
    t: I64,
    xp: F64,
    has_prev: npt.NDArray[np.bool_],
    min_changes: int,
) -> tuple[F64, I64, I64, I64]:
    m = x.size
    moved = has_prev & (x != xp)
    changed = ~has_prev | moved
    pos = np.arange(m, dtype=np.int64)
    last_change = np.maximum.accumulate(np.where(changed, pos, -1)) if m else pos
    inside = last_change >= pos - prep.rank  # a change since the segment's start
    run0 = store.run[prep.sa]
    run = np.where(inside, pos - last_change, run0 + prep.rank + 1)
    # Time of the run's first reading: the change in this batch, or the stored one.
    since = np.where(inside, t[np.maximum(last_change, 0)] if m else t, store.run_start[prep.sa])
    cm = np.cumsum(moved)
    before = (cm[prep.gstart] - moved[prep.gstart])[prep.gid]
    changes = store.changes[prep.sa] + cm - before
    ok = (changes >= min_changes) & ~((par["stuck_zero_ok"] > 0) & (x == 0.0))
    sev = np.where(ok, (run + 1) * par["inv_stuck_k"], 0.0)
    # A minimum duration caps the severity below 1 until the run has lasted it (exactly:
    # once it has, the count alone decides).
    lim = par["stuck_min_us"]
    timed = lim > 0
    if timed.any():
        dur = np.maximum(t - since, 0).astype(np.float64)
        short = timed & (dur < lim)
        sev = np.where(short, np.minimum(sev, dur / np.where(short, lim, 1.0)), sev)
    return sev, run, changes, since


def _shift_prev(after: F64, start_value: F64, prep: Prepared) -> F64:
    prev = np.empty_like(after)
    if after.size:
        prev[1:] = after[:-1]
        prev[prep.gstart] = start_value
    return prev


def _cusum_reference(
    prep: Prepared,
    store: WindowStore,
    par: _Params,
    x: F64,
    learn: F64,
    n_life: I64,
    adj: F64 | None,
) -> tuple[F64, F64]:
    """The CUSUM's reference mean after each reading, and each reading's deviation from it
    (less the seasonal step, as the EWMA z's deviation).

    An EWMA of the same winsorized values as the EWMA z's, at the profile's
    ``cusum_alpha``: a sum needs a reference that holds still while it adds up. From a mean
    at ``alpha`` 0.1 a level shift of 5 noise sigmas deviates ``5 * 0.9**j``, which sums to
    some 25 above ``cusum_k``, under ``cusum_h`` (30); from the generic profile's 0.05,
    ``5 * 0.95**j`` passes 30 after 10 readings. (At ``cusum_alpha == alpha`` this is the
    EWMA z's own mean.)
    """
    ref, _, d, scale, _ = _ewm_track(prep, par["cusum_alpha"], store.ref_mean, x, learn, n_life)
    return ref, _explained(d, adj, scale)


def _ewm_track(
    prep: Prepared, alpha: F64, start: F64, x: F64, learn: F64, n_life: I64
) -> tuple[F64, F64, F64, F64, F64]:
    """An EWMA at ``alpha`` of ``learn`` from ``start`` (per series; a series' first reading
    starts it at ``x``): the mean after each reading and before it, each reading's deviation
    from the mean before it, the rounding scale of that, and the scan's factor ``1 - alpha``.

    A deviation at the level of float rounding (the scans round differently from a loop)
    is no deviation: a flat series must not see evidence in its last bits.
    """
    fresh = n_life == 0
    a = np.where(fresh, 0.0, 1.0 - alpha)
    ca, cb = affine_scan(a, np.where(fresh, x, alpha * learn), prep.passes, own_b=True)
    m0 = start[prep.gs]
    mean = ca * m0[prep.gid] + cb
    prev = _shift_prev(mean, m0, prep)
    d = x - prev
    scale = ROUNDING * (np.abs(x) + np.abs(prev))
    d = np.where(fresh | (np.abs(d) <= scale), 0.0, d)
    return mean, prev, d, scale, a


def _explained(d: F64, adj: F64 | None, scale: F64) -> F64:
    """Deviation ``d`` less what the seasonal step ``adj`` explains: the part in its own
    direction, never adding one (a profile's step between slots is not a step of a smooth
    daily curve); rounding-level leftovers are 0. (``None``: no step, ``d`` as it is.)"""
    if adj is None:
        return d
    d = d - np.clip(adj, np.minimum(d, 0.0), np.maximum(d, 0.0))
    out: F64 = np.where(np.abs(d) <= scale, 0.0, d)
    return out


def _ewma(
    prep: Prepared,
    store: WindowStore,
    par: _Params,
    x: F64,
    learn: F64,
    n_life: I64,
    min_history: int,
    floor2: F64,
    adj: F64 | None,
    noise2: F64,
) -> tuple[F64, F64, F64, F64, F64, F64, F64]:
    """EWMA z severity (with ``adj`` taken out of the deviation, and as it was), deviation
    ``x - mean_before`` less ``adj`` (the seasonal part, :func:`_seasonal_step`) and as it
    was, mean and variance after each reading, and the spread each reading is judged by
    (with its floors); the statistics learn ``learn`` (``x`` winsorized), the score uses
    ``x``.

    The EWMA variance remembers about ``1 / alpha`` readings, so on plain noise its
    estimate wanders (by a third at ``alpha`` 0.1): a 3.5-sigma deviation meeting it at half
    its level scores 5, and a clean daily sine with Gaussian noise alarmed every two or
    three days. ``noise2`` floors it: the noise variance the window's median step implies
    (``_robust._median_step``: from second differences, at the last refresh, times
    ``noise_floor``), which a volatile hour hardly moves and which is back as soon as the
    hour has passed.
    """
    alpha = par["alpha"]
    mean, mean_prev, d, scale, a = _ewm_track(prep, alpha, store.ewm_mean, x, learn, n_life)
    raw = d
    d = _explained(d, adj, scale)
    va, vb = affine_scan(a, a * alpha * d * d, prep.passes, own_b=True)
    v0 = store.ewm_var[prep.gs]
    var = va * v0[prep.gid] + vb
    var_prev = _shift_prev(var, v0, prep)
    rel = par["min_rel_std"] * mean_prev
    spread = np.sqrt(np.maximum(var_prev, noise2) + par["min_std2"] + rel * rel + floor2 + TINY)
    scale = np.where(n_life >= min_history, par["inv_ewma_z"] / spread, 0.0)
    return np.abs(d) * scale, np.abs(raw) * scale, d, raw, mean, var, spread


def _seasonal_step(prep: Prepared, store: WindowStore, par: _Params, level: F64) -> tuple[F64, F64]:
    """The seasonal part of each reading's EWMA deviation, and the seasonal EWMA after it.

    ``level`` is the daily profile's mean a reading is judged by (NaN where the series shows
    no daily pattern or the slot has no profile). An EWMA of it, with the EWMA mean's
    ``alpha``, restarts at the first reading with a level after one without; the seasonal
    step ``level - (its EWMA before)`` is what the time of day alone moved the value by
    relative to the EWMA mean (a shift start's ramp), taken out of the deviation. A drift
    inside the daily range leaves the level alone and keeps its deviation.
    """
    alpha = par["alpha"]
    avail = ~np.isnan(level)
    l0 = store.ewm_level[prep.gs]
    had0 = ~np.isnan(l0)
    prev_avail = _shift_prev(avail.astype(np.float64), had0.astype(np.float64), prep) > 0
    restart = avail & ~prev_avail
    a = np.where(avail & ~restart, 1.0 - alpha, 0.0)
    lv = np.where(avail, level, 0.0)
    la, lb = affine_scan(a, np.where(restart, lv, alpha * lv), prep.passes, own_b=True)
    base = np.where(had0, l0, 0.0)
    after = la * base[prep.gid] + lb
    before = _shift_prev(after, base, prep)
    both = avail & prev_avail
    adj = np.where(both, lv - before, 0.0)
    adj = np.where(np.abs(adj) <= ROUNDING * (np.abs(lv) + np.abs(before)), 0.0, adj)
    return adj, np.where(avail, after, np.nan)


def _cusum(
    prep: Prepared, store: WindowStore, par: _Params, y: F64, n_life: I64, refresh: int
) -> tuple[F64, F64, F64]:
    k, cap = par["cusum_k"], par["cusum_cap"]
    reset = (int_mod(n_life + int_mod(prep.sa, refresh), refresh) == 0) & (n_life > 0)
    out = []
    for sign, s0 in ((1.0, store.cusum_pos), (-1.0, store.cusum_neg)):
        p = sign * y - k
        const = np.minimum(np.maximum(p, 0.0), cap)
        q = np.where(reset, const, 0.0)
        u = np.where(reset, const, cap)
        cp, cq, cu = clamp_scan(p, q, u, prep.passes, own=True)
        out.append(np.minimum(np.maximum(s0[prep.sa] + cp, cq), cu))
    sev = np.maximum(out[0], out[1]) * par["inv_cusum_h"]
    return sev, out[0], out[1]


def detect(
    prep: Prepared,
    store: WindowStore,
    table: F64,
    cfg: EngineConfig,
    relations: RelationStore,
    *,
    commit: bool,
) -> Severities:
    """Run every per-reading detector over the accepted readings of ``prep`` (the relation
    detector's state is updated here when ``commit``)."""
    x, t = prep.xa, prep.ta
    par = _Params(table, store.profile[prep.sa])
    n_life = store.count[prep.sa] + prep.rank
    has_prev = n_life > 0
    xp, tp = _previous(prep, store, x, t)
    rate = _rate(par, x, t, xp, tp, has_prev)
    stuck, run, changes, run_start = _stuck(
        prep, store, par, x, t, xp, has_prev, cfg.stuck_min_changes
    )
    factor: F64 | None = None
    level: F64 | None = None
    daily: DailyUpdate | None = None
    seen: SeenVisits | None = None
    unsure: npt.NDArray[np.bool_] | None = None
    spread: F64 | None = None
    if store.daily_used:
        floors = (par["min_std2"], par["min_rel_std"], par["inv_daily_z"])
        factor, level, daily, seen, unsure, spread = daily_factor(
            prep.sa,
            x,
            t,
            store.daily_row,
            store.daily_state(),
            floors,
            cfg.daily_slots,
            cfg.daily_weight,
            cfg.day_offset_s * 1_000_000,
        )
    ref = refresh_rows(prep, store, table, cfg, seen)
    force = stats_per_reading(prep, store, ref, n_life, cfg.refresh)
    med, sigma, ok = force.median, force.sigma, force.ok
    # For a series with a daily pattern, the EWMA deviation (and with it the robust z and
    # the CUSUM; the relation detector sees the metric as it was) is taken relative to the daily
    # baseline: the step the time of day explains is no evidence.
    # No reading of a series with a daily pattern (none has one yet, or the bench's
    # noise): the step would be 0 and the seasonal EWMA NaN everywhere, as set here.
    seasonal = factor is not None and bool(force.seasonal.any())
    if seasonal and level is not None:
        level = np.where(force.seasonal, level, np.nan)
        adj, ewm_level = _seasonal_step(prep, store, par, level)
    else:
        adj, ewm_level = None, np.full(x.size, np.nan)
    # The EWMA learns values winsorized to the robust band, so a spike does not drag its
    # mean (and echo as a deviation of the readings after it).
    band = par["ewma_clip"] * sigma
    lo_c, hi_c = med, med
    if seasonal and level is not None:
        # A series with a daily pattern: the band spans the window's median and what the
        # time of day expects. A machine on for most of the window and off at night had
        # its EWMA pinned at the band's edge all night (the median "on", the MAD of the on
        # readings), and its night's noise scored as deviations from there.
        has = ~np.isnan(level)
        lo_c = np.where(has, np.minimum(med, level), med)
        hi_c = np.where(has, np.maximum(med, level), med)
    learn = np.where(ok, np.clip(x, lo_c - band, hi_c + band), x)
    quant2 = force.res * force.res / 12.0
    noise = MAD_TO_SIGMA * force.step
    noise2 = cfg.noise_floor * (noise * noise * 0.5)
    ewma, ewma_raw, dev, raw, mean, var, espread = _ewma(
        prep, store, par, x, learn, n_life, cfg.min_history, quant2, adj, noise2
    )
    # Deviation from the EWMA mean (follows trends) in robust sigmas (which a spike or a
    # shift does not inflate the way it inflates the EWMA variance); or from the median.
    zdev = dev / sigma
    by_median = par["robust_median"] > 0
    z = np.where(by_median, (x - med) / sigma, zdev)
    valid = n_life >= cfg.min_history
    hist = ok & valid
    robust = np.where(hist, np.abs(z) * par["inv_robust_z"], 0.0)
    clip = par["cusum_clip"]
    if np.array_equal(par["cusum_alpha"], par["alpha"]):
        cref, ref_dev = mean, dev  # the CUSUM's reference is the EWMA z's own mean
    else:
        cref, ref_dev = _cusum_reference(prep, store, par, x, learn, n_life, adj)
    y = np.where(hist, np.clip(ref_dev / sigma, -clip, clip), 0.0)
    # What a metric shows on its own, for the relation detector: before the daily baseline
    # explains it away. A shift start moves metrics by a usual-for-the-hour step but out of
    # their all-day relation (kW up, power factor not with it); the baseline, not the
    # relation detector, is the judge of that.
    # Both as they were before the seasonal step was taken out of the deviation.
    z_raw = np.where(by_median, z, raw / sigma)
    own = np.maximum(np.where(hist, np.abs(z_raw) * par["inv_robust_z"], 0.0), ewma_raw)
    if seasonal and factor is not None:
        # What this time of day usually shows is no anomaly (a shift start's ramp), for a
        # series that has a daily pattern. The EWMA z keeps its say: it is what sees slow
        # drifts within the usual range. (Without one the factor is 1: nothing to do.)
        factor = np.where(force.seasonal, factor, 1.0)
        robust = robust * factor
        y = y * factor
        if spread is not None and unsure is not None:  # (the daily baseline gives both)
            # A wide slot (its values on earlier days spread over ``wide_slot`` sigmas of
            # the series' noise: the series changes within it, a machine switching on
            # mid-slot) cannot place the change to the reading: a value usual for it is no
            # EWMA z either. The noise: the robust sigma, or the median step's (at least
            # the resolution) where smaller: a machine off at exactly 0 all night has a
            # window of two levels, whose robust sigma is half their distance.
            unit = np.minimum(sigma, np.maximum(noise, force.res))
            with np.errstate(invalid="ignore"):  # NaN: no profile
                wide = hist & (spread > cfg.wide_slot * unit) & (factor == 0.0)
            ewma = np.where(wide, 0.0, ewma)
            # Past the usual band, a deviation counts in the larger of the window's robust
            # sigma and the slot's spread on earlier days. At 08:10 a machine's window is
            # still mostly its night's idle, so its sigma is the idle's, and the load's own
            # noise (tens of idle sigmas) alarmed whenever a reading left the band the
            # first day's load had spread over.
            with np.errstate(invalid="ignore", divide="ignore"):  # NaN: no profile
                wider = force.seasonal & ~unsure & (spread > sigma)
                robust = np.where(wider, robust * (sigma / spread), robust)
    doubt = np.zeros(x.size, dtype=np.bool_)
    if unsure is not None:
        doubt = _unsure(unsure, n_life, force.interval_us, cfg)
        # With no earlier day to tell, a level the window has not seen may be the time of
        # day's: the robust z needs ``unsure_scale`` times its evidence, and counts no more
        # than the deviation in the EWMA's own spread (at the robust z's threshold). A
        # shift start ramps up over minutes, and the spread widens with it (the robust
        # sigma, fixed since the refresh, saw only the night); a fault's step arrives at
        # once, out of a quiet spread.
        quick = np.abs(dev) / espread * par["inv_robust_z"]
        robust = np.where(doubt, np.minimum(robust / cfg.unsure_scale, quick), robust)
        # A load's EWMA z too: a shift change's surge is as sharp as a fault's step.
        ewma = np.where(doubt & (par["unsure_ewma"] > 0), ewma / cfg.unsure_scale, ewma)
    # A reading far from its slot's profile (the generic profile's rule; the kinds keep it
    # off). ``unsure`` and ``spread`` come with ``level`` from the daily baseline.
    if (
        seasonal
        and level is not None
        and unsure is not None
        and spread is not None
        and par["inv_season_z"].any()
    ):
        inv_season_z = par["inv_season_z"]
        floor2 = par["min_std2"] + quant2
        off = _off_profile(x, level, spread, noise2, floor2, par["min_rel_std"])
        life_us = n_life * force.interval_us
        with np.errstate(invalid="ignore"):  # NaN interval: not yet
            aged = life_us >= par["season_after_us"]
        judged = hist & ~unsure & aged & _class_continues(t, life_us, cfg.day_offset_s)
        robust = np.where(judged, np.maximum(robust, off * inv_season_z), robust)
    shift, cpos, cneg = _cusum(prep, store, par, y, n_life, cfg.refresh)
    e = np.minimum(np.maximum(np.maximum(robust, ewma), shift), SEVERITY_CAP)
    cal = calibrate(
        e,
        valid,
        prep.gid,
        force.gen,
        gather(store, prep.gs),
        par["inv_cal_z"],
        beta=cfg.cal_beta,
        wins=cfg.cal_wins,
        floor=cfg.cal_floor,
        min_blocks=cfg.cal_min_blocks,
        warmup=cfg.cal_warmup,
        tail_k=cfg.cal_tail_k,
        tail_after=cfg.cal_tail_after,
        tail_start=cfg.cal_tail_start,
        long=LongTail(cfg.cal_long_span, cfg.cal_long_after),
        learn_long=par["long_tail"] > 0,
    )
    # A reading is anomalous when its evidence passes both the detectors' absolute
    # thresholds and the series' own calibration (where the profile calibrates).
    s = np.where(par["inv_cal_z"] > 0, np.minimum(e, cal.c), e)
    inv_range_k = par["inv_range_k"]
    if inv_range_k.any():  # the generic profile's rule (the kinds keep it off)
        s = np.maximum(s, _beyond_range(x, force, sigma, robust, hist, inv_range_k))
    inv_learn = par["inv_stuck_learn"]
    held = np.zeros(x.size, dtype=np.float64)
    if inv_learn.any():  # the generic profile's learnt stuck (the kinds keep it off)
        ok_st = hist & (changes >= cfg.stuck_min_changes)
        held = _learnt_stuck(run, force.runmax, ok_st, inv_learn, cfg.stuck_learn_min)
        s = np.maximum(s, held)
    ep = episodes(
        np.where(valid, s, 0.0),
        t,
        prep.gstart,
        prep.glast,
        prep.gid,
        prep.rank,
        (store.ep_on[prep.gs], store.ep_below[prep.gs], store.ep_peak[prep.gs],
         store.ep_start[prep.gs]),
        off_level=cfg.off_level,
        off_k=cfg.off_k,
        growth=cfg.growth,
    )  # fmt: skip
    # The relation detector is unsure too where the time of day may explain a break: on a
    # first day, and in a series with a daily pattern, whose metrics relate one way at
    # night's idle and another under the day's load (one all-day covariance cannot know).
    rel = relation(
        relations,
        store.rel_row,
        store.rel_slot,
        prep.sa,
        t,
        x,
        raw / sigma,
        np.minimum(np.maximum(e, own), SEVERITY_CAP),
        doubt | force.seasonal,
        hist,
        cfg,
        commit=commit,
    )
    return Severities(
        n_life=n_life,
        rate=rate,
        robust=robust,
        ewma=ewma,
        shift=shift,
        held=held,
        stuck=stuck,
        ewm_mean=mean,
        ewm_var=var,
        ewm_level=ewm_level,
        ref_mean=cref,
        cusum_pos=cpos,
        cusum_neg=cneg,
        run=run,
        changes=changes,
        run_start=run_start,
        refresh=ref,
        res=force.res,
        cal=cal.state,
        ep=ep,
        rel=rel,
        daily=daily,
    )


def _class_continues(t: I64, life_us: F64, offset_s: int) -> npt.NDArray[np.bool_]:
    """Readings on a day of the same class (working day, weekend) as the day before, and
    on a Sunday only once two weekend days have passed in the series' life (``life_us``,
    its readings times their interval; NaN: not yet).

    Not a Monday or a Saturday, whose profiles are days (a week) old: on a trending series
    they lag the trend by that much. Nor the first Sunday: the weekend's profile is then
    the one Saturday's, and many factories run a short shift on Saturday and none on
    Sunday (the simulator's do); from the next weekend on, the profile has seen both days
    and its spread spans them."""
    local = t + offset_s * 1_000_000
    day = local // US_PER_DAY
    today = weekend(day)
    with np.errstate(invalid="ignore"):
        first = np.floor((local - life_us) / US_PER_DAY)  # the day the series began
    known = ~np.isnan(first)
    begun = np.where(known, first, 0.0).astype(np.int64)
    seen = _weekend_days_before(day) - _weekend_days_before(begun)
    out: npt.NDArray[np.bool_] = (today == weekend(day - 1)) & (~today | (known & (seen >= 2)))
    return out


def _weekend_days_before(day: I64) -> I64:
    """Saturdays and Sundays before each day number (days since 1970-01-01, a Thursday:
    within a week from a Thursday, days 2 and 3 are the weekend's)."""
    out: I64 = 2 * (day // 7) + np.clip(int_mod(day, 7) - 2, 0, 2)
    return out


def _off_profile(
    x: F64, level: F64, spread: F64, noise2: F64, floor2: F64, min_rel_std: F64
) -> F64:
    """How many spreads of its slot's profile (``level`` its mean, NaN: none or no daily
    pattern; ``spread`` the square root of its variance) each reading lies away, with the
    profile's floors (as ``_daily.daily_factor`` judges what is usual) and the series'
    quantisation (``floor2``: ``min_std**2 + resolution**2 / 12``: a slot of counts that
    were always 0 is not infinitely surprised by a 1); its variance is at least the EWMA
    z's noise floor ``noise2`` (a profile learnt from one day's few readings in a slot may
    spread less than the noise does); 0 where none."""
    rel = min_rel_std * level
    var = np.maximum(spread * spread, noise2)
    with np.errstate(invalid="ignore"):
        z = np.abs(x - level) / np.sqrt(var + floor2 + rel * rel + 1e-24)
    out: F64 = np.where(np.isnan(z), 0.0, z)
    return out


#: The window's range is at least this many robust sigmas (a flat window).
RANGE_FLOOR_SIGMAS = 4.0


def _beyond_range(
    x: F64, force: InForce, sigma: F64, robust: F64, hist: npt.NDArray[np.bool_], inv_k: F64
) -> F64:
    """The robust z evidence of readings outside the window's range (at the last refresh)
    by ``range_k`` times that range, which counts past the calibration; else 0. A series
    whose evidence is volatile (regimes, bursts) has a wide calibration that would hide a
    value it has not come near in a window; the robust z must still pass its threshold."""
    span = np.maximum(force.wmax - force.wmin, RANGE_FLOOR_SIGMAS * sigma)
    out = np.maximum(np.maximum(x - force.wmax, force.wmin - x), 0.0)
    e: F64 = np.where(hist & (out * inv_k >= span), np.minimum(robust, SEVERITY_CAP), 0.0)
    return e


def _learnt_stuck(
    run: I64, runmax: F64, ok: npt.NDArray[np.bool_], inv_k: F64, least: float
) -> F64:
    """The learnt stuck's evidence: a reading's run of repeats over ``stuck_learn`` times
    the longest finished run the series has shown (at least ``least`` repeats), capped at
    1: an episode opens when the run passes the bar and lasts as long as the run, with
    no second alarm (uncalibrated: the learnt run is this rule's calibration)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        bar = np.maximum(np.where(np.isnan(runmax), 0.0, runmax) / inv_k, least)
        e = np.where(ok & (inv_k > 0), np.minimum(run / bar, 1.0), 0.0)
    return e


def _unsure(
    unsure: npt.NDArray[np.bool_], n_life: I64, interval_us: F64, cfg: EngineConfig
) -> npt.NDArray[np.bool_]:
    """Readings whose slot of the day has no profile of its day class yet, of a series
    seen for ``unsure_after_s``: with no earlier day to tell, a change might be the time
    of day's (a shift starting), so only a clearer one (``unsure_scale``) alarms."""
    with np.errstate(invalid="ignore"):
        aged = n_life * interval_us >= cfg.unsure_after_s * 1e6  # NaN interval: not yet
    out: npt.NDArray[np.bool_] = unsure & aged
    return out

"""Robust statistics (median, MAD, usual interval) refreshed at fixed lifetime counts.

Before the reading whose lifetime number ``p > 0`` satisfies ``(p + series % R) % R == 0``,
a series' median, MAD and median gap are recomputed from its readings ``p - W .. p - 1``.
The per-series phase ``series % R`` spreads refreshes evenly even when every series was
primed with the same number of readings (after a restart), so a batch costs the same. Those may lie
partly in the ring and partly earlier in the same batch: each refresh row starts as a copy of
the series' ring row (slot order; the median needs no time order) with this batch's readings
written into their slots, then one row sort per statistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly._batch import Prepared
from controlcenter.anomaly._daily import CLASSES, SeenVisits, seasonal_gate
from controlcenter.anomaly._scan import int_mod
from controlcenter.anomaly.profile import COLUMNS
from controlcenter.anomaly.window import WindowStore

if TYPE_CHECKING:
    from controlcenter.anomaly._config import EngineConfig

__all__ = [
    "EDGE",
    "GROUPED_STEPS",
    "MAD_TO_SIGMA",
    "MEAN_AD_TO_SIGMA",
    "InForce",
    "Refresh",
    "grouped_mad",
    "masked_median",
    "refresh_rows",
    "resolution",
    "robust_sigma",
    "stats_per_reading",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: MAD of a normal distribution times this is its standard deviation.
MAD_TO_SIGMA = 1.4826
#: A window whose MAD is at most this many resolution steps is read as grouped data.
GROUPED_STEPS = 4.0
#: The median deviation's bin, a hair narrower than a step: deviations on its edges
#: (a median between two lattice values) fall on one side the same way everywhere.
EDGE = 0.999
#: Mean absolute deviation of a normal distribution times this is its standard deviation.
MEAN_AD_TO_SIGMA = 1.2533
_TINY = 1e-18  # as _detect.TINY: spreads are never below 1e-9 in any unit
_COL = {name: i for i, name in enumerate(COLUMNS)}


@dataclass(frozen=True, slots=True)
class Refresh:
    """Refresh rows of a batch, in (segment, lifetime) order; ``[P]`` arrays.

    Attributes:
        group: ``intp[P]`` segment of each row; first: ``int64[G]`` lifetime number of each
            segment's first refresh; offset: ``int64[G]`` its first row.
        median, sigma: ``float64[P]``; ok: ``bool[P]`` enough readings; interval_us:
            ``float64[P]`` median gap (NaN when unknown); res: ``float64[P]`` smallest step.
    """

    group: npt.NDArray[np.intp]
    first: I64
    offset: I64
    median: F64
    sigma: F64
    ok: npt.NDArray[np.bool_]
    interval_us: F64
    res: F64
    seasonal: npt.NDArray[np.bool_]
    step: F64
    wmin: F64
    wmax: F64
    runmax: F64


def masked_median(m: F64, valid: I64) -> F64:
    """Row medians of ``float64[P, K]`` with ``valid[P]`` numbers per row, the rest NaN.

    Rows are unordered (the median does not care). A row sort is used rather than
    ``np.partition``: for K = 256, partitioning at the two middle ranks measured 5x slower
    than sorting the whole row.
    """
    return _sorted_median(m, valid)[0]


def _sorted_median(m: F64, valid: I64) -> tuple[F64, F64]:
    """Row medians and the sorted rows (NaN last)."""
    if m.shape[0] == 0:
        return np.zeros(0, dtype=np.float64), m
    srt = np.sort(m, axis=1)  # NaN sort last
    return _sorted_middle(srt, np.zeros_like(valid), valid), srt


def _sorted_middle(srt: F64, first: I64, count: I64) -> F64:
    """Row medians of ``count`` sorted values from column ``first`` on (at least one)."""
    cv = np.maximum(count, 1)
    rows = np.arange(srt.shape[0])
    out: F64 = (srt[rows, first + (cv - 1) // 2] + srt[rows, first + cv // 2]) * 0.5
    return out


def _mad(srt: F64, dev: F64, med: F64, valid: I64) -> F64:
    """``masked_median(dev, valid)`` for ``dev = |row - med|`` and ``srt`` the sorted rows.

    For full rows no second sort: the ``k``-th smallest deviation is the least, over
    windows of ``k + 1`` neighbours in sorted order, of the larger deviation at the two
    ends (the values within ``D`` of the median are neighbours in sorted order, and inside
    a window the deviation is largest at an end); it is one of the same floats
    (``|srt - med|`` is ``|row - med|`` permuted), so the result is exact.
    """
    n = srt.shape[1]
    full = valid == n
    if n == 0 or not full.any():
        return masked_median(dev, valid)
    every = bool(full.all())
    a = np.abs((srt if every else srt[full]) - (med if every else med[full])[:, None])
    k1, k2 = (n - 1) // 2, n // 2
    d1 = np.maximum(a[:, : n - k1], a[:, k1:]).min(axis=1)
    d2 = np.maximum(a[:, : n - k2], a[:, k2:]).min(axis=1)
    if every:
        out: F64 = (d1 + d2) * 0.5
        return out
    out = np.empty(srt.shape[0], dtype=np.float64)
    out[full] = (d1 + d2) * 0.5
    out[~full] = masked_median(dev[~full], valid[~full])
    return out


def resolution(srt: F64) -> F64:
    """Smallest positive step between the sorted values of each row (0 when none).

    A quantised signal (counts, a flow meter in whole units) has a MAD of 0 whenever more
    than half its window sits on one value; its step says how far apart values can be.
    """
    if srt.shape[1] < 2:
        return np.zeros(srt.shape[0], dtype=np.float64)
    steps = np.diff(srt, axis=1)
    with np.errstate(invalid="ignore"):
        # NaN (young rows) and ties drop out (in place: ~2x cheaper than ``np.where``).
        steps[~(steps > 0)] = np.inf
    out: F64 = steps.min(axis=1)
    out[~np.isfinite(out)] = 0.0
    return out


def grouped_mad(dev: F64, mad: F64, res: F64, valid: I64) -> F64:
    """The MAD of a quantised window read between its steps (the median of grouped data).

    Where the MAD is at most ``GROUPED_STEPS`` resolution steps, the deviations sit on a
    lattice and their median jumps a whole step: noise of sigma ``s`` rounded to steps of
    ``s`` has a MAD of ``s`` (so a sigma of ``1.48 s``) where the signal's is ``0.67 s``. The
    median deviation's step ``[mad - res/2, mad + res/2)`` is taken as a bin its values
    fill evenly: ``mad - res/2 + (n/2 - below) / inside * res``. A level shift of 5 noise
    sigmas in such a series was 3.3 of those sigmas (found in 2 of the 8 quantised test
    streams; 7 of 8 after). Windows finer than that keep their MAD exactly.

    >>> dev = np.array([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0]])
    >>> grouped_mad(dev, np.array([1.0]), np.array([1.0]), np.array([8])).tolist()
    [0.75]
    """
    q = (res > 0) & (mad > 0) & (res * GROUPED_STEPS >= mad)
    if not q.any():
        return mad
    h, m = res[q] * 0.5, mad[q]
    lo, hi = (m - h * EDGE)[:, None], (m + h * EDGE)[:, None]
    dq = dev[q]
    with np.errstate(invalid="ignore"):  # NaN: a young row's empty slots count nowhere
        below = (dq < lo).sum(axis=1)
        inside = ((dq >= lo) & (dq < hi)).sum(axis=1)
    out = mad.copy()
    within = (valid[q] * 0.5 - below) / np.maximum(inside, 1) * (2.0 * h)
    out[q] = np.clip(m - h + within, m - h, m + h)
    return out


def robust_sigma(mad: F64, mean_ad: F64, res: F64, floor2: F64) -> F64:
    """``sigma`` from the MAD, never 0 for a window that moved at all.

    ``1.4826 * MAD`` (the normal-consistent MAD); where the MAD is 0 (quantised or
    zero-inflated data) ``1.2533 *`` the mean absolute deviation from the median instead;
    plus the quantisation noise ``res**2 / 12`` and the profile's noise floors ``floor2``.
    """
    sd = np.where(mad > 0, MAD_TO_SIGMA * mad, MEAN_AD_TO_SIGMA * mean_ad)
    out: F64 = np.sqrt(sd * sd + res * res / 12.0 + floor2 + _TINY)
    return out


def _window_rows(
    prep: Prepared, store: WindowStore, group: npt.NDArray[np.intp], p: I64
) -> tuple[F64, I64]:
    """Values and times of readings ``p - W .. p - 1`` for each row, in ring-slot order.

    The ring row of the series already holds the readings before the batch in the right
    slots; the slots of readings from this batch are overwritten, and slots of lifetime
    numbers below zero (a series younger than ``W``) are NaN.
    """
    w = store.window
    series = prep.gs[group]
    c0 = store.count[series]
    # One gather of the ring rows (take: ~2x cheaper than row indexing; of the whole ring,
    # not its value and time views, which take would first copy whole), then columns.
    rows = store.ring.take(series, axis=0)
    vals = np.ascontiguousarray(rows[:, :, 0])
    times = np.ascontiguousarray(rows.view(np.int64)[:, :, 1])
    lo_q = np.maximum(c0, p - w)
    cnt = p - lo_q
    total = int(cnt.sum())
    if total:
        row = np.repeat(np.arange(p.size), cnt)
        q = lo_q[row] + np.arange(total) - (np.cumsum(cnt) - cnt)[row]
        src = prep.gstart[group[row]] + (q - c0[row])
        cell = row * w + int_mod(q, w)  # flat (row, slot): cheaper than a 2-D scatter
        vals.reshape(-1)[cell] = prep.xa[src]
        times.reshape(-1)[cell] = prep.ta[src]
    young = p < w
    if young.any():
        vals[young] = np.where(np.arange(w) >= p[young, None], np.nan, vals[young])
    return vals, times


def _median_gap(times: I64, p: I64, w: int) -> F64:
    """Median gap between consecutive readings of each row (NaN when fewer than 2)."""
    gaps = np.empty(times.shape, dtype=np.float64)
    gaps[:, :-1] = times[:, 1:] - times[:, :-1]
    gaps[:, -1] = times[:, 0] - times[:, -1]
    return _chrono_median(gaps, p, w)


#: White noise's second differences spread sqrt(3) times its steps (sqrt(6) against
#: sqrt(2) noise sigmas): ``_median_step`` divides by it to speak in steps.
SECOND_TO_STEP = float(np.sqrt(3.0))


def _median_step(vals: F64, p: I64, w: int) -> F64:
    """The noise of each row as a step between consecutive readings: the median of the
    *nonzero* absolute second differences (``x[i+1] - 2 x[i] + x[i-1]``, as the difference
    of two steps) over SECOND_TO_STEP (0 when there is none).

    Second differences, not steps: a signal's own slope (a trend, a daily curve sampled
    every half hour, a 12-reading machine cycle) is in every step, and made the noise look
    several times what it is; only its curvature is in a second difference. Zeros are
    left out: a machine off at exactly 0 all night, or counts that are mostly 0, would
    floor the EWMA z's variance at nothing; the signal while it moves is its noise."""
    steps = np.empty(vals.shape, dtype=np.float64)
    np.subtract(vals[:, 1:], vals[:, :-1], out=steps[:, :-1])
    np.subtract(vals[:, 0], vals[:, -1], out=steps[:, -1])
    _chrono_valid(steps, p, w)  # NaN: no step (the ring's wrap, a young row's empty slots)
    # Slot i: from step i to step i + 1 (NaN where either is missing).
    second = np.empty(vals.shape, dtype=np.float64)
    np.subtract(steps[:, 1:], steps[:, :-1], out=second[:, :-1])
    np.subtract(steps[:, 0], steps[:, -1], out=second[:, -1])
    a = np.abs(second) / SECOND_TO_STEP
    valid = np.count_nonzero(~np.isnan(a), axis=1)
    srt = np.sort(a, axis=1)  # the zeros first, NaN last
    zeros = np.count_nonzero(srt == 0.0, axis=1)
    moved = valid - zeros
    out = _sorted_middle(srt, zeros, moved)
    out[moved < 1] = 0.0
    return out


#: Weight of the window's longest finished run in the learnt one, per refresh.
RUN_BETA = 1.0 / 64.0


def _finished_runs(vals: F64, p: I64, w: int) -> F64:
    """Longest *finished* run of repeats (readings equal to the one before, followed by a
    different value) in each row's window, in chronological order; the run still going
    at the window's end does not count (0 when none). A full window of one value gives
    ``inf``: a series whose values rest that long (a set point) has runs this rule cannot
    measure, and is not judged by it again."""
    n = vals.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    # Chronological order: from the oldest slot (p % W once the ring is full, else 0).
    start = np.where(p >= w, int_mod(p, w), 0)
    order = start[:, None] + np.arange(w)[None, :]
    order[order >= w] -= w
    chrono = np.take_along_axis(vals, order, axis=1)
    eq = chrono[:, 1:] == chrono[:, :-1]  # NaN (empty slots) never equal
    k = w - 1
    idx = np.arange(k)
    last_break = np.maximum.accumulate(np.where(eq, -1, idx), axis=1)
    run = np.where(eq, idx - last_break, 0)  # repeats ending at each pair
    # A run ends at a pair followed by an unequal one among the row's pairs (a young row's
    # newest reading is followed by an empty slot: its run still goes on).
    pairs = np.minimum(p, w) - 1
    ends = np.zeros_like(eq)
    ends[:, :-1] = eq[:, :-1] & ~eq[:, 1:] & (idx[None, 1:] < pairs[:, None])
    out: F64 = np.where(ends, run, 0).max(axis=1).astype(np.float64)
    out[(p >= w) & eq.all(axis=1)] = np.inf
    return out


def _learn_runs(lw: F64, group: npt.NDArray[np.intp], offset: I64, prev0: F64) -> F64:
    """The learnt longest run at each refresh row: the window's, or the earlier learnt
    one relaxed towards it by RUN_BETA where longer (a group's rows in order)."""
    n = group.size
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    depth = np.arange(n) - offset[group]
    keep = 1.0 - RUN_BETA
    for j in range(int(depth.max()) + 1):
        at = np.flatnonzero(depth == j)
        prev = prev0[group[at]] if j == 0 else out[at - 1]
        # NaN (nothing learnt yet): the window's; inf (a resting series) stays inf.
        with np.errstate(invalid="ignore"):
            out[at] = np.fmax(lw[at], lw[at] + (prev - lw[at]) * keep)
    return out


def _chrono_valid(gaps: F64, p: I64, w: int) -> I64:
    """Set the slots of ``gaps`` that hold no step to NaN (slot ``i``: from the reading in
    slot ``i`` to the next) and return the number of steps per row."""
    # Slot (p - 1) % W holds the newest reading; its "next" slot is the oldest.
    gaps[np.arange(p.size), int_mod(p - 1, w)] = np.nan
    young = p < w
    if young.any():
        gaps[young] = np.where(np.arange(w) >= p[young, None] - 1, np.nan, gaps[young])
    out: I64 = np.minimum(p, w) - 1
    return out


def _chrono_median(gaps: F64, p: I64, w: int) -> F64:
    """Row medians of ``gaps`` (slot ``i``: from the reading in slot ``i`` to the next)."""
    valid = _chrono_valid(gaps, p, w)
    out = masked_median(gaps, valid)
    out[valid < 1] = np.nan
    return out


def refresh_rows(
    prep: Prepared,
    store: WindowStore,
    table: F64,
    cfg: EngineConfig,
    seen: SeenVisits | None = None,
) -> Refresh:
    """Compute the robust statistics of every refresh that falls inside this batch, and
    whether each series shows a daily pattern then (``seen``: this batch's daily visits)."""
    r, w = cfg.refresh, store.window
    c0 = store.count[prep.gs]
    phase = int_mod(prep.gs, r)
    lo = np.maximum(c0, 1)
    first = lo + int_mod(-(lo + phase), r)
    hi = c0 + prep.gsize - 1
    last = hi - int_mod(hi + phase, r)
    rows = np.maximum((last - first) // r + 1, 0)
    offset = np.cumsum(rows) - rows
    group = np.repeat(np.arange(prep.gs.size), rows)
    p = first[group] + r * (np.arange(group.size) - offset[group])
    vals, times = _window_rows(prep, store, group, p)
    valid = np.minimum(p, w)
    med, srt = _sorted_median(vals, valid)
    dev = np.abs(vals - med[:, None])
    res = resolution(srt)
    mad = grouped_mad(dev, _mad(srt, dev, med, valid), res, valid)
    # nansum, ~10x cheaper: the same sum with NaN (young rows' empty slots) as 0 (dev >= 0).
    mean_ad = np.fmax(dev, 0.0).sum(axis=1) / np.maximum(valid, 1)
    prof = store.profile[prep.gs][group]
    rel = table[prof, _COL["min_rel_std"]] * med
    sigma = robust_sigma(mad, mean_ad, res, table[prof, _COL["min_std2"]] + rel * rel)
    interval = _median_gap(times, p, w)
    step = _median_step(vals, p, w)
    series = prep.gs[group]
    at = prep.ta[prep.gstart[group] + (p - store.count[series])]
    seasonal = seasonal_gate(
        store.daily_row[series],
        at,
        store.daily_state(),
        CLASSES * cfg.daily_slots,
        seen,
        cfg.season_strength,
        cfg.daily_weight,
        cfg.day_offset_s * 1_000_000,
    )
    top = srt[np.arange(srt.shape[0]), np.maximum(valid, 1) - 1]  # NaN (empty slots) sort last
    # The learnt stuck's runs, for the rows of profiles that use it (the generic one).
    runmax = np.full(group.size, np.nan)
    learns = table[prof, _COL["inv_stuck_learn"]] > 0
    if learns.any():
        lw = np.full(group.size, np.nan)
        lw[learns] = _finished_runs(vals[learns], p[learns], w)
        runmax = _learn_runs(lw, group, offset, store.runmax[prep.gs])
    return Refresh(
        group,
        first,
        offset,
        med,
        sigma,
        valid >= cfg.min_history,
        interval,
        res,
        seasonal,
        step,
        srt[:, 0],
        top,
        runmax,
    )


@dataclass(frozen=True, slots=True)
class InForce:
    """Robust statistics in force for each accepted reading (``[m]`` arrays).

    ``gen``: refreshes of the reading's series in this batch at or before it (0: none).
    """

    median: F64
    sigma: F64
    ok: npt.NDArray[np.bool_]
    res: F64
    gen: I64
    seasonal: npt.NDArray[np.bool_]
    interval_us: F64
    step: F64
    wmin: F64
    wmax: F64
    runmax: F64


def stats_per_reading(
    prep: Prepared, store: WindowStore, ref: Refresh, n_life: I64, refresh: int
) -> InForce:
    """Median, sigma, validity and resolution in force for each accepted reading."""
    gid = prep.gid
    r_at = n_life - int_mod(n_life + int_mod(prep.sa, refresh), refresh)
    fresh = (r_at > 0) & (r_at >= store.count[prep.sa])
    med = store.median[prep.sa]
    sigma = store.sigma[prep.sa]
    ok = store.robust_ok[prep.sa]
    res = store.resolution[prep.sa]
    seasonal = store.seasonal[prep.sa]
    interval = store.interval_us[prep.sa]
    step = store.step[prep.sa]
    wmin = store.wmin[prep.sa]
    wmax = store.wmax[prep.sa]
    runmax = store.runmax[prep.sa]
    gen = np.zeros(n_life.size, dtype=np.int64)
    if ref.group.size:
        idx = np.flatnonzero(fresh)
        k = (r_at[idx] - ref.first[gid[idx]]) // refresh
        row = ref.offset[gid[idx]] + k
        med[idx] = ref.median[row]
        sigma[idx] = ref.sigma[row]
        ok[idx] = ref.ok[row]
        res[idx] = ref.res[row]
        seasonal[idx] = ref.seasonal[row]
        interval[idx] = ref.interval_us[row]
        step[idx] = ref.step[row]
        wmin[idx] = ref.wmin[row]
        wmax[idx] = ref.wmax[row]
        runmax[idx] = ref.runmax[row]
        gen[idx] = k + 1
    return InForce(med, sigma, ok, res, gen, seasonal, interval, step, wmin, wmax, runmax)

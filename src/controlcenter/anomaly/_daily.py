"""Daily and weekly baseline: what each time of day looked like on earlier days of its kind.

For series whose profile sets ``daily_z``, the *local* day (UTC shifted by the complex's
offset, ``day_offset_us``) is cut into ``K`` slots, and days are of two *classes*: working
days (Monday to Friday) and the weekend; a series has ``2 K`` slot keys, ``class * K +
slot``. Per key a series keeps a *profile* (mean and variance of its values there on
earlier days of that class, weighted towards the latest day by ``daily_weight``) and an
*accumulator* of the current day's visit (count, sum, sum of squares, day). When a reading
arrives in a key on a later day than its accumulator, the accumulator is folded into the
profile first. A reading is judged against the profile only, i.e. against earlier days,
never against today; a weekend reading whose key has no profile yet (the first weekend) is
judged against the working days' profile of its slot, as it stands at that time.

A value within ``daily_z`` spreads of the profile's mean is usual for this time of day (a
shift start's ramp): its robust z and CUSUM input are set to 0 (the EWMA z is left alone:
it sees slow drifts inside the usual range).

Within a batch, the readings of one (series, key, day) form a *visit*; all of them see the
same profile, so no per-reading scan is needed; a batch that spans several days of one key
folds its visits one depth at a time (a loop over visits per key: the days in the batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly._scan import int_mod

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Idx = npt.NDArray[np.intp]

__all__ = [
    "CLASSES",
    "GATE_ROUNDING2",
    "GATE_TIE",
    "DailyUpdate",
    "SeenVisits",
    "Visits",
    "daily_factor",
    "day_and_slot",
    "run_visits",
    "seasonal_gate",
    "weekend",
]

US_PER_DAY = 86_400_000_000
#: Relative margin the seasonal gate's variance ratio must clear. Quantised values make
#: exact ties (two slot keys, one constant: between == within) common, and the batch's
#: vectorised sums round differently from one-at-a-time sums; without a margin the tie
#: falls on either side by a last bit, and with it the whole gate.
GATE_TIE = 1e-6
#: The variance between the slots' means must exceed this times the largest mean squared
#: (means that differ only by rounding, relatively 1e-16, are one mean).
GATE_ROUNDING2 = 1e-24
#: Day classes: working days (Monday to Friday) and the weekend.
CLASSES = 2


def day_and_slot(t: I64, slots: int, offset_us: int = 0) -> tuple[I64, I64]:
    """Local day number and slot key (``class * slots + slot of the day``) of each time
    (microseconds since the epoch; ``offset_us``: the local time's offset from UTC).

    >>> monday_noon = (4 * 86_400 + 43_200) * 1_000_000  # 1970-01-05 was a Monday
    >>> [int(k[0]) for k in (day_and_slot(np.array([monday_noon + d * 86_400_000_000]), 2)[1]
    ...                      for d in (0, 4, 5, 6))]
    [1, 1, 3, 3]
    """
    local = t + offset_us
    day = local // US_PER_DAY
    slot = (local - day * US_PER_DAY) * slots // US_PER_DAY
    return day, slot + weekend(day) * slots


def weekend(day: I64) -> npt.NDArray[np.bool_]:
    """Whether each day number (days since 1970-01-01, a Thursday) is a Saturday or Sunday."""
    out: npt.NDArray[np.bool_] = int_mod(day + 3, 7) >= 5
    return out


@dataclass(frozen=True, slots=True)
class Visits:
    """Visits sorted by (key, day); ``key`` is the flat position ``row * K + slot``."""

    key: Idx
    day: F64
    n: F64
    s: F64
    q: F64


@dataclass(frozen=True, slots=True)
class DailyUpdate:
    """The state to write back: ``state[key] = values`` (``float64[G, 6]``)."""

    key: Idx
    values: F64


def run_visits(v: Visits, state: F64, weight: float) -> tuple[F64, F64, F64, DailyUpdate]:
    """Profile (mean, variance) each visit sees, and the final state per key.

    At a visit on a later day than its slot's accumulator, the accumulator is folded into
    the profile: the first day sets it; a later day mixes in with weight ``w``, mean
    ``pm + w d`` and the variance of the mixture ``(1 - w) pv + w v + w (1 - w) d**2``.
    """
    k = v.key.size
    used_m = np.empty(k, dtype=np.float64)
    acc = np.empty((k, 4), dtype=np.float64)  # accumulator after each visit: n, sum, sumsq, day
    used_v = np.empty(k, dtype=np.float64)
    starts = np.ones(k, dtype=np.bool_)
    starts[1:] = v.key[1:] != v.key[:-1]
    gstart = np.flatnonzero(starts)
    keys = v.key[gstart]
    # [G, 6] copy: mean, var, n, sum, sumsq, day (take: ~3x cheaper than state[keys])
    cur = state.take(keys, axis=0)
    gid = np.cumsum(starts) - 1
    depth = np.arange(k) - gstart[gid]
    top = int(depth.max()) + 1 if k else 0
    single = top == 1  # the usual batch: one visit per slot
    w = weight
    at: slice | Idx
    for j in range(top):
        at = slice(None) if single else np.flatnonzero(depth == j)
        c = cur if single else cur[gid[at]]
        pm, pv, n, day = c[:, 0], c[:, 1], c[:, 2], c[:, 5]
        vday = v.day[at]
        fresh = day != vday  # a later day: fold the accumulator, start a new one
        with np.errstate(invalid="ignore", divide="ignore"):
            m = c[:, 3] / n
            var = np.maximum(c[:, 4] / n - m * m, 0.0)
        d = m - pm
        first = np.isnan(pm)
        fm = np.where(first, m, pm + w * d)
        fv = np.where(first, var, (1.0 - w) * pv + w * var + w * (1.0 - w) * d * d)
        take = fresh & (n > 0)
        new = np.empty_like(c)
        new[:, 0] = np.where(take, fm, pm)
        new[:, 1] = np.where(take, fv, pv)
        keep = ~fresh
        new[:, 2] = np.where(keep, n, 0.0) + v.n[at]
        new[:, 3] = np.where(keep, c[:, 3], 0.0) + v.s[at]
        new[:, 4] = np.where(keep, c[:, 4], 0.0) + v.q[at]
        new[:, 5] = vday
        used_m[at], used_v[at] = new[:, 0], new[:, 1]
        acc[at] = new[:, 2:6]
        if single:
            cur = new
        else:
            cur[gid[at]] = new
    return used_m, used_v, acc, DailyUpdate(keys, cur)


@dataclass(frozen=True, slots=True)
class SeenVisits:
    """The batch's visits as the seasonal gate needs them, sorted by (key, day): flat key
    ``row * K + slot``, time of the visit's first reading, the profile it saw."""

    key: Idx
    start: I64
    mean: F64
    var: F64
    acc: F64  # [k, 4] the slot's accumulator after the visit: n, sum, sumsq, day


def _virtual_fold(pm: F64, pv: F64, acc: F64, day: F64, w: float) -> tuple[F64, F64]:
    """Profiles with each accumulator of an earlier day than ``day`` folded in."""
    n, s1, s2, aday = acc[..., 0], acc[..., 1], acc[..., 2], acc[..., 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s1 / n
        var = np.maximum(s2 / n - m * m, 0.0)
    d = m - pm
    first = np.isnan(pm)
    fm = np.where(first, m, pm + w * d)
    fv = np.where(first, var, (1.0 - w) * pv + w * var + w * (1.0 - w) * d * d)
    take = (aday < day) & (n > 0)
    return np.where(take, fm, pm), np.where(take, fv, pv)


def seasonal_gate(
    rows: npt.NDArray[np.int32],
    at: I64,
    state: F64,
    slots: int,
    visits: SeenVisits | None,
    strength: float,
    weight: float,
    offset_us: int = 0,
) -> npt.NDArray[np.bool_]:
    """Whether each series (daily ``rows``, -1: none) shows a daily pattern as of time ``at``.

    ``slots``: keys per row (``CLASSES * K``). From the profiles of its keys then (the
    stored ones, or those a visit of this batch before ``at`` saw): the series is seasonal
    when a quarter of its keys have a profile (at least two) and the variance *between*
    the keys' means is at least
    ``strength / (1 - strength)`` times the mean variance *within* a slot. A noisy series
    without a daily pattern has slot bands as wide as its whole range: judging it by the
    time of day would only blind the detectors to shifts inside that range.
    """
    p = rows.size
    out = np.zeros(p, dtype=np.bool_)
    have = np.flatnonzero(rows >= 0)
    if have.size == 0 or slots < 2:
        return out
    st = state.reshape(-1, slots, state.shape[1])
    # One contiguous gather of the rows, then columns (mixed fancy and sliced indexing
    # of the state costs several times more).
    block = st.take(rows[have], axis=0)  # a copy: its column views are ours to write
    pm = block[:, :, 0]
    pv = block[:, :, 1]
    acc = block[:, :, 2:6]
    if visits is not None and visits.key.size:
        if visits.key.size > 1 and bool((visits.key[1:] < visits.key[:-1]).any()):
            o = np.argsort(visits.key, kind="stable")  # a batch across midnight
            visits = SeenVisits(
                visits.key[o], visits.start[o], visits.mean[o], visits.var[o], visits.acc[o]
            )
        r = rows[have].astype(np.int64)
        lo = np.searchsorted(visits.key, r * slots)
        hi = np.searchsorted(visits.key, (r + 1) * slots)
        cnt = hi - lo
        pair_row = np.repeat(np.arange(have.size), cnt)
        v = np.repeat(lo, cnt) + (np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        keep = visits.start[v] < at[have][pair_row]
        pair_row, v = pair_row[keep], v[keep]
        slot = visits.key[v] % slots
        # Visits of a key are in day order: the last write (the latest visit) wins.
        pm[pair_row, slot] = visits.mean[v]
        pv[pair_row, slot] = visits.var[v]
        acc[pair_row, slot] = visits.acc[v]
    # A slot's last day is folded into its profile only when the slot is next visited; as
    # of ``at`` it counts already if that day is over.
    day = ((at[have] + offset_us) // US_PER_DAY).astype(np.float64)[:, None]
    # Keys that can hold a profile after the fold: one already, or a finished day's
    # accumulator to fold in. A row with too few of them is not seasonal (a series' first
    # day, every row of it): the fold and the sums below run only for the others.
    could = (~np.isnan(pm) | ((acc[:, :, 3] < day) & (acc[:, :, 0] > 0))).sum(axis=1)
    cand = np.flatnonzero((could * 4 >= slots) & (could >= 2))
    if cand.size == 0:
        return out
    if cand.size < have.size:
        have, pm, pv, acc, day = have[cand], pm[cand], pv[cand], acc[cand], day[cand]
    pm, pv = _virtual_fold(pm, pv, acc, day, weight)
    ok = ~np.isnan(pm)
    k = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, pm, 0.0).sum(axis=1) / k
        between = np.where(ok, (pm - mean[:, None]) ** 2, 0.0).sum(axis=1) / k
        within = np.where(ok, pv, 0.0).sum(axis=1) / k
        seasonal = (
            (k * 4 >= slots)
            & (k >= 2)
            & (between * (1.0 - strength) >= strength * within * (1.0 + GATE_TIE))
        )
    # The means must differ by more than rounding: with the latest day weighted 1 and a
    # repeated value, two keys' means are equal but for the last bit of one fold.
    scale2 = np.where(ok, pm * pm, 0.0).max(axis=1)
    out[have] = seasonal & (between > GATE_ROUNDING2 * scale2)
    return out


def _weekend_fallback(
    v: Visits, used_m: F64, used_v: F64, acc: F64, state: F64, slots: int, weight: float
) -> tuple[F64, F64]:
    """The profiles visits are judged by: their own, or for a weekend key without one,
    the working days' key of the slot as it stands on the visit's day (its state after its
    latest visit of this batch before that day, else the stored state; a finished day
    counted as folded in)."""
    fb = np.flatnonzero(np.isnan(used_m) & (v.key % (CLASSES * slots) >= slots))
    if fb.size == 0:
        return used_m, used_v
    k0, d = v.key[fb] - slots, v.day[fb]
    pm, pv, a = state[k0, 0].copy(), state[k0, 1].copy(), state[k0, 2:6].copy()
    # Visits of a key are in day order, and keys adjacent but not always ascending (a
    # batch across midnight): look the working days' visits up by one (key, day) number.
    vday = v.day.astype(np.int64)
    d0 = int(vday.min())
    span = int(vday.max()) - d0 + 2
    code = v.key.astype(np.int64) * span + (vday - d0)
    o = np.argsort(code, kind="stable")
    pos = np.searchsorted(code[o], k0.astype(np.int64) * span + (d.astype(np.int64) - d0)) - 1
    seen = pos >= 0
    seen[seen] = v.key[o[pos[seen]]] == k0[seen]
    j = o[pos[seen]]
    pm[seen], pv[seen], a[seen] = used_m[j], used_v[j], acc[j]
    fm, fv = _virtual_fold(pm, pv, a, d, weight)
    jm, jv = used_m.copy(), used_v.copy()
    jm[fb], jv[fb] = fm, fv
    return jm, jv


def daily_factor(
    sa: Idx,
    xa: F64,
    ta: I64,
    rows_of_series: npt.NDArray[np.int32],
    state: F64,
    floors: tuple[F64, F64, F64],
    slots: int,
    weight: float,
    offset_us: int = 0,
) -> tuple[
    F64 | None,
    F64 | None,
    DailyUpdate | None,
    SeenVisits | None,
    npt.NDArray[np.bool_] | None,
    F64 | None,
]:
    """``float64[m]`` factor (0: usual for the time of day, 1: not), ``float64[m]`` the
    profile mean each reading is judged by (NaN: none; the seasonal part that
    :func:`~._detect.detect` takes out of the EWMA deviation), the state update, the
    visits (for :func:`seasonal_gate`), ``bool[m]`` *unsure*: the series keeps a
    baseline but the reading's slot has no profile of its own day class yet (its first
    day, its first weekend: the time of day may explain what it shows, no one knows yet),
    and ``float64[m]`` the profile's spread (the square root of its variance; NaN: none).

    Args:
        sa, xa, ta: accepted readings in (series, time) order.
        rows_of_series: daily row of each series (-1: none).
        state: ``float64[rows * CLASSES * slots, 6]`` (``WindowStore.daily_state``).
        floors: per accepted reading ``(min_std2, min_rel_std, inv_daily_z)``.
        slots: ``K``, slots per day; offset_us: local time's offset from UTC.
    """
    rows = rows_of_series[sa]
    on = np.flatnonzero(rows >= 0)
    if on.size == 0:
        return None, None, None, None, None, None
    # Every reading of a series with a daily row (the usual batch): ``on`` is the identity.
    everything = on.size == rows.size
    x, t = (xa, ta) if everything else (xa[on], ta[on])
    day, slot = day_and_slot(t, slots, offset_us)
    key = (rows if everything else rows[on]).astype(np.intp) * (CLASSES * slots)
    key += slot.astype(np.intp)
    # Visits of one key must be adjacent. In (series, time) order they are, unless a batch
    # holds one slot of one series on two days: only then sort by key (stable: a key is
    # one series, so its time order is kept).
    ks, ds, xs, sel, ts = key, day, x, on, t
    if int(t.max()) - int(t.min()) >= US_PER_DAY - US_PER_DAY // slots:
        order = np.argsort(key, kind="stable")
        ks, ds, xs, sel, ts = key[order], day[order], x[order], on[order], t[order]
        everything = False  # ``sel`` is no longer the identity
    vs = np.ones(ks.size, dtype=np.bool_)
    vs[1:] = (ks[1:] != ks[:-1]) | (ds[1:] != ds[:-1])
    vstart = np.flatnonzero(vs)
    vn = np.diff(np.append(vstart, ks.size)).astype(np.float64)
    visits = Visits(
        ks[vstart],
        ds[vstart].astype(np.float64),
        vn,
        np.add.reduceat(xs, vstart),
        np.add.reduceat(xs * xs, vstart),
    )
    used_m, used_v, acc, upd = run_visits(visits, state, weight)
    judge_m, judge_v = _weekend_fallback(visits, used_m, used_v, acc, state, slots, weight)
    vid = np.cumsum(vs) - 1
    pm, pv = judge_m[vid], judge_v[vid]
    min_std2, min_rel, inv_z = floors if everything else (f[sel] for f in floors)
    rel = min_rel * pm
    with np.errstate(invalid="ignore"):
        z = np.abs(xs - pm) / np.sqrt(pv + min_std2 + rel * rel + 1e-24)
        usual = (inv_z > 0) & (z * inv_z < 1.0)  # False where there is no profile (NaN)
    seen = SeenVisits(visits.key, ts[vstart], used_m, used_v, acc)
    if everything:
        return np.where(usual, 0.0, 1.0), pm, upd, seen, np.isnan(used_m)[vid], np.sqrt(pv)
    factor = np.ones(xa.size, dtype=np.float64)
    factor[sel] = np.where(usual, 0.0, 1.0)
    level = np.full(xa.size, np.nan)
    level[sel] = pm
    unsure = np.zeros(xa.size, dtype=np.bool_)
    unsure[sel] = np.isnan(used_m)[vid]
    spread = np.full(xa.size, np.nan)
    spread[sel] = np.sqrt(pv)
    return factor, level, upd, seen, unsure, spread

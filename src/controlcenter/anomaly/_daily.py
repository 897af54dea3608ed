"""Daily baseline: what each time of day looked like on the days before (load metrics).

For series whose profile sets ``daily_z``, the day (UTC) is cut into ``K`` slots. Per slot a
series keeps a *profile* (mean and variance of its values in that slot on earlier days,
weighted towards the latest day by ``daily_weight``) and an *accumulator* of the current
day's visit (count, sum, sum of squares, day). When a reading arrives in a slot on a later
day than its accumulator, the accumulator is folded into the profile first. A reading is
judged against the profile only, i.e. against earlier days, never against today.

A value within ``daily_z`` spreads of the profile's mean is usual for this time of day (a
shift start's ramp): its robust z, EWMA z and CUSUM input are set to 0.

Within a batch, the readings of one (series, slot, day) form a *visit*; all of them see the
same profile, so no per-reading scan is needed; a batch that spans several days of one slot
folds its visits one depth at a time (a loop over visits per slot: the days in the batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Idx = npt.NDArray[np.intp]
State = tuple[F64, F64, F64, F64, F64, I64]

__all__ = ["DailyUpdate", "Visits", "daily_factor", "day_and_slot", "fold", "run_visits"]

US_PER_DAY = 86_400_000_000


def day_and_slot(t: I64, slots: int) -> tuple[I64, I64]:
    """UTC day number and slot of each time (microseconds since the epoch)."""
    day = t // US_PER_DAY
    slot = (t - day * US_PER_DAY) * slots // US_PER_DAY
    return day, slot


def fold(pm: F64, pv: F64, n: F64, s: F64, q: F64, weight: float) -> tuple[F64, F64]:
    """The profile after taking in an accumulator (where ``n > 0``).

    The first day sets it; a later day mixes in with ``weight``: mean ``pm + w d`` and the
    variance of the mixture, ``(1 - w) pv + w v + w (1 - w) d**2``.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s / n
        v = np.maximum(q / n - m * m, 0.0)
    has = n > 0
    first = has & np.isnan(pm)
    later = has & ~np.isnan(pm)
    d = m - pm
    mix = (1.0 - weight) * pv + weight * v + weight * (1.0 - weight) * d * d
    out_m = np.where(first, m, np.where(later, pm + weight * d, pm))
    out_v = np.where(first, v, np.where(later, mix, pv))
    return out_m, out_v


@dataclass(frozen=True, slots=True)
class Visits:
    """Visits sorted by (key, day); ``key`` is the flat position ``row * K + slot``."""

    key: Idx
    day: I64
    n: F64
    s: F64
    q: F64


@dataclass(frozen=True, slots=True)
class DailyUpdate:
    """The state to write back per touched key."""

    key: Idx
    mean: F64
    var: F64
    n: F64
    s: F64
    q: F64
    day: I64


def run_visits(v: Visits, state: State, weight: float) -> tuple[F64, F64, DailyUpdate]:
    """Profile (mean, variance) each visit sees, and the final state per key."""
    k = v.key.size
    used_m = np.empty(k, dtype=np.float64)
    used_v = np.empty(k, dtype=np.float64)
    starts = np.ones(k, dtype=np.bool_)
    starts[1:] = v.key[1:] != v.key[:-1]
    gstart = np.flatnonzero(starts)
    gid = np.cumsum(starts) - 1
    depth = np.arange(k) - gstart[gid]
    keys = v.key[gstart]
    mean, var, n, s, q, d = state
    pm, pv, an = mean[keys].copy(), var[keys].copy(), n[keys].copy()
    asum, asq, aday = s[keys].copy(), q[keys].copy(), d[keys].copy()
    top = int(depth.max()) + 1 if k else 0
    for j in range(top):
        at = np.flatnonzero(depth == j)
        grp = gid[at]
        same = aday[grp] == v.day[at]
        # A later day: fold the accumulator into the profile and start a new one.
        fm, fv = fold(pm[grp], pv[grp], an[grp], asum[grp], asq[grp], weight)
        new_m = np.where(same, pm[grp], fm)
        new_v = np.where(same, pv[grp], fv)
        used_m[at], used_v[at] = new_m, new_v
        pm[grp], pv[grp] = new_m, new_v
        an[grp] = np.where(same, an[grp], 0.0) + v.n[at]
        asum[grp] = np.where(same, asum[grp], 0.0) + v.s[at]
        asq[grp] = np.where(same, asq[grp], 0.0) + v.q[at]
        aday[grp] = v.day[at]
    return used_m, used_v, DailyUpdate(keys, pm, pv, an, asum, asq, aday)


def daily_factor(
    sa: Idx,
    xa: F64,
    ta: I64,
    rows_of_series: npt.NDArray[np.int32],
    state: State,
    floors: tuple[F64, F64, F64],
    slots: int,
    weight: float,
) -> tuple[F64 | None, DailyUpdate | None]:
    """``float64[m]`` factor (0: usual for the time of day, 1: not) and the state update.

    Args:
        sa, xa, ta: accepted readings in (series, time) order.
        rows_of_series: daily row of each series (-1: none).
        state: flat ``(mean, var, n, sum, sumsq, day)`` arrays of ``rows * slots``.
        floors: per accepted reading ``(min_std2, min_rel_std, inv_daily_z)``.
    """
    rows = rows_of_series[sa]
    on = np.flatnonzero(rows >= 0)
    if on.size == 0:
        return None, None
    x, t = xa[on], ta[on]
    day, slot = day_and_slot(t, slots)
    key = rows[on].astype(np.intp) * slots + slot.astype(np.intp)
    order = np.argsort(key, kind="stable")  # a key is one series: time order is kept
    ks, ds, xs = key[order], day[order], x[order]
    vs = np.ones(ks.size, dtype=np.bool_)
    vs[1:] = (ks[1:] != ks[:-1]) | (ds[1:] != ds[:-1])
    vstart = np.flatnonzero(vs)
    vn = np.diff(np.append(vstart, ks.size)).astype(np.float64)
    visits = Visits(
        ks[vstart], ds[vstart], vn, np.add.reduceat(xs, vstart), np.add.reduceat(xs * xs, vstart)
    )
    used_m, used_v, upd = run_visits(visits, state, weight)
    vid = np.cumsum(vs) - 1
    pm, pv = used_m[vid], used_v[vid]
    sel = on[order]
    min_std2, min_rel, inv_z = floors[0][sel], floors[1][sel], floors[2][sel]
    rel = min_rel * pm
    with np.errstate(invalid="ignore"):
        z = np.abs(xs - pm) / np.sqrt(pv + min_std2 + rel * rel + 1e-24)
        usual = (inv_z > 0) & (z * inv_z < 1.0)  # False where there is no profile (NaN)
    factor = np.ones(xa.size, dtype=np.float64)
    factor[sel] = np.where(usual, 0.0, 1.0)
    return factor, upd

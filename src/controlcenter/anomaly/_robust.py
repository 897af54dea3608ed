"""Robust statistics (median, MAD, usual interval) refreshed at fixed lifetime counts.

Before the reading whose lifetime number ``p`` is a positive multiple of ``R``, a series'
median, MAD and median gap are recomputed from its readings ``p - W .. p - 1``. Those may lie
partly in the ring and partly earlier in the same batch; one ``(rows, W)`` gather serves all
refreshes of a batch, then one partition (or sort, for windows not yet full) per statistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly._batch import Prepared
from controlcenter.anomaly.profile import COLUMNS
from controlcenter.anomaly.window import WindowStore

if TYPE_CHECKING:
    from controlcenter.anomaly.engine import EngineConfig

__all__ = ["MAD_TO_SIGMA", "Refresh", "masked_median", "refresh_rows", "stats_per_reading"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: MAD of a normal distribution times this is its standard deviation.
MAD_TO_SIGMA = 1.4826
_TINY = 1e-24
_COL = {name: i for i, name in enumerate(COLUMNS)}


@dataclass(frozen=True, slots=True)
class Refresh:
    """Refresh rows of a batch, in (segment, lifetime) order; ``[P]`` arrays.

    Attributes:
        group: ``intp[P]`` segment of each row; first: ``int64[G]`` lifetime number of each
            segment's first refresh; offset: ``int64[G]`` its first row.
        median, sigma: ``float64[P]``; ok: ``bool[P]`` enough readings; interval_us:
            ``float64[P]`` median gap (NaN when unknown).
    """

    group: npt.NDArray[np.intp]
    first: I64
    offset: I64
    median: F64
    sigma: F64
    ok: npt.NDArray[np.bool_]
    interval_us: F64


def masked_median(m: F64, valid: I64) -> F64:
    """Row medians of ``float64[P, K]`` whose first ``K - valid`` entries are NaN (missing)."""
    k = m.shape[1]
    if m.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    if bool((valid == k).all()):
        part = np.partition(m, [(k - 1) // 2, k // 2], axis=1)
        lo, hi = part[:, (k - 1) // 2], part[:, k // 2]
    else:
        srt = np.sort(m, axis=1)  # NaN sort last
        c = np.maximum(valid, 1)
        rows = np.arange(m.shape[0])
        lo, hi = srt[rows, (c - 1) // 2], srt[rows, c // 2]
    out: F64 = (lo + hi) * 0.5
    return out


def _gather(
    prep: Prepared, store: WindowStore, group: npt.NDArray[np.intp], p: I64
) -> tuple[F64, I64]:
    w = store.window
    c0 = store.count[prep.gs][group][:, None]
    q = p[:, None] - w + np.arange(w)
    series = prep.gs[group][:, None]
    ring_v = store.values[series, q % w]
    ring_t = store.times[series, q % w]
    in_batch = q >= c0
    pos = np.where(in_batch, prep.gstart[group][:, None] + (q - c0), 0)
    a = prep.acc[pos]
    vals = np.where(in_batch, prep.x[a], ring_v)
    vals[q < 0] = np.nan
    times = np.where(in_batch, prep.t[a], ring_t)
    return vals, times


def refresh_rows(prep: Prepared, store: WindowStore, table: F64, cfg: EngineConfig) -> Refresh:
    """Compute the robust statistics of every refresh that falls inside this batch."""
    r, w = cfg.refresh, store.window
    c0 = store.count[prep.gs]
    first = (np.maximum(c0, 1) + r - 1) // r * r
    last = (c0 + prep.gsize - 1) // r * r
    rows = np.maximum((last - first) // r + 1, 0)
    offset = np.cumsum(rows) - rows
    group = np.repeat(np.arange(prep.gs.size), rows)
    p = first[group] + r * (np.arange(group.size) - offset[group])
    vals, times = _gather(prep, store, group, p)
    valid = np.minimum(p, w)
    med = masked_median(vals, valid)
    mad = masked_median(np.abs(vals - med[:, None]), valid)
    prof = store.profile[prep.gs][group]
    rel = table[prof, _COL["min_rel_std"]] * med
    sd = MAD_TO_SIGMA * mad
    sigma = np.sqrt(sd * sd + table[prof, _COL["min_std2"]] + rel * rel + _TINY)
    gaps = np.diff(times, axis=1).astype(np.float64)
    gaps[np.isnan(vals[:, :-1])] = np.nan
    interval = masked_median(gaps, valid - 1) if w > 1 else np.full(p.size, np.nan)
    interval[valid < 2] = np.nan
    return Refresh(group, first, offset, med, sigma, valid >= cfg.min_history, interval)


def stats_per_reading(
    prep: Prepared, store: WindowStore, ref: Refresh, n_life: I64, refresh: int
) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
    """Median, sigma and validity in force for each accepted reading (``[m]`` arrays)."""
    gid = prep.gid
    r_at = n_life // refresh * refresh
    fresh = (r_at > 0) & (r_at >= store.count[prep.gs][gid])
    med = store.median[prep.gs][gid]
    sigma = store.sigma[prep.gs][gid]
    ok = store.robust_ok[prep.gs][gid]
    if ref.group.size:
        idx = np.flatnonzero(fresh)
        row = ref.offset[gid[idx]] + (r_at[idx] - ref.first[gid[idx]]) // refresh
        med[idx] = ref.median[row]
        sigma[idx] = ref.sigma[row]
        ok[idx] = ref.ok[row]
    return med, sigma, ok

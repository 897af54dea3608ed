"""Calibration: how unusual a reading's detector evidence is for *its* series.

The statistical detectors (robust z, EWMA z, CUSUM shift, and the per-sensor relation
detector) give an *evidence* ``e >= 0`` per reading, in units of their absolute thresholds.
On real signals the same ``e`` means very different things: a noisy kW feed, a quantised
count or a flat-lining sensor each has its own usual evidence. So every series also learns
the distribution of its own evidence, in the log domain ``g = log1p(e)``, and a reading's
*calibrated* evidence is how many spreads above that distribution's centre it lies:
``c = (g - mean) / sqrt(var + floor**2) / cal_z`` (1 = ``cal_z`` spreads, the threshold).

The distribution is learnt in *blocks*: the readings between two robust refreshes (every
``refresh`` readings of a series, at fixed lifetime counts) accumulate their ``g``,
winsorised at ``mean + wins * spread`` (floored) of the distribution in force, so an anomaly hardly
moves it; at the next refresh the block is folded into the distribution (an exponentially
weighted mean and variance over blocks, the latest block weighted ``max(beta, 1 / blocks)``).
Within a block the distribution is fixed, so results do not depend on how readings were
split into batches, and readings are judged only against blocks before them.
Calibration counts once ``cal_min_blocks`` blocks were folded; before that a reading is
judged by its evidence alone, made ``warmup`` times harder: ``c = e / warmup`` (0: off,
``c = 0``). A series' first hours are not blind to a fault many thresholds high, and its
usual wobbles, not yet learnt, need far more than the threshold.

Vectorised: readings are processed in *generations* (0 before a series' first refresh in
this batch, 1 after it, ...); a loop runs over generations (one or two in a live batch, one
per ``refresh`` readings for a long run of one series), each a handful of whole-array ops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["CalState", "Calibration", "calibrate", "fold"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Idx = npt.NDArray[np.intp]


@dataclass(slots=True)
class CalState:
    """Calibration state per segment (``[G]`` arrays), copied from and back to the store."""

    mean: F64
    var: F64
    blocks: I64
    bn: F64
    bsum: F64
    bsumsq: F64
    hi: F64


@dataclass(frozen=True, slots=True)
class Calibration:
    """``c``: ``float64[m]`` calibrated evidence (0 before calibration); ``state``: final."""

    c: F64
    state: CalState


def fold(st: CalState, at: Idx, beta: float, wins: float, floor: float) -> None:
    """Fold the accumulated block of segments ``at`` into their distribution (in place)."""
    n = st.bn[at]
    has = n > 0
    at = at[has]
    if at.size == 0:
        return
    n = n[has]
    # Block sums are of g - mean (the mean is fixed during a block): no cancellation.
    dm = st.bsum[at] / n
    bv = np.maximum(st.bsumsq[at] / n - dm * dm, 0.0)
    blocks = st.blocks[at]
    w = np.maximum(beta, 1.0 / (blocks + 1.0))
    first = blocks == 0
    pm, pv = st.mean[at], st.var[at]
    bm = pm + dm
    d = dm
    st.mean[at] = np.where(first, bm, pm + w * d)
    st.var[at] = np.where(first, bv, (1.0 - w) * pv + w * bv + w * (1.0 - w) * d * d)
    st.blocks[at] = blocks + 1
    st.bn[at] = 0.0
    st.bsum[at] = 0.0
    st.bsumsq[at] = 0.0
    # With the spread's floor: sqrt near 0 would turn rounding into a different bound.
    st.hi[at] = st.mean[at] + wins * np.sqrt(st.var[at] + floor * floor)


def calibrate(
    e: F64,
    valid: npt.NDArray[np.bool_],
    gid: Idx,
    gen: I64,
    st: CalState,
    inv_cal_z: F64,
    *,
    beta: float,
    wins: float,
    floor: float,
    min_blocks: int,
    warmup: float = 0.0,
) -> Calibration:
    """Calibrated evidence of each accepted reading, in (series, time) order.

    Args:
        e: ``float64[m]`` each reading's evidence (learnt as ``g = log1p(e)``).
        valid: ``bool[m]`` the evidence exists (enough history); others neither count
            nor learn.
        gid: ``intp[m]`` segment of each reading; gen: ``int64[m]`` refreshes of its series
            in this batch at or before it (a fold happens before each reading that starts
            a generation > 0).
        st: the segments' state before the batch (updated in place to the state after).
        inv_cal_z: ``float64[m]`` ``1 / cal_z`` of each reading's profile (0: off).
        warmup: before ``min_blocks`` blocks, ``c = e / warmup`` (0: ``c = 0``).
    """
    g = np.log1p(e)
    c = np.zeros(g.size, dtype=np.float64)
    # The first reading of each generation (where a fold happens before it).
    first = np.ones(g.size, dtype=np.bool_)
    first[1:] = (gen[1:] != gen[:-1]) | (gid[1:] != gid[:-1])
    top = int(gen.max()) + 1 if gen.size else 0
    single = top == 1
    n_seg = st.mean.size
    inv_warmup = 1.0 / warmup if warmup > 0 else 0.0
    for j in range(top):
        # The readings of generation j, in order (a stable argsort of int64 costs ~10x).
        sel: slice | Idx = slice(None) if single else np.flatnonzero(gen == j)
        if j > 0:
            # Segments whose j-th refresh falls inside this batch fold their block first.
            fold(st, gid[sel][first[sel]], beta, wins, floor)
        gs, ok, seg = g[sel], valid[sel], gid[sel]
        ready = ok & (st.blocks[seg] >= min_blocks)
        mean = st.mean[seg]
        z = (gs - mean) / np.sqrt(st.var[seg] + floor * floor)
        cs = np.where(ready, np.maximum(z, 0.0) * inv_cal_z[sel], 0.0)
        if inv_warmup:
            # Before min_blocks, the evidence alone, warmup times harder. From ``e`` itself:
            # ``expm1(log1p(e))`` is off by an ulp either way (numpy's and libm's
            # differently), and a capped evidence (a CUSUM at ``2 h``: 2.0) made ``c``
            # 0.5 - 1 ulp on one side and 0.5 on the other, the episodes' off level.
            early = np.flatnonzero(ok & ~ready)
            cs[early] = e[sel][early] * inv_warmup
        c[sel] = cs
        learn = np.where(ok, np.minimum(gs, st.hi[seg]) - mean, 0.0)
        w = ok.astype(np.float64)
        st.bn += np.bincount(seg, weights=w, minlength=n_seg)
        st.bsum += np.bincount(seg, weights=learn, minlength=n_seg)
        st.bsumsq += np.bincount(seg, weights=learn * learn, minlength=n_seg)
    return Calibration(c, st)

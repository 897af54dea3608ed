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

The bar is ``cal_z`` spreads, or ``tail_k`` times the series' *tail level* where higher:
the geometric mean of its blocks' largest calibrated z (a heavy-tailed series). A series
whose profile learns the *long tail* (:class:`LongTail`, the generic profile) also keeps
the geometric mean of its largest z over ``span`` blocks at a time, from block ``after``
on, and the higher of the two levels counts: rare bursts, absent from most single blocks.

Vectorised: readings are processed in *generations* (0 before a series' first refresh in
this batch, 1 after it, ...); a loop runs over generations (one or two in a live batch, one
per ``refresh`` readings for a long run of one series), each a handful of whole-array ops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["CalState", "Calibration", "LongTail", "calibrate", "fold", "gather", "scatter"]

#: A block's maximum is learnt as at most this many times the tail level in force (an
#: anomaly raises the level by at most ``(3 ** w - 1)``: 1.7% at the usual weight 1/64).
TAIL_CAP = 3.0
#: Smallest block maximum learnt (a block whose evidence stayed at or below its mean).
TAIL_FLOOR = 0.1

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
    tail: F64
    bmax: F64
    ltail: F64
    lbmax: F64


#: The state's fields, kept as ``cal_<field>`` columns by the stores.
FIELDS = tuple(CalState.__dataclass_fields__)


def gather(store: object, rows: Idx) -> CalState:
    """The calibration state of ``rows`` of a store (copies)."""
    return CalState(*(getattr(store, "cal_" + f)[rows] for f in FIELDS))


def scatter(store: object, rows: Idx, st: CalState) -> None:
    """Write ``st`` back to ``rows`` of a store."""
    for f in FIELDS:
        getattr(store, "cal_" + f)[rows] = getattr(st, f)


@dataclass(frozen=True, slots=True)
class Calibration:
    """``c``: ``float64[m]`` calibrated evidence (0 before calibration); ``state``: final."""

    c: F64
    state: CalState


@dataclass(frozen=True, slots=True)
class LongTail:
    """The long tail's settings: maxima over ``span`` blocks, from block ``after`` on."""

    span: int
    after: int


def fold(
    st: CalState,
    at: Idx,
    beta: float,
    wins: float,
    floor: float,
    tail_after: int,
    long: LongTail | None = None,
    tail_start: float = np.inf,
) -> None:
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
    # The tail level: the geometric mean of the blocks' largest calibrated z, from block
    # ``tail_after`` on (earlier blocks were judged against a distribution of one or two
    # blocks, whose maxima say little), each capped at TAIL_CAP times the level in force,
    # the first at ``tail_start``.
    tail = st.tail[at]
    with np.errstate(divide="ignore"):
        wt = np.maximum(beta, 1.0 / (blocks - tail_after + 1.0))
    stepped = _stepped(tail, st.bmax[at], wt, tail_start)
    st.tail[at] = np.where(blocks < tail_after, tail, stepped)
    st.bmax[at] = 0.0
    if long is not None:
        _fold_long(st, at, blocks, beta, long, tail_start)
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


def _fold_long(
    st: CalState, at: Idx, blocks: I64, beta: float, long: LongTail, start: float
) -> None:
    """The long tail level: as the tail level, over the maxima of ``span`` blocks at a
    time (from block ``after`` on: a rare burst needs a long history to be seen as usual),
    stepped at every ``span``-th fold with weight ``max(span * beta, 1 / spans)``. Only
    series that learn it (``lbmax > 0``) step."""
    u = blocks - long.after
    due = (u >= 0) & ((u + 1) % long.span == 0)
    lbmax = st.lbmax[at]
    ltail = st.ltail[at]
    step = due & (lbmax > 0)
    if step.any():
        with np.errstate(divide="ignore"):
            wt = np.maximum(beta * long.span, 1.0 / ((u + 1) // long.span))
        st.ltail[at] = np.where(step, _stepped(ltail, lbmax, wt, start), ltail)
    st.lbmax[at] = np.where(due | (u < 0), 0.0, lbmax)


def _stepped(level: F64, bmax: F64, wt: F64, start: float) -> F64:
    """A tail level after learning a maximum: the geometric step ``level * (b / level) **
    wt`` towards ``b`` (``bmax`` floored at TAIL_FLOOR, capped at TAIL_CAP times the level
    in force), or for a level not learnt yet (0) ``b`` itself, capped at ``start``: one
    spike in the first block would otherwise set the level alone (the next blocks'
    maxima step it with weights 1/2, 1/3, ...), and the bar above a fault hours later."""
    b = np.maximum(bmax, TAIL_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        stepped = level * (np.minimum(b, TAIL_CAP * level) / level) ** wt
    out: F64 = np.where(level > 0, stepped, np.minimum(b, start))
    return out


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
    tail_k: float = 0.0,
    tail_after: int = 3,
    tail_start: float = np.inf,
    long: LongTail | None = None,
    learn_long: npt.NDArray[np.bool_] | None = None,
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
        tail_start: the first tail level learnt is at most this (both levels).
        long, learn_long: the long tail's settings, and ``bool[m]`` the readings that
            learn it (their profile's ``long_tail``; None: none).
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
            fold(st, gid[sel][first[sel]], beta, wins, floor, tail_after, long, tail_start)
        gs, ok, seg = g[sel], valid[sel], gid[sel]
        blocks = st.blocks[seg]
        ready = ok & (blocks >= min_blocks)
        mean = st.mean[seg]
        z = (gs - mean) / np.sqrt(st.var[seg] + floor * floor)
        iz = inv_cal_z[sel]
        # The bar is cal_z spreads, or tail_k times the series' usual block maximum (or
        # its usual maximum over ``long.span`` blocks) where that is higher (a heavy-tailed
        # or bursty series); 0 before the tail level is learnt.
        bar = np.maximum(1.0, (tail_k * np.maximum(st.tail[seg], st.ltail[seg])) * iz)
        cs = np.where(ready, np.maximum(z, 0.0) * iz / bar, 0.0)
        _block_max(st.bmax, seg, np.where(ok & (blocks >= tail_after), z, 0.0))
        if long is not None and learn_long is not None and learn_long.any():
            lz = np.where(ok & learn_long[sel] & (blocks >= long.after), z, 0.0)
            _block_max(st.lbmax, seg, lz)
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


def _block_max(bmax: F64, seg: Idx, z: F64) -> None:
    """``bmax[s] = max(bmax[s], z of s's readings)`` (in place): ``seg`` in runs, each
    segment in one run (readings in (segment, time) order)."""
    if seg.size == 0:
        return
    change = seg[1:] != seg[:-1]
    if change.all():  # the usual live batch: one reading per segment
        bmax[seg] = np.maximum(bmax[seg], z)
        return
    head = np.flatnonzero(np.r_[True, change])
    at = seg[head]
    bmax[at] = np.maximum(bmax[at], np.maximum.reduceat(z, head))

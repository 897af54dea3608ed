"""Batch preparation: order by (series, time), split accepted from rejected, find segments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly._scan import Passes, int_mod, stable_order
from controlcenter.anomaly.window import WindowStore
from controlcenter.domain import Batch

__all__ = ["Prepared", "prepare"]

Idx = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch in (series, time) order with its per-series segments.

    Attributes:
        order: ``intp[n]`` batch position of each sorted reading.
        s, t, x: ``int32[n]``, ``int64[n]``, ``float64[n]`` sorted readings.
        acc: ``intp[m]`` sorted positions of accepted readings (finite, within limits, new).
        sa, ta, xa: the accepted readings themselves (``[m]``; views when all are accepted);
            ``sa`` is ``intp``, ready for indexing.
        rejected_bad: ``intp[r]`` sorted positions of impossible readings.
        gstart, glast: ``intp[G]`` first/last position (in ``acc``) of each series' segment.
        gs: ``intp[G]`` series id of each segment; gsize: ``int64[G]`` its length.
        gid: ``intp[m]`` segment of each accepted reading; rank: ``int64[m]`` its position
            inside the segment.
        passes: the segments' doubling passes, for every scan of the batch (``_scan.py``).
    """

    order: Idx
    s: npt.NDArray[np.int32]
    t: npt.NDArray[np.int64]
    x: npt.NDArray[np.float64]
    acc: Idx
    sa: Idx
    ta: npt.NDArray[np.int64]
    xa: npt.NDArray[np.float64]
    rejected_bad: Idx
    gstart: Idx
    glast: Idx
    gs: Idx
    gsize: npt.NDArray[np.int64]
    gid: Idx
    rank: npt.NDArray[np.int64]
    passes: Passes


def _order(batch: Batch) -> Idx:
    """Positions that sort ``batch`` by (series, time), stably.

    A stable order is unique, so any stable sort gives the same positions; the cheapest is
    a radix sort of the ids (:func:`~controlcenter.anomaly._scan.stable_order`: ~40 us for
    10,000 readings, 8x cheaper than numpy's sort of a packed int64 key).
    """
    t = batch.time
    n = len(t)
    if batch.by_series:  # sorted (and deduplicated) once, by the writer
        return np.arange(n, dtype=np.intp)
    by_time: Idx | None = None
    if n > 1 and not bool((t[1:] >= t[:-1]).all()):
        by_time = np.argsort(t, kind="stable")
    s = batch.series if by_time is None else batch.series[by_time]
    if n and int(s.min()) >= 0:
        order = stable_order(s, int(s.max()).bit_length())
    else:
        # Negative ids (refused later by the engine): one int64 key ``series * n + position``.
        key = s.astype(np.int64) * n + np.arange(n, dtype=np.int64)
        key.sort()
        order = int_mod(key, n).astype(np.intp)
    return order if by_time is None else by_time[order]


def prepare(batch: Batch, store: WindowStore) -> Prepared:
    """Sort ``batch`` and classify its readings against the series' current state."""
    order = _order(batch)
    s, t, x = batch.series[order], batch.time[order], batch.value[order]
    # intp indices gather 2-3x faster than int32 ones (numpy converts those on every use).
    si = s.astype(np.intp)
    ok = (x >= store.lo.take(si)) & (x <= store.hi.take(si)) & np.isfinite(x)
    rejected_bad = np.flatnonzero(~ok)
    new = np.flatnonzero(ok & (t > store.last_time.take(si)))
    if new.size > 1:
        # Of readings with the same (series, time) only the first is taken (every reading
        # new, the usual batch: neighbours compared in place, no gathers).
        sn, tn = (s, t) if new.size == len(s) else (s[new], t[new])
        dup = (sn[1:] == sn[:-1]) & (tn[1:] == tn[:-1])
        if dup.any():
            new = new[np.concatenate(([True], ~dup))]
    acc = new
    m = acc.size
    everything = m == len(s)
    sa = si if everything else si[acc]
    starts = np.ones(m, dtype=np.bool_)
    starts[1:] = sa[1:] != sa[:-1]
    gstart = np.flatnonzero(starts)
    gid = np.cumsum(starts) - 1
    glast = np.empty_like(gstart)
    glast[:-1] = gstart[1:] - 1
    if m:
        glast[-1] = m - 1
    rank = np.arange(m, dtype=np.int64) - gstart[gid]
    return Prepared(
        order=order,
        s=s,
        t=t,
        x=x,
        acc=acc,
        sa=sa,
        ta=t if everything else t[acc],
        xa=x if everything else x[acc],
        rejected_bad=rejected_bad,
        gstart=gstart,
        glast=glast,
        gs=sa[gstart],
        gsize=(glast - gstart + 1).astype(np.int64),
        gid=gid,
        rank=rank,
        passes=Passes.of(rank),
    )

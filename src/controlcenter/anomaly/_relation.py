"""Relation detector: the metrics of one sensor stop moving together the way they did.

Many faults show first as a broken relation between the metrics of one device (pump
current against flow and pressure; kW against current and voltage; PM10 against PM2.5)
before any single metric is extreme. Per sensor, the detector watches the vector of its
metrics' standardised residuals ``r`` (each metric's deviation from its EWMA mean in robust
sigmas, clipped to +-6), one vector per time at which *every* metric of the sensor reported:

- a multivariate EWMA ``Z = (1 - lam) Z + lam r`` (small persistent changes add up);
- the running mean ``mu`` and covariance ``C`` of ``Z`` (weights ``max(1 / k, 1 / W)``), so
  whatever correlation and autocorrelation the metrics normally have is learnt;
- with ``P`` the inverse of ``C`` taken at the last refresh (every ``refresh`` vectors, at
  fixed vector counts), each metric's *conditional* z-score ``(P (Z - mu))_j / sqrt(P_jj)``:
  how far it is from what the other metrics' deviations predict. Metrics that move
  together as usual (a shift starting: kW and current up at once) score little; one that
  leaves the others (flow falls while current holds) scores high; evidence: the largest,
  over ``relation_z``, counted only while no metric of the vector shows evidence of its
  own (``>= 1``): the detector is for what no single metric shows.

That evidence goes through the same calibration and episode machinery as a series'
(``_calibrate.py``, ``_episode.py``), per sensor. Its effective severity is added (by max) to
the score of the reading of the metric that departs most from the others (when that reading
is in the batch), and an episode's onset (or growth) is one ``relation`` event there.

A vector is formed when the last of its metrics arrives; readings of one (sensor, time)
split over batches are joined through a pending vector kept per sensor (only the latest
time; older ones can no longer complete). Everything is vectorised over vectors (segmented
scans) and over sensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly._calibrate import CalState, calibrate, gather, scatter
from controlcenter.anomaly._episode import EpisodeResult, episodes
from controlcenter.anomaly._relation_store import MAX_SLOTS, RelationStore
from controlcenter.anomaly._scan import Passes, affine_scan, int_mod, put_rows, stable_order

if TYPE_CHECKING:
    from controlcenter.anomaly._config import EngineConfig

__all__ = ["MAX_SLOTS", "RelationResult", "RelationStore", "conditional_z", "relation"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Idx = npt.NDArray[np.intp]

#: Residuals are clipped here before they enter the vector.
RESIDUAL_CLIP = 6.0


def conditional_z(inv: F64, dev: F64) -> F64:
    """``|z|`` of each metric's deviation given the others' (``float64[n, k]``).

    With ``P`` the inverse covariance, ``(P dev)_j / sqrt(P_jj)`` is the standardised
    residual of regressing metric ``j``'s deviation on the other metrics' (a Gaussian
    identity): large when a metric left its usual relation to the others, small when all
    of them moved together the way they always do (a shift starting). Slots beyond a
    sensor's metrics (``P_jj = 0``) give 0.

    >>> p = np.linalg.inv(np.array([[1.0, 0.9], [0.9, 1.0]]))[None]
    >>> together, apart = np.array([[2.0, 2.0]]), np.array([[2.0, -2.0]])
    >>> bool(conditional_z(p, together).max() < conditional_z(p, apart).max())
    True
    """
    pd = np.matmul(inv, dev[:, :, None])[:, :, 0]
    diag = inv.diagonal(axis1=1, axis2=2)  # a view (einsum "nii->ni" copies, slowly)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: F64 = np.where(diag > 0, np.abs(pd) / np.sqrt(diag), 0.0)
    return out


@dataclass(frozen=True, slots=True)
class RelationResult:
    """What the relation detector found in a batch.

    Attributes:
        member: ``intp[k]`` positions (in the accepted readings) of the readings that carry
            a complete vector's severity (its most departing metric, when in this batch);
            member_x: ``float64[k]`` that severity.
        ev_series, ev_time, ev_value, ev_x, ev_start: events at episode onsets and growth.
    """

    member: Idx
    member_x: F64
    ev_series: npt.NDArray[np.int32]
    ev_time: I64
    ev_value: F64
    ev_x: F64
    ev_start: I64

    @staticmethod
    def empty() -> RelationResult:
        e = np.zeros(0)
        i = np.zeros(0, dtype=np.intp)
        return RelationResult(
            i, e, i.astype(np.int32), i.astype(np.int64), e, e, i.astype(np.int64)
        )


@dataclass(frozen=True, slots=True)
class _Groups:
    """Readings grouped by (sensor row, time); ``[q]`` arrays, one per group."""

    row: I64
    time: I64
    r: F64  # [q, width] residuals (pending ones merged in)
    x: F64  # [q, width] values
    e: F64  # [q] largest evidence of the metrics' own detectors
    u: npt.NDArray[np.bool_]  # [q] one of them is in a slot with no profile yet
    mask: I64
    order: Idx  # reading positions sorted by (row, time)
    at: Idx  # [q, width] position in ``order`` of each (group, slot)'s reading, -1: none


def _groups(
    rs: RelationStore,
    row: I64,
    slot: I64,
    t: I64,
    r: F64,
    x: F64,
    e: F64,
    u: npt.NDArray[np.bool_],
    idx: Idx,
) -> _Groups | None:
    if idx.size == 0:
        return None
    srow, sslot, st = row[idx], slot[idx], t[idx]
    t0 = int(st.min())
    t_bits = (int(st.max()) - t0).bit_length()
    bits = t_bits + int(srow.max()).bit_length()
    if bits <= 62:
        key = (srow << t_bits) | (st - t0)  # one int64 key: (sensor row, time)
        # Often already in order (a sensor's metrics have neighbouring ids, one time each).
        o = None if bool((key[1:] >= key[:-1]).all()) else stable_order(key, bits)
    else:
        o = np.lexsort((st, srow))
    order = idx if o is None else idx[o]
    if o is not None:
        srow, sslot, st = srow[o], sslot[o], st[o]
    new = np.ones(order.size, dtype=np.bool_)
    new[1:] = (srow[1:] != srow[:-1]) | (st[1:] != st[:-1])
    start = np.flatnonzero(new)
    gid = np.cumsum(new) - 1
    q = start.size
    grow, gt = srow[start], st[start]
    gr = np.zeros((q, rs.width))
    gx = np.zeros((q, rs.width))
    mask = np.zeros(q, dtype=np.int64)
    # The pending vector of a sensor joins the group at its time.
    pend = gt == rs.pend_t[grow]
    at = np.flatnonzero(pend)
    put_rows(gr, at, rs.pend_r.take(grow[at], axis=0))
    put_rows(gx, at, rs.pend_x.take(grow[at], axis=0))
    mask[pend] = rs.pend_mask[grow[pend]]
    ge = np.maximum.reduceat(e[order], start) if q else np.zeros(0)
    ge[pend] = np.maximum(ge[pend], rs.pend_e[grow[pend]])
    gu = np.logical_or.reduceat(u[order], start) if q else np.zeros(0, dtype=np.bool_)
    gu[pend] |= rs.pend_u[grow[pend]]
    cell = gid * rs.width + sslot  # flat (group, slot): cheaper than a 2-D scatter
    gr.reshape(-1)[cell] = r[order]
    gx.reshape(-1)[cell] = x[order]
    slot_pos = np.full((q, rs.width), -1, dtype=np.intp)
    slot_pos.reshape(-1)[cell] = np.arange(order.size)
    mask |= np.bitwise_or.reduceat(np.left_shift(1, sslot), start) if q else mask
    # Groups older than the sensor's pending time can never complete.
    live = gt >= rs.pend_t[grow]
    return _Groups(grow, gt, gr, gx, ge, gu, np.where(live, mask, 0), order, slot_pos)


def relation(
    rs: RelationStore,
    series_row: I64,
    series_slot: I64,
    sa: Idx,
    t: I64,
    x: F64,
    zdev: F64,
    own: F64,
    unsure: npt.NDArray[np.bool_],
    valid: npt.NDArray[np.bool_],
    cfg: EngineConfig,
    *,
    commit: bool,
) -> RelationResult:
    """Run the detector over the accepted readings (``sa`` series, ``t``, ``x``, ``zdev``;
    ``own``: each reading's evidence from its own statistical detectors; ``unsure``: the
    time of day may explain a break: its slot of the day has no profile of its day class
    yet, or its series shows a daily pattern)."""
    row, slot = series_row[sa], series_slot[sa]
    idx = np.flatnonzero((row >= 0) & valid)
    r = np.clip(zdev, -RESIDUAL_CLIP, RESIDUAL_CLIP)
    g = _groups(rs, row, slot, t, r, x, own, unsure, idx)
    if g is None:
        return RelationResult.empty()
    full = np.left_shift(1, rs.d[g.row]) - 1
    done = (g.mask == full) & (rs.d[g.row] >= 2)
    last = np.ones(g.row.size, dtype=np.bool_)
    last[:-1] = g.row[1:] != g.row[:-1]
    if commit:
        # The latest group of each sensor becomes its pending vector (complete ones too:
        # nothing can join them any more, and a later time replaces them).
        lr = g.row[last]
        newer = g.time[last] >= rs.pend_t[lr]
        lr = lr[newer]
        sel = np.flatnonzero(last)[newer]
        rs.pend_t[lr], rs.pend_mask[lr] = g.time[sel], g.mask[sel]
        put_rows(rs.pend_r, lr, g.r.take(sel, axis=0))
        put_rows(rs.pend_x, lr, g.x.take(sel, axis=0))
        rs.pend_e[lr] = g.e[sel]
        rs.pend_u[lr] = g.u[sel]
    vec = np.flatnonzero(done)
    if vec.size == 0:
        return RelationResult.empty()
    return _score_vectors(rs, g, vec, cfg, commit=commit)


def _score_vectors(
    rs: RelationStore, g: _Groups, vec: Idx, cfg: EngineConfig, *, commit: bool
) -> RelationResult:
    vrow, vt = g.row[vec], g.time[vec]
    vr = g.r.take(vec, axis=0)
    m = vec.size
    starts = np.ones(m, dtype=np.bool_)
    starts[1:] = vrow[1:] != vrow[:-1]
    gstart = np.flatnonzero(starts)
    gid = np.cumsum(starts) - 1
    rank = np.arange(m, dtype=np.int64) - gstart[gid]
    glast = np.empty_like(gstart)  # (``np.r_`` costs ~50 us here)
    glast[:-1] = gstart[1:] - 1
    glast[-1] = m - 1
    segrow = vrow[gstart]
    k = rs.count[vrow] + rank  # vectors seen before each one
    lam = cfg.relation_lambda
    passes = Passes.of(rank)  # the same segments for the three scans
    za, zb = affine_scan(np.full(m, 1.0 - lam), lam * vr, passes, own_b=True)
    z = za[:, None] * rs.z.take(vrow, axis=0) + zb
    alpha = np.maximum(1.0 / (k + 1.0), 1.0 / cfg.relation_memory)
    ma, mb = affine_scan(1.0 - alpha, alpha[:, None] * z, passes, own_b=True)
    mean = ma[:, None] * rs.mean.take(vrow, axis=0) + mb
    mean_prev = np.empty_like(mean)
    mean_prev[1:] = mean[:-1]
    put_rows(mean_prev, gstart, rs.mean.take(segrow, axis=0))
    dev = z - mean_prev
    # ``dev_i * dev_j`` per cell as flat [m, width**2] rows: a broadcast product of
    # [m, w, 1] and [m, 1, w] runs numpy's inner loop on w floats at a time (2x slower).
    cell_i, cell_j = np.divmod(np.arange(rs.width * rs.width), rs.width)
    outer = (dev[:, cell_i] * dev[:, cell_j]).reshape(m, rs.width, rs.width)
    np.multiply(((1.0 - alpha) * alpha)[:, None, None], outer, out=outer)
    ca, cb = affine_scan(1.0 - alpha, outer, passes, own_b=True)

    def cov_after(i: Idx) -> F64:
        """The covariance after vectors ``i``: needed only before a refresh and at each
        sensor's last vector, so it is not formed for the others."""
        out: F64 = ca.take(i)[:, None, None] * rs.cov.take(vrow.take(i), axis=0)
        out += cb.take(i, axis=0)  # (take: cheaper than fancy indexing)
        return out

    # Inverse in force: from the covariance before the last refresh (every ``refresh``
    # vectors, phase by sensor row) at or before each vector.
    rf = cfg.refresh
    phase = int_mod(vrow, rf)
    refresh_now = (k > 0) & (int_mod(k + phase, rf) == 0)
    at = np.flatnonzero(refresh_now)
    cov_prev = np.where(
        (rank[at] > 0)[:, None, None],
        cov_after(np.maximum(at - 1, 0)),
        rs.cov.take(vrow[at], axis=0),
    )
    d = rs.d[vrow]
    inv_new = _inverse(cov_prev, d[at], cfg.relation_ridge)
    src = np.maximum.accumulate(np.where(refresh_now, np.arange(m), -1))
    has_src = src >= gstart[gid]
    inv = rs.inv.take(vrow, axis=0)
    has_inv = rs.has_inv[vrow].copy()
    if refresh_now.any():
        pos = np.cumsum(refresh_now) - 1  # index into inv_new of each refresh row
        take = np.flatnonzero(has_src)
        put_rows(inv, take, inv_new.take(pos[src[take]], axis=0))
        has_inv[take] = True
    cz = conditional_z(inv, dev)
    # Only a relation no single metric shows counts: when a metric's own detectors already
    # see the change (a step at a shift start), its relation to the others is no news.
    warm = has_inv & (k >= cfg.min_history) & (g.e[vec] < 1.0)
    top = np.argmax(cz, axis=1)
    e = np.where(warm, np.minimum(cz[np.arange(m), top] / cfg.relation_z, 1e6), 0.0)
    # Calibration and episodes, as for a series, per sensor.
    # Refreshes of the sensor in this batch at or before each vector.
    before = np.cumsum(refresh_now)
    gen = before - (before[gstart] - refresh_now[gstart])[gid]
    cal = calibrate(
        e,
        warm,
        gid,
        gen,
        gather(rs, segrow),  # (fancy indexing copies)
        np.full(m, 1.0 / cfg.relation_cal_z),
        beta=cfg.cal_beta,
        wins=cfg.cal_wins,
        floor=cfg.cal_floor,
        min_blocks=cfg.cal_min_blocks,
        warmup=cfg.cal_warmup,
        tail_k=cfg.cal_tail_k,
        tail_after=cfg.cal_tail_after,
        tail_start=cfg.cal_tail_start,
    )
    s = np.where(warm, np.minimum(e, cal.c), 0.0)
    # A first day's new regime (a shift starting) may move the metrics' relation as well,
    # and so may any day's in a sensor whose metrics follow the time of day (they relate
    # one way at night's idle and another under load; one all-day covariance cannot
    # know): there only a clearer break counts (the calibration still learns the evidence
    # as it is).
    s = np.where(g.u[vec], s / cfg.unsure_scale, s)
    ep = episodes(
        s,
        vt,
        gstart,
        glast,
        gid,
        rank,
        (rs.ep_on[segrow], rs.ep_below[segrow], rs.ep_peak[segrow], rs.ep_start[segrow]),
        off_level=cfg.off_level,
        off_k=cfg.off_k,
        growth=cfg.growth,
    )
    if commit:
        _commit(rs, segrow, glast, z, mean, cov_after(glast), inv, has_inv, k, cal.state, ep)
    return _result(rs, g, vec, vrow, vt, top, ep)


def _inverse(cov: F64, d: I64, ridge: float) -> F64:
    """Regularised inverses of stacked covariances; slots beyond ``d`` are left out (0)."""
    if cov.shape[0] == 0:
        return cov
    k = cov.shape[1]
    used = np.arange(k)[None, :] < d[:, None]
    diag = np.einsum("nii->ni", cov)
    reg = cov + np.einsum("ni,ij->nij", diag * ridge + 1e-12, np.eye(k))
    if used.all():  # every sensor as wide as the store (the usual case): nothing to mask
        full: F64 = np.linalg.inv(reg)
        return full
    pair = used[:, :, None] & used[:, None, :]
    reg = np.where(pair, reg, 0.0)
    reg[:, np.arange(k), np.arange(k)] += ~used
    out: F64 = np.linalg.inv(reg)
    out = np.where(pair, out, 0.0)
    return out


def _commit(
    rs: RelationStore,
    segrow: I64,
    glast: Idx,
    z: F64,
    mean: F64,
    cov_last: F64,
    inv: F64,
    has_inv: npt.NDArray[np.bool_],
    k: I64,
    cal: CalState,
    ep: EpisodeResult,
) -> None:
    put_rows(rs.z, segrow, z.take(glast, axis=0))
    put_rows(rs.mean, segrow, mean.take(glast, axis=0))
    put_rows(rs.cov, segrow, cov_last)
    put_rows(rs.inv, segrow, inv.take(glast, axis=0))
    rs.has_inv[segrow] = has_inv[glast]
    rs.count[segrow] = k[glast] + 1
    scatter(rs, segrow, cal)
    rs.ep_on[segrow], rs.ep_below[segrow] = ep.on, ep.below
    rs.ep_peak[segrow], rs.ep_start[segrow] = ep.peak, ep.started


def _result(
    rs: RelationStore,
    g: _Groups,
    vec: Idx,
    vrow: I64,
    vt: I64,
    top: Idx,
    ep: EpisodeResult,
) -> RelationResult:
    # The reading (in this batch) of the metric that departs most from the others carries
    # the vector's severity; the other metrics' readings keep their own scores.
    pos = g.at[vec, top]
    mine = pos >= 0
    member = g.order[pos[mine]]
    member_x = ep.x[mine]
    hit = np.flatnonzero(ep.onset | ep.grow)
    return RelationResult(
        member=member,
        member_x=member_x,
        ev_series=rs.slot_series[vrow[hit], top[hit]],
        ev_time=vt[hit],
        ev_value=g.x[vec[hit], top[hit]],
        ev_x=ep.x[hit],
        ev_start=ep.start[hit],
    )

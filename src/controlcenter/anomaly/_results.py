"""What a scored batch leaves behind: the state written back and the events emitted."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly._batch import Prepared
from controlcenter.anomaly._calibrate import scatter
from controlcenter.anomaly._detect import Severities
from controlcenter.anomaly._scan import int_mod
from controlcenter.anomaly.events import Detector, Events, severity_to_score
from controlcenter.anomaly.window import WindowStore

__all__ = ["batch_events", "write_back"]


def write_back(st: WindowStore, prep: Prepared, sev: Severities) -> None:
    """Write a scored batch back into the series' state: rings, window sums, EWMAs,
    CUSUMs, runs, calibration, episodes, daily baselines and refreshed statistics."""
    w = st.window
    a = prep.acc
    if a.size == 0:
        return
    s, n_life = prep.sa, sev.n_life
    gs = prep.gs
    # One reading per series (the usual batch): each is its series' last, no gather.
    single = prep.gstart.size == a.size
    last: slice | npt.NDArray[np.intp] = slice(None) if single else prep.glast
    # Running window sums lose what the ring overwrites (read before writing).
    old = n_life >= w
    # Flat positions in the (S, W) rings: 1-D fancy indexing is cheaper than 2-D.
    flat = s.astype(np.intp) * w + int_mod(n_life, w)
    # Value and time of one slot share a cache line (``WindowStore.ring``).
    ring_v = st.ring.reshape(-1, 2)[:, 0]
    first = st.count[gs] == 0
    if single:
        shift = np.where(first, prep.xa, st.shift[gs])
        xs = prep.xa - shift
        es = np.where(old, ring_v[flat] - shift, 0.0)
        st.shift[gs] = shift
        st.wsum[gs] += xs - es
        st.wsumsq[gs] += xs * xs - es * es
        st.write_ring(flat, prep.xa, prep.ta)
    else:
        # No series has more than W readings here (the usual case): every evicted value
        # is in the ring (slots of one series are distinct), and every reading survives.
        fits = int(prep.gsize.max()) <= w
        if fits:
            evicted = ring_v[flat]
        else:
            evicted = np.zeros(a.size, dtype=np.float64)
            in_ring = old & (prep.rank < w)
            evicted[in_ring] = ring_v[flat[in_ring]]
            in_batch = old & ~in_ring
            evicted[in_batch] = prep.xa[np.flatnonzero(in_batch) - w]
        shift = np.where(first, prep.xa[prep.gstart], st.shift[gs])
        sh = shift[prep.gid]
        xs = prep.xa - sh
        es = np.where(old, evicted - sh, 0.0)
        st.shift[gs] = shift
        st.wsum[gs] += np.add.reduceat(xs - es, prep.gstart)
        st.wsumsq[gs] += np.add.reduceat(xs * xs - es * es, prep.gstart)
        if fits:
            st.write_ring(flat, prep.xa, prep.ta)
        else:
            # Ring: only each series' last W readings of the batch survive.
            keep = prep.rank >= (prep.gsize[prep.gid] - w)
            st.write_ring(flat[keep], prep.xa[keep], prep.ta[keep])
    st.count[gs] += prep.gsize
    st.last_time[gs] = prep.ta[last]
    st.last_value[gs] = prep.xa[last]
    st.ewm_mean[gs] = sev.ewm_mean[last]
    st.ewm_var[gs] = sev.ewm_var[last]
    st.ewm_level[gs] = sev.ewm_level[last]
    st.ref_mean[gs] = sev.ref_mean[last]
    st.cusum_pos[gs] = sev.cusum_pos[last]
    st.cusum_neg[gs] = sev.cusum_neg[last]
    st.run[gs] = sev.run[last]
    st.changes[gs] = sev.changes[last]
    st.run_start[gs] = sev.run_start[last]
    st.silent[gs] = False
    if sev.daily is not None:
        st.write_daily(sev.daily.key, sev.daily.values)
    cal, ep = sev.cal, sev.ep
    scatter(st, gs, cal)
    st.ep_on[gs], st.ep_below[gs], st.ep_peak[gs], st.ep_start[gs] = (
        ep.on,
        ep.below,
        ep.peak,
        ep.started,
    )
    ref = sev.refresh
    if ref.group.size:
        # Rows are in (group, time) order, so the last write per group wins.
        g = gs[ref.group]
        st.median[g] = ref.median
        st.wmin[g] = ref.wmin
        st.wmax[g] = ref.wmax
        st.runmax[g] = ref.runmax
        st.sigma[g] = ref.sigma
        st.robust_ok[g] = ref.ok
        st.interval_us[g] = ref.interval_us
        st.resolution[g] = ref.res
        st.step[g] = ref.step
        st.seasonal[g] = ref.seasonal


def batch_events(prep: Prepared, sev: Severities) -> Events:
    """The events of a scored batch: exact detectors per reading, relation and
    statistical episodes at their onsets (and growth), sorted."""
    parts = []
    rej = prep.rejected_bad
    if rej.size:
        parts.append(_event_rows(prep, rej, Detector.LIMIT, np.full(rej.size, sev.limit_severity)))
    for det, x in sev.per_detector():
        hit = np.flatnonzero(x >= 1.0)
        if hit.size:
            parts.append(_event_rows(prep, prep.acc[hit], det, x[hit]))
    rel = sev.rel
    if rel.ev_series.size:
        parts.append(
            Events(
                rel.ev_series,
                rel.ev_time,
                np.full(rel.ev_series.size, Detector.RELATION, dtype=np.uint8),
                rel.ev_value,
                severity_to_score(rel.ev_x),
                rel.ev_start,
            )
        )
    # Statistical detectors: one event where an episode opens (or grows), named after the
    # detector with the strongest evidence, carrying the episode's onset time.
    ep = sev.ep
    hit = np.flatnonzero(ep.onset | ep.grow)
    if hit.size:
        idx = prep.acc[hit]
        parts.append(
            Events(
                prep.s[idx],
                prep.t[idx],
                sev.stat_detector(hit),
                prep.x[idx],
                severity_to_score(ep.x[hit]),
                ep.start[hit],
            )
        )
    if not parts:
        return Events.empty()
    return Events.concat(parts).sorted()


def _event_rows(
    prep: Prepared, idx: npt.NDArray[np.intp], det: Detector, x: npt.NDArray[np.float64]
) -> Events:
    t = prep.t[idx]
    return Events(
        prep.s[idx],
        t,
        np.full(idx.size, det, dtype=np.uint8),
        prep.x[idx],
        severity_to_score(x),
        t,
    )

"""Episodes: an anomaly has an onset and an end; a condition that persists is one alarm.

Per series, a reading's statistical severity ``s`` (1 = threshold) drives a two-state
machine: an episode *opens* at a reading with ``s >= 1`` and *ends* after ``off_k`` readings
in a row with ``s < off_level``. Scores follow the episode:

- outside an episode, the effective severity is ``s`` itself (``>= 1`` exactly at an onset);
- inside, it is ``s / (growth * peak)``, ``peak`` the largest ``s`` of the episode before
  the reading: it reaches 1 again only when the evidence grows ``growth`` times past
  anything the episode showed (a second, stronger stage), never because it simply persists.

Vectorised as a set/reset flip-flop: the state after a reading is "the last onset-capable
reading (``s >= 1``) is later than the last end (``off_k``-th reading of a below run)",
found with running maxima of positions; the running peak per episode with one running
maximum over each episode's readings (a doubling scan).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["EpisodeResult", "episodes"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Idx = npt.NDArray[np.intp]
B = npt.NDArray[np.bool_]

#: Severities are capped here (finite, and far above any threshold).
_CAP = 1e6


def _running_max(v: F64, key: I64) -> F64:
    """Running maximum of ``v`` within runs of equal ``key`` (Hillis-Steele doubling)."""
    m = v.size
    if m == 0:
        return v
    pos = np.arange(m, dtype=np.int64)
    new = np.ones(m, dtype=np.bool_)
    new[1:] = key[1:] != key[:-1]
    rank = pos - np.maximum.accumulate(np.where(new, pos, 0))
    out = v.copy()
    longest = int(rank.max()) + 1
    d = 1
    while d < longest:
        idx = np.flatnonzero(rank[d:] >= d) + d
        out[idx] = np.maximum(out[idx], out[idx - d])
        d *= 2
    return out


def _last_true(flag: B, pos: I64) -> I64:
    """Position of the latest ``True`` at or before each reading (-1: none yet); often a
    batch has no end or onset at all (then no scan)."""
    if not flag.any():
        return np.full(pos.size, -1, dtype=np.int64)
    out: I64 = np.maximum.accumulate(np.where(flag, pos, -1))
    return out


def _below_run(low: B, pos: I64, rank: I64, below_in: I64) -> I64:
    """Readings since the last reading that was not low, at each reading (0 where not
    low), carrying in ``below_in`` (the run each reading's segment ended its last batch with)."""
    last_not_low = np.maximum.accumulate(np.where(~low, pos, -1)) if pos.size else pos
    run = np.where(last_not_low >= pos - rank, pos - last_not_low, below_in + rank + 1)
    out: I64 = np.where(low, run, 0)
    return out


@dataclass(frozen=True, slots=True)
class EpisodeResult:
    """Per accepted reading (``[m]``) and per segment (``[G]``, the state after the batch).

    Attributes:
        x: effective severity of each reading (see the module).
        onset: the reading opened an episode; grow: it grew an open one ``growth`` times.
        start: time of the onset of the episode the reading belongs to (or its own time).
        on, below, peak, started: the state after each segment's last reading.
    """

    x: F64
    onset: B
    grow: B
    start: I64
    on: B
    below: I64
    peak: F64
    started: I64


def episodes(
    s: F64,
    t: I64,
    gstart: Idx,
    glast: Idx,
    gid: Idx,
    rank: I64,
    state: tuple[B, I64, F64, I64],
    *,
    off_level: float,
    off_k: int,
    growth: float,
) -> EpisodeResult:
    """Run the episode machine over readings in (series, time) order.

    Args:
        s: ``float64[m]`` statistical severity of each reading (>= 0).
        t: ``int64[m]`` reading times.
        gstart, glast, gid, rank: segment layout (see ``Prepared``).
        state: per segment before the batch: in an episode, readings of the current
            below run, the episode's peak, its onset time.
    """
    if s.size and s.size == gstart.size:
        return _one_each(s, t, state, off_level=off_level, off_k=off_k, growth=growth)
    return _active_only(
        s, t, gstart, glast, gid, rank, state, off_level=off_level, off_k=off_k, growth=growth
    )


def _active_only(
    s: F64,
    t: I64,
    gstart: Idx,
    glast: Idx,
    gid: Idx,
    rank: I64,
    state: tuple[B, I64, F64, I64],
    *,
    off_level: float,
    off_k: int,
    growth: float,
) -> EpisodeResult:
    """:func:`_scanned` over the segments that are in an episode or open one in this
    batch only (usually a few): in every other segment no reading is a member, so each
    reading's severity is ``s`` itself, its start its own time, and only the below run
    (the same formula as the scan's) is carried on."""
    m = s.size
    on0, below0, _, _ = state
    sc = np.minimum(s, _CAP)
    active = on0.copy()
    active[gid[np.flatnonzero(sc >= 1.0)]] = True  # (hot readings are few: no reduceat)
    n_active = int(np.count_nonzero(active))
    if m == 0 or 2 * n_active > active.size:
        return _scanned(
            s, t, gstart, glast, gid, rank, state, off_level=off_level, off_k=off_k, growth=growth
        )
    # The below run at each segment's last reading, as in _scanned.
    pos = np.arange(m, dtype=np.int64)
    run_last = _below_run(sc < off_level, pos, rank, below0[gid])[glast]
    x = sc
    onset = np.zeros(m, dtype=np.bool_)
    grow = np.zeros(m, dtype=np.bool_)
    start = t.copy()
    on = np.zeros(active.size, dtype=np.bool_)
    below = np.minimum(run_last, off_k + 1)
    peak = np.zeros(active.size, dtype=np.float64)
    started = t[glast]
    if n_active:
        seg = np.flatnonzero(active)
        size = glast[seg] - gstart[seg] + 1
        sub_last = np.cumsum(size) - 1
        sub_start = sub_last - size + 1
        sel = np.arange(sub_last[-1] + 1) + np.repeat(gstart[seg] - sub_start, size)
        sub = _scanned(
            s[sel],
            t[sel],
            sub_start,
            sub_last,
            np.repeat(np.arange(seg.size), size),
            rank[sel],
            (on0[seg], below0[seg], state[2][seg], state[3][seg]),
            off_level=off_level,
            off_k=off_k,
            growth=growth,
        )
        x[sel] = sub.x
        onset[sel], grow[sel], start[sel] = sub.onset, sub.grow, sub.start
        on[seg], below[seg], peak[seg], started[seg] = sub.on, sub.below, sub.peak, sub.started
    return EpisodeResult(
        x=x, onset=onset, grow=grow, start=start, on=on, below=below, peak=peak, started=started
    )


def _scanned(
    s: F64,
    t: I64,
    gstart: Idx,
    glast: Idx,
    gid: Idx,
    rank: I64,
    state: tuple[B, I64, F64, I64],
    *,
    off_level: float,
    off_k: int,
    growth: float,
) -> EpisodeResult:
    """:func:`episodes` for any segment layout (running maxima of positions)."""
    m = s.size
    on0, below0, peak0, start0 = state
    pos = np.arange(m, dtype=np.int64)
    seg0 = pos - rank  # the segment's start
    s = np.minimum(s, _CAP)
    hot = s >= 1.0
    low = s < off_level
    run = _below_run(low, pos, rank, below0[gid])
    # The off_k-th low reading in a row ends an episode (a longer run carried in ends nothing).
    end = low & (run == off_k)
    last_hot = _last_true(hot, pos)
    last_end = _last_true(end, pos)
    in_seg_hot = last_hot >= seg0
    in_seg_end = last_end >= seg0
    after = np.where(
        in_seg_hot | in_seg_end,
        np.where(in_seg_hot, last_hot, -1) > np.where(in_seg_end, last_end, -1),
        on0[gid],
    )
    before = np.empty(m, dtype=np.bool_)
    if m:
        before[1:] = after[:-1]
        before[gstart] = on0
    onset = hot & ~before
    member = before | onset
    # One key per (segment, episode), increasing along the array: onsets so far plus the
    # segment's index (the episode carried into a segment gets a key of its own).
    key = np.cumsum(onset) + gid
    # Running peak inside each episode (members only); the carried-in peak seeds the
    # episode open at the segment start.
    seed = np.zeros(m, dtype=np.float64)
    if m:
        seed[gstart] = np.where(on0, peak0, 0.0)
    val = np.where(member, np.maximum(s, np.where(onset, 0.0, seed)), 0.0)
    # Only members' running peaks are read (below: ``inside`` and the last reading while
    # ``after``), and the others' values are 0 (severities are >= 0): scan members only.
    mem = np.flatnonzero(member)
    if mem.size == m:
        run_peak = _running_max(val, key)
    else:
        run_peak = np.zeros(m, dtype=np.float64)
        run_peak[mem] = _running_max(val[mem], key[mem])
    prev_peak = np.empty(m, dtype=np.float64)
    if m:
        prev_peak[1:] = run_peak[:-1]
        prev_peak[gstart] = np.where(on0, peak0, 0.0)
    inside = before  # in an episode before this reading (onsets are judged as s itself)
    denom = growth * np.maximum(prev_peak, 1.0)
    x = np.where(inside, s / denom, s)
    grow = inside & (x >= 1.0)
    # Onset time of each member's episode.
    last_onset = _last_true(onset, pos)
    has_onset = last_onset >= seg0
    start = np.where(
        member,
        np.where(has_onset, t[np.maximum(last_onset, 0)], start0[gid]),
        t,
    )
    return EpisodeResult(
        x=x,
        onset=onset,
        grow=grow,
        start=start,
        on=after[glast] if m else on0,
        below=np.minimum(run[glast], off_k + 1) if m else below0,
        peak=np.where(after[glast], run_peak[glast], 0.0) if m else peak0,
        started=start[glast] if m else start0,
    )


def _one_each(
    s: F64,
    t: I64,
    state: tuple[B, I64, F64, I64],
    *,
    off_level: float,
    off_k: int,
    growth: float,
) -> EpisodeResult:
    """:func:`episodes` when every segment holds one reading (the usual batch: no scans).

    The same steps with the running maxima reduced to the reading itself.
    """
    on0, below0, peak0, start0 = state
    s = np.minimum(s, _CAP)
    hot = s >= 1.0
    low = s < off_level
    run = np.where(low, below0 + 1, 0)
    after = hot | (on0 & ~(low & (run == off_k)))
    onset = hot & ~on0
    prev_peak = np.where(on0, peak0, 0.0)
    x = np.where(on0, s / (growth * np.maximum(prev_peak, 1.0)), s)
    grow = on0 & (x >= 1.0)
    start = np.where(on0, start0, t)
    peak = np.where(after, np.where(on0, np.maximum(s, prev_peak), s), 0.0)
    return EpisodeResult(
        x=x,
        onset=onset,
        grow=grow,
        start=start,
        on=after,
        below=np.minimum(run, off_k + 1),
        peak=peak,
        started=start,
    )

"""The NAB scoring rules (Numenta Anomaly Benchmark), and SKAB's changepoint variant.

Implemented from the published definition (Lavin & Ahmad, "Evaluating Real-time Anomaly
Detection Algorithms - the Numenta Anomaly Benchmark", 2015, and NAB's scorer):

- Each labelled anomaly has a *window* of rows. A detection is a row whose score reaches the
  threshold. Only the first rows of a file are a *probation* period (the detector learns):
  ``min(floor(0.15 * rows), 750)``; nothing there counts.
- In a window, only the earliest detection counts, rewarded ``tp * sigma(p) / sigma(-1)``
  with the scaled sigmoid ``sigma(p) = 2 / (1 + exp(5 p)) - 1`` of its relative position
  ``p = -(right - i + 1) / width`` (-1 at the window's left edge, near 0 at its right edge):
  early detection earns more. A window without a detection costs ``fn``.
- Every detection outside a window costs ``fp * sigma(p)`` (a negative number), ``p`` its
  distance past the end of the preceding window in that window's widths (a detection just
  after a window costs little; one far from any window, or before the first, costs ``fp``).
- Profiles (weights ``tp, fp, fn``): standard (1, 0.11, 1), low FP (1, 0.22, 1), low FN
  (1, 0.11, 2). A corpus's score is normalised so that the *null* detector (no detection:
  ``-fn`` per window) scores 0 and the *perfect* one (every window at its left edge: ``tp``
  per window) scores 100. NAB reports the score at the threshold that maximises it over
  the corpus (:func:`optimise`); :func:`score_at` gives it at a fixed threshold.

SKAB's leaderboard scores *changepoints* with a variant (its ``tsad`` library,
:func:`skab_changepoints`): predicted changepoints are the rows where the binary alarm flips
(either way), windows run ``60 s`` to the right of each labelled changepoint, a window's
first prediction earns a tanh ramp from ``tp`` (left edge) to ``-fp`` (right edge), every
other prediction outside windows costs ``fp`` flat, and a missed window ``fn``.

>>> rows = score_file(np.array([0.0, 0.0, 0.9, 0.0, 0.0, 0.0, 0.0, 0.8, 0.0, 0.0]),
...                   [(1, 3)], probation=0)
>>> round(normalised([rows], 0.5)["standard"], 1)  # the only window found, one late FP
91.7
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "PROFILES",
    "FileRows",
    "normalised",
    "optimise",
    "probation_rows",
    "scaled_sigmoid",
    "score_at",
    "score_file",
    "skab_changepoints",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: ``name: (tp, fp, fn)`` weights of NAB's three application profiles.
PROFILES: dict[str, tuple[float, float, float]] = {
    "standard": (1.0, 0.11, 1.0),
    "low_fp": (1.0, 0.22, 1.0),
    "low_fn": (1.0, 0.11, 2.0),
}


def scaled_sigmoid(p: F64) -> F64:
    """``2 / (1 + exp(5 p)) - 1``, and -1 from ``p >= 3`` (NAB's reward curve)."""
    with np.errstate(over="ignore"):
        out: F64 = np.where(p >= 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * p)) - 1.0)
    return out


_MAX_TP = float(scaled_sigmoid(np.array([-1.0]))[0])


def probation_rows(n: int, fraction: float = 0.15) -> int:
    """NAB's probationary period of a file of ``n`` rows."""
    return int(min(math.floor(fraction * n), fraction * 5000))


@dataclass(frozen=True, slots=True)
class FileRows:
    """One file's scorable rows (probation removed).

    Attributes:
        score: ``float64[k]`` detector scores.
        window: ``int64[k]`` the window a row lies in (-1: none), numbered per file.
        tp_unit: ``float64[k]`` reward of a detection there per unit ``tp`` (windows).
        fp_unit: ``float64[k]`` cost of a detection there per unit ``fp`` (outside; <= 0).
        windows: number of windows with at least one scorable row.
    """

    score: F64
    window: I64
    tp_unit: F64
    fp_unit: F64
    windows: int


def score_file(
    scores: npt.ArrayLike, windows: Sequence[tuple[int, int]], probation: int | None = None
) -> FileRows:
    """Prepare one file: ``windows`` are ``(first_row, last_row)`` inclusive, in order."""
    s = np.asarray(scores, dtype=np.float64)
    n = s.size
    prob = probation_rows(n) if probation is None else probation
    window = np.full(n, -1, dtype=np.int64)
    tp_unit = np.zeros(n)
    fp_unit = np.full(n, -1.0)  # before the first window: p = 3, sigma = -1
    i = np.arange(n, dtype=np.float64)
    for k, (lo, hi) in enumerate(windows):
        lo, hi = max(int(lo), 0), min(int(hi), n - 1)
        if hi < lo:
            continue
        width = float(hi - lo + 1)
        window[lo : hi + 1] = k
        pos = -(hi - i[lo : hi + 1] + 1.0) / width
        tp_unit[lo : hi + 1] = scaled_sigmoid(pos) / _MAX_TP
        after = slice(hi + 1, n)
        denom = max(width - 1.0, 1.0)
        fp_unit[after] = scaled_sigmoid(np.abs(i[after] - hi) / denom)
    keep = slice(prob, n)
    win = window[keep]
    return FileRows(s[keep], win, tp_unit[keep], fp_unit[keep], int(np.unique(win[win >= 0]).size))


def _file_score(f: FileRows, threshold: float, tp: float, fp: float, fn: float) -> float:
    hit = f.score >= threshold
    total = fp * float(f.fp_unit[hit & (f.window < 0)].sum())
    ids = np.unique(f.window[f.window >= 0])
    for k in ids.tolist():
        inside = hit & (f.window == k)
        total += tp * float(f.tp_unit[inside].max()) if inside.any() else -fn
    return total


def score_at(files: Sequence[FileRows], threshold: float) -> dict[str, tuple[float, float, float]]:
    """``profile: (score, null, perfect)`` raw sums over ``files`` at ``threshold``."""
    out = {}
    n_win = sum(f.windows for f in files)
    for name, (tp, fp, fn) in PROFILES.items():
        raw = sum(_file_score(f, threshold, tp, fp, fn) for f in files)
        out[name] = (raw, -fn * n_win, tp * n_win)
    return out


def normalised(files: Sequence[FileRows], threshold: float) -> dict[str, float]:
    """Normalised NAB score per profile at a fixed threshold (null 0, perfect 100)."""
    return {k: _norm(*v) for k, v in score_at(files, threshold).items()}


def _norm(raw: float, null: float, perfect: float) -> float:
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def optimise(files: Sequence[FileRows]) -> dict[str, tuple[float, float]]:
    """``profile: (best normalised score, its threshold)`` over every distinct score.

    One pass per profile: rows in decreasing score; a window's value is the best reward
    among its detections so far, so lowering the threshold past a row adds the row's FP
    cost or its window's improvement (cumulative sums, evaluated at the end of each run
    of equal scores).
    """
    if not files:
        return dict.fromkeys(PROFILES, (0.0, 1.0))
    offset = np.cumsum([0] + [int(f.window.max(initial=-1)) + 1 for f in files])
    score = np.concatenate([f.score for f in files])
    window = np.concatenate(
        [np.where(f.window >= 0, f.window + o, -1) for f, o in zip(files, offset, strict=False)]
    )
    tp_u = np.concatenate([f.tp_unit for f in files])
    fp_u = np.concatenate([f.fp_unit for f in files])
    order = np.argsort(-score, kind="stable")
    score, window, tp_u, fp_u = score[order], window[order], tp_u[order], fp_u[order]
    n_win = sum(f.windows for f in files)
    inside = window >= 0
    # Per window: running best reward in score order; the gain each row brings.
    idx = np.flatnonzero(inside)
    by_win = idx[np.argsort(window[idx], kind="stable")]
    w = window[by_win]
    best = tp_u[by_win].copy()
    starts = np.ones(w.size, dtype=np.bool_)
    starts[1:] = w[1:] != w[:-1]
    # running max per window (keys increase along by_win)
    best = _grouped_running_max(best, np.cumsum(starts))
    prev = np.empty_like(best)
    prev[1:] = best[:-1]
    out = {}
    last = np.ones(score.size, dtype=np.bool_)
    last[:-1] = score[:-1] != score[1:]
    for name, (tp, fp, fn) in PROFILES.items():
        gain = np.zeros(score.size)
        g = np.where(starts, tp * best + fn, tp * (best - prev))
        gain[by_win] = g
        gain[~inside] = fp * fp_u[~inside]
        total = -fn * n_win + np.cumsum(gain)
        at = np.flatnonzero(last)
        null, perfect = -fn * n_win, tp * n_win
        if at.size == 0:
            out[name] = (0.0, 1.0)
            continue
        j = at[np.argmax(total[at])]
        best_total = float(total[j])
        if best_total <= null:
            out[name] = (0.0, float(score[0]) + 1e-9)  # no threshold beats detecting nothing
        else:
            out[name] = (_norm(best_total, null, perfect), float(score[j]))
    return out


def _grouped_running_max(v: F64, key: I64) -> F64:
    out = v.copy()
    for_k = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[for_k[1:], v.size]
    for lo, hi in zip(for_k.tolist(), ends.tolist(), strict=True):
        out[lo:hi] = np.maximum.accumulate(v[lo:hi])
    return out


def _tanh_ramp(rel: float, tp: float, fp: float) -> float:
    """SKAB's reward of the first prediction at relative position ``rel`` in a window."""
    x = np.linspace(-math.pi / 2, math.pi / 2, 1000)
    y = (tp - fp) / 2 * -np.tanh(x) / math.tanh(math.pi / 2) + (tp - fp) / 2 + fp
    return float(y[min(int(rel * 1000), 999)])


def skab_changepoints(
    time_us: npt.ArrayLike,
    alarm: npt.ArrayLike,
    changepoint: npt.ArrayLike,
    width_us: int = 60_000_000,
) -> dict[str, tuple[float, float, float]]:
    """``profile: (score, null, perfect)`` of one SKAB test part (sum files, then normalise).

    Args:
        time_us: ``int64[n]`` row times; alarm: ``bool[n]`` the detector's binary output;
        changepoint: ``int[n]`` 1 at labelled changepoints.
    """
    t = np.asarray(time_us, dtype=np.int64)
    a = np.asarray(alarm, dtype=np.int64)
    pred = np.abs(np.diff(a, prepend=0))
    if a.size:
        pred[0] = a[0]
    times = t[pred == 1]
    wins = [[int(c), int(c) + width_us] for c in t[np.asarray(changepoint) == 1]]
    for i in range(len(wins) - 1):
        if wins[i][1] >= wins[i + 1][0]:
            wins[i + 1][0] = wins[i][1]
    out = {}
    for name, (tp, fp, fn) in PROFILES.items():
        total = 0.0
        used = np.zeros(times.size, dtype=np.bool_)
        for lo, hi in wins:
            inside = (times >= lo) & (times <= hi)
            used |= inside
            if inside.any():
                total += _tanh_ramp((int(times[inside][0]) - lo) / (hi - lo), tp, -fp)
            else:
                total -= fn
        total -= fp * float((~used).sum())
        out[name] = (total, -fn * len(wins), tp * len(wins))
    return out

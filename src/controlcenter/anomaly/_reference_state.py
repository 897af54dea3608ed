"""The reference engine's state of one series (:class:`SeriesRef`), in plain Python.

What :class:`~.reference.ReferenceEngine` keeps per series: the window as ``deque``s and
every scalar the engine keeps in :class:`~.window.WindowStore` columns (``SCALARS`` names
those copied one to one from an engine's state).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field

from controlcenter.anomaly._robust import RUN_BETA
from controlcenter.anomaly.window import JUDGED_COLUMNS

__all__ = ["SCALARS", "SeriesRef", "finished_run", "learnt_run", "median"]


@dataclass
class SeriesRef:
    par: dict[str, float]
    lo: float
    hi: float
    values: deque[float]
    times: deque[int]
    count: int = 0
    last_time: int = -(2**63)
    last_value: float = 0.0
    ewm_mean: float = 0.0
    ewm_var: float = 0.0
    ewm_level: float = math.nan  # EWMA of the daily profile's mean (NaN: none)
    ref_mean: float = 0.0  # the CUSUM's reference mean
    cusum: list[float] = field(default_factory=lambda: [0.0, 0.0])
    run: int = 0
    run_start: int = 0
    changes: int = 0
    median: float = 0.0
    wmin: float = 0.0  # the window's smallest and largest value at the last refresh
    wmax: float = 0.0
    runmax: float = math.nan  # the learnt longest finished run of repeats (NaN: none yet)
    sigma: float = 1.0
    robust_ok: bool = False
    interval_us: float = math.nan
    silent: bool = False
    resolution: float = 0.0
    step: float = 0.0
    seasonal: bool = False
    # Calibration of log1p(evidence): the distribution and the open block.
    cal_mean: float = 0.0
    cal_var: float = 0.0
    cal_blocks: int = 0
    cal_bn: float = 0.0
    cal_bsum: float = 0.0
    cal_bsumsq: float = 0.0
    cal_hi: float = math.inf
    cal_tail: float = 0.0
    cal_bmax: float = 0.0
    cal_ltail: float = 0.0
    cal_lbmax: float = 0.0
    # Episode: open, low readings in a row, peak severity, onset time.
    ep_on: bool = False
    ep_below: int = 0
    ep_peak: float = 0.0
    ep_start: int = 0
    phase: int = 0  # series id % refresh: refreshes happen when (count + phase) % refresh == 0
    sensor: int = -1  # the sensor whose relation vector it belongs to (-1: none)
    slot: int = -1
    last_r: tuple[bool, float] = (False, 0.0)  # the last reading's residual for the relation
    last_e: float = 0.0  # and its own statistical evidence
    last_u: bool = False  # and whether its slot of the day had no profile yet
    # Daily baseline, when the series has one: slot -> [mean, var, n, sum, sumsq, day].
    daily: dict[int, list[float]] | None = None


SCALARS = (
    "count",
    "last_time",
    "last_value",
    "ewm_mean",
    "ewm_var",
    "ewm_level",
    "ref_mean",
    "run",
    "run_start",
    "changes",
    "median",
    "sigma",
    "robust_ok",
    "interval_us",
    "silent",
    "resolution",
    "step",
    "seasonal",
    "wmin",
    "wmax",
    "runmax",
    # Calibration and episodes: the store's own list (every new field joins both).
    *JUDGED_COLUMNS,
)


def finished_run(vals: list[float], full: bool) -> float:
    """The longest finished run of repeats in ``vals`` (the engine's
    ``_robust._finished_runs``): ``inf`` for a full window of one value."""
    eqs = [b == a for a, b in itertools.pairwise(vals)]
    if full and eqs and all(eqs):
        return math.inf
    best = run = 0
    for e in eqs:
        if e:
            run += 1
        else:
            best, run = max(best, run), 0
    return float(best)  # a run still going at the end does not count


def learnt_run(window: float, prev: float) -> float:
    """The learnt longest run after a refresh (the engine's ``_robust._learn_runs``)."""
    if math.isnan(prev) or math.isinf(window):
        return window
    if math.isinf(prev):
        return prev
    return max(window, window + (prev - window) * (1.0 - RUN_BETA))


def median(xs: list[float]) -> float:
    s = sorted(xs)
    c = len(s)
    return (s[(c - 1) // 2] + s[c // 2]) * 0.5

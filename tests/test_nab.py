"""NAB scoring (``controlcenter.nab``) against its published definition, row by row."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlcenter import nab


def test_a_perfect_detector_scores_100_and_a_silent_one_0():
    n = 1000
    windows = [(300, 349), (700, 749)]
    perfect = np.zeros(n)
    perfect[[300, 700]] = 1.0
    files = [nab.score_file(perfect, windows)]
    for name in nab.PROFILES:
        assert nab.normalised(files, 0.5)[name] == pytest.approx(100.0)
        assert nab.normalised([nab.score_file(np.zeros(n), windows)], 0.5)[name] == 0.0


def test_earlier_detection_earns_more_and_false_positives_cost_their_weight():
    n, w = 1000, [(400, 499)]
    scores = {}
    for at in (400, 450, 499):
        s = np.zeros(n)
        s[at] = 1.0
        scores[at] = nab.normalised([nab.score_file(s, w)], 0.5)["standard"]
    assert scores[400] > scores[450] > scores[499] > 0.0
    # One row far from any window costs fp = 0.11 of a window (normalised over 2 per window).
    s = np.zeros(n)
    s[[400, 200]] = 1.0
    with_fp = nab.normalised([nab.score_file(s, w)], 0.5)["standard"]
    assert with_fp == pytest.approx(scores[400] - 100 * 0.11 / 2, abs=1e-9)
    # ... and the low-FP profile charges twice that.
    assert nab.normalised([nab.score_file(s, w)], 0.5)["low_fp"] == pytest.approx(
        scores[400] - 100 * 0.22 / 2, abs=1e-9
    )


def test_rows_in_the_probation_period_do_not_count():
    s = np.zeros(1000)
    s[10] = 1.0  # a false positive, but inside the first 15 %
    assert nab.probation_rows(1000) == 150
    assert nab.probation_rows(100_000) == 750
    assert nab.normalised([nab.score_file(s, [(600, 650)])], 0.5)["standard"] == 0.0


def _brute_best(files, name):
    cands = sorted({float(x) for f in files for x in f.score} | {2.0})
    return max([0.0] + [nab._norm(*nab.score_at(files, c)[name]) for c in cands])


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_files=st.integers(1, 3))
def test_optimised_threshold_equals_the_best_of_every_threshold(seed, n_files):
    rng = np.random.default_rng(seed)
    files = []
    for _ in range(n_files):
        n = int(rng.integers(10, 150))
        s = np.round(rng.random(n), 1)  # ties on purpose
        windows, lo = [], int(rng.integers(0, n))
        for _ in range(int(rng.integers(0, 3))):
            hi = min(lo + int(rng.integers(0, 15)), n - 1)
            windows.append((lo, hi))
            lo = hi + int(rng.integers(1, 20))
            if lo >= n:
                break
        files.append(nab.score_file(s, windows, probation=int(rng.integers(0, 5))))
    best = nab.optimise(files)
    for name in nab.PROFILES:
        assert best[name][0] == pytest.approx(_brute_best(files, name), abs=1e-9)


def test_skab_changepoints_reward_the_first_flip_in_each_window():
    t = np.arange(600, dtype=np.int64) * 1_000_000
    cp = np.zeros(600, dtype=int)
    cp[[100, 400]] = 1
    alarm = np.zeros(600, dtype=bool)
    alarm[100:400] = True  # on at the first changepoint, off exactly at the second
    res = nab.skab_changepoints(t, alarm, cp)
    assert res["standard"] == (pytest.approx(2.0), -2.0, 2.0)  # both at their left edges
    alarm[250] = False  # two more flips, both outside the windows: 0.11 each
    assert nab.skab_changepoints(t, alarm, cp)["standard"][0] == pytest.approx(2.0 - 0.22)
    assert nab.skab_changepoints(t, np.zeros(600, dtype=bool), cp)["standard"][0] == -2.0

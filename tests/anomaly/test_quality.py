"""Detection quality must not regress: recall of injected faults, false alarms on clean data."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from controlcenter import anomaly_eval
from controlcenter.anomaly import GENERIC, Detector, Engine, EngineConfig, Events
from controlcenter.anomaly._robust import _median_step
from controlcenter.domain import Batch
from controlcenter.scorecsv import score_rows

from ._labelled import generate

# Measured with the default profiles on this generator (seed 3): recall spike 0.88 (spikes
# of 8-12 noise sigmas on strong diurnal swings; load spikes hide under the 5 % floor),
# level shift 0.80 (6 sigmas for two hours), stuck, impossible and dropout 1.00; 0.0 false
# alarms per series-day on the clean twin (seed 4). The bounds leave a little room for
# harmless changes and catch real regressions.
MIN_RECALL = {
    "spike": 0.75,
    "stuck": 0.95,
    "impossible": 0.95,
    "dropout": 0.95,
    "level_shift": 0.65,
}
MAX_FALSE_ALARMS_PER_SERIES_DAY = 0.25


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("labelled")
    generate(out, n_series=40, days=1.0, seed=3)
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    generate(out, n_series=40, days=1.0, seed=4, anomalies=False)
    return out


def test_injected_faults_are_found(labelled: Path):
    ds = anomaly_eval.load(labelled)
    report = anomaly_eval.evaluate(ds, anomaly_eval.run_engine(ds)[1])
    for kind, floor in MIN_RECALL.items():
        assert report.per_type[kind]["recall"] >= floor, (kind, report.per_type[kind])
    assert report.per_type["spike"]["delay_median_s"] == 0
    assert report.per_type["stuck"]["precision"] >= 0.9


def test_clean_data_raises_few_false_alarms(clean: Path):
    ds = anomaly_eval.load(clean)
    report = anomaly_eval.evaluate(ds, anomaly_eval.run_engine(ds)[1])
    assert report.false_alarms_per_series_day <= MAX_FALSE_ALARMS_PER_SERIES_DAY


def test_evaluate_command_prints_a_table_per_type(
    labelled: Path, capsys: pytest.CaptureFixture[str]
):
    assert anomaly_eval.main([str(labelled)]) == 0
    out = capsys.readouterr().out
    assert "| spike |" in out
    assert "per series per day" in out
    assert "false alarms by metric: " in out
    assert anomaly_eval.main([str(labelled), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_metric, by_detector = report["false_alarms_by_metric"], report["false_alarms_by_detector"]
    assert sum(by_metric.values()) == sum(by_detector.values()) == report["false_alarms"]


def test_evaluate_command_reports_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert anomaly_eval.main([str(tmp_path / "nope")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_false_alarms_are_counted_by_metric_and_detector():
    # Two series over a day; a labelled spike on the kW meter. Alarms: the kW meter's
    # robust z inside its label (true), its EWMA z hours later (false), and two VOC robust
    # z alarms an hour apart (false, not merged): VOC 2, kW 1; robust z 2, EWMA z 1.
    hour = 3_600_000_000
    keys = ["s/f/air/a1/voc", "s/f/power/m1/kw"]
    times = np.arange(0, 24 * hour, hour // 4)
    readings = Batch.from_lists(
        np.tile([0, 1], times.size), np.repeat(times, 2), np.ones(2 * times.size)
    )
    ds = anomaly_eval.Dataset(
        keys, ["air.voc", "power.kw"], np.full(2, np.inf), readings,
        [("s/f/power/m1/kw", 2 * hour, 2 * hour, "spike")],
    )  # fmt: skip
    robust, ewma = Detector.ROBUST_Z, Detector.EWMA_Z
    events = Events.from_lists(
        [1, 1, 0, 0],
        [2 * hour, 9 * hour, 5 * hour, 6 * hour],
        [robust, ewma, robust, robust],
        [9.0, 9.0, 9.0, 9.0],
        [0.9, 0.9, 0.9, 0.9],
    )
    report = anomaly_eval.evaluate(ds, events)
    assert report.false_alarms == 3
    assert report.false_by_metric == {"air.voc": 2, "power.kw": 1}
    assert report.false_by_detector == {"robust_z": 2, "ewma_z": 1}
    text = anomaly_eval.format_report(report, ds, events)
    assert "false alarms by metric: air.voc 2, power.kw 1" in text
    assert "false alarms by detector: robust_z 2, ewma_z 1" in text


def test_wildcard_labels_match_every_series_of_a_factory(labelled: Path):
    ds = anomaly_eval.load(labelled)
    ds.labels = [("site-0/f001/*", 0, 1, "gateway_offline")]
    ((ids, _, _, _),) = anomaly_eval._expand(ds)
    assert [ds.keys[i] for i in ids] == ["site-0/f001/air/s1/temp"]


# The same judgement on the complex simulator's output (the README's evaluation, smaller):
# seed 5, 300 series, two days (so the daily baseline has a day before), anomaly rates x 4.
# Measured with the default profiles on 2026-12-03: recall spike 0.96, stuck 0.93,
# impossible 1.00, dropout 0.91, level shift 0.91; 0.309 false alarms per series-day
# (0.373 without the daily baseline of load metrics, which this bound catches).
# Deterministic: the simulator and the engine are seeded.
SIM_MIN_RECALL = {
    "spike": 0.9,
    "stuck": 0.85,
    "impossible": 0.95,
    "dropout": 0.8,
    "level_shift": 0.8,
}
# Measured 0.361 (0.27 without the relation detector, which the simulator's nonlinear
# power relations trip at shift starts; it pays on real multi-metric data: SKAB).
SIM_MAX_FALSE_ALARMS_PER_SERIES_DAY = 0.37


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulators import cli

    out = tmp_path_factory.mktemp("simulated")
    argv = ["generate", "--out", str(out), "--series", "300", "--duration", "172800"]
    assert cli.main([*argv, "--anomaly-scale", "4", "--seed", "5", "--log-level", "WARNING"]) == 0
    return out


def test_simulated_complex_faults_are_found_with_few_false_alarms(simulated: Path):
    ds = anomaly_eval.load(simulated)
    report = anomaly_eval.evaluate(ds, anomaly_eval.run_engine(ds)[1])
    for kind, floor in SIM_MIN_RECALL.items():
        assert report.per_type[kind]["recall"] >= floor, (kind, report.per_type[kind])
    assert report.false_alarms_per_series_day <= SIM_MAX_FALSE_ALARMS_PER_SERIES_DAY


def test_a_clean_daily_sine_with_gaussian_noise_alarms_only_at_its_spike():
    # Two weeks at 5 minutes (as many public benchmark streams are): a daily sine of
    # amplitude 20 (10 noise sigmas) and one burst of 20 sigmas for 10 readings. The EWMA
    # variance, which remembers about 10 readings, wandered below the noise, and 3.5-sigma
    # deviations scored as alarms four times in the two weeks; the window's median step
    # floors it now.
    rng = np.random.default_rng(1)
    n, day = 4032, 288
    i = np.arange(n)
    values = 50.0 + 20.0 * np.sin(2 * np.pi * i / day) + rng.normal(0.0, 2.0, n)
    values[3000:3010] += 40.0
    times = 1_396_310_400_000_000 + i * 300_000_000
    alarms = np.flatnonzero(score_rows(times.astype(np.int64), values) >= 0.5)
    assert alarms.tolist() == [3000]


def test_a_fault_in_a_new_series_first_hours_alarms_before_its_calibration_is_learnt():
    # The calibration needs two blocks of 64 readings (after 32 of history) before it
    # counts; until then a reading is judged by its evidence alone, made cal_warmup (4)
    # times harder. A jump of 40 noise sigmas at reading 100 alarmed nowhere before
    # (c = 0); a wobble of 5 sigmas there still does not.
    rng = np.random.default_rng(2)
    n = 200
    times = (1_396_310_400_000_000 + np.arange(n) * 30_000_000).astype(np.int64)
    values = 20.0 + rng.normal(0.0, 1.0, n)
    wobble = values.copy()
    values[100] += 40.0
    wobble[100] += 5.0
    assert np.flatnonzero(score_rows(times, values) >= 0.5).tolist() == [100]
    assert np.flatnonzero(score_rows(times, wobble) >= 0.5).tolist() == []


def test_a_level_shift_of_five_noise_sigmas_is_found_in_most_plain_noise_streams():
    # The generic profile's CUSUM adds up deviations from a slower mean than the EWMA z's
    # (cusum_alpha 0.05): from the EWMA z's own mean (alpha 0.1) a shift of 5 sigmas
    # deviates 5 * 0.9**j, which never sums to cusum_h, and 6 of these 16 were found (by
    # the EWMA z's first reading, at its bar); 10 with it. The quantised ones' MAD jumped
    # a whole step (a sigma of 1.48 noise sigmas): read between the steps, 15.
    n = 4032
    times = (1_396_310_400_000_000 + np.arange(n) * 300_000_000).astype(np.int64)
    found = other = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        for quantised in (True, False):
            values = 0.1 + rng.normal(0.0, 0.01, n)
            if quantised:
                values = np.round(values, 2)
            values[3300:] += 0.05
            alarms = np.flatnonzero(score_rows(times, values) >= 0.5)
            found += bool(((alarms >= 3300) & (alarms < 3340)).any())
            other += int(((alarms >= 600) & (alarms < 3300)).sum())
    assert found >= 14
    assert other == 0


def test_heavy_tailed_noise_alarms_far_less_at_its_usual_tail():
    # |N(0, 1)| ** 3: a reading of 30 medians comes every few hundred. Calibrated against a
    # Gaussian model of its evidence alone, such a series alarmed at 1.5% of its readings
    # (55-79 per 3,400 over seeds 0-7); the tail level (the geometric mean of its blocks'
    # largest z, cal_tail_k times it) knows how far this series usually reaches (1-5).
    # A spike far beyond that still alarms.
    n = 4032
    times = (1_396_310_400_000_000 + np.arange(n) * 300_000_000).astype(np.int64)
    usual = {1.5: 0, 0.0: 0}
    for seed in range(4):
        rng = np.random.default_rng(seed)
        values = np.abs(rng.normal(0.0, 1.0, n)) ** 3 * 10
        values[3500] = 5000.0
        for tail_k in usual:
            scores = score_rows(times, values, EngineConfig(cal_tail_k=tail_k))
            alarms = np.flatnonzero(scores >= 0.5)
            assert 3500 in alarms
            usual[tail_k] += int(((alarms >= 600) & (alarms != 3500)).sum())
    assert usual[0.0] >= 200  # without the tail level (0: off)
    assert usual[1.5] <= usual[0.0] / 10


@pytest.mark.parametrize("night", ["noisy", "exactly zero"])
def test_a_machine_switching_mid_slot_every_day_is_not_an_alarm_every_day(night: str):
    # On at 08:25 and off at 22:25 every day, 5-minute readings: the switches fall inside
    # the baseline's 30-minute slots, whose profile then spreads over both levels. The
    # value is usual for the slot, but the EWMA z saw a jump of 75 noise sigmas, and it
    # alarmed at a switch every day; in such a wide slot a usual value is no EWMA z
    # evidence (wide_slot). Off on a working morning when it should be on still alarms.
    # Off at exactly 0 at night: the window holds two levels, its robust sigma is half
    # their distance, and a slot "wider than 3 robust sigmas" was never wide (a switch
    # alarmed every day); the median step's noise measures the slot now.
    n = 288 * 14
    times = (1_396_310_400_000_000 + np.arange(n) * 300_000_000).astype(np.int64)  # 00:00 UTC
    minute = (np.arange(n) % 288) * 5
    rng = np.random.default_rng(1)
    off = (
        (lambda k: np.zeros(k))
        if night == "exactly zero"
        else (lambda k: 5.0 + rng.normal(0, 1, k))
    )
    on = (minute >= 505) & (minute < 1345)
    values = np.where(on, 80.0 + rng.normal(0, 1, n), off(n))
    off_day = slice(288 * 8 + 120, 288 * 8 + 200)  # 10:00-16:40 of a Wednesday
    values[off_day] = off(80)
    switch = (np.abs(minute - 505) <= 10) | (np.abs(minute - 1345) <= 10)
    switch[: 288 * 2] = False  # the first two days learn the pattern
    for wide_slot in (3.0, np.inf):
        scores = score_rows(times, values, EngineConfig(wide_slot=wide_slot))
        at_switch = int((scores[switch] >= 0.5).sum())
        if wide_slot == np.inf:  # without it (the test would fail if the feature broke)
            assert at_switch >= 5  # (9 before the long tail learnt the daily switches)
        else:
            assert at_switch == 0
            assert (scores[off_day.start : off_day.start + 6] >= 0.5).any()
            # Nothing else either: the EWMA's band also spans the time of day's mean, so
            # it follows the machine off at night (pinned at the edge of a band around the
            # window's median "on", its night's noise alarmed twice in these two weeks).
            alarms = np.flatnonzero(scores >= 0.5)
            alarms = alarms[alarms >= 288 * 2]
            assert set(alarms) <= {off_day.start, off_day.stop}, alarms


#: Two weeks at 5 minutes, from 00:00 UTC.
FIVE_MINUTES = (1_396_310_400_000_000 + np.arange(4032) * 300_000_000).astype(np.int64)


def _generic_scores(
    values: np.ndarray, times: np.ndarray = FIVE_MINUTES, **changes: object
) -> np.ndarray:
    """Scores of one series under the generic profile with ``changes`` to it."""
    eng = Engine(EngineConfig(capacity=1), {"generic": replace(GENERIC, **changes)})
    eng.add_series(np.arange(1), "generic")
    scores, _ = eng.ingest(Batch(np.zeros(values.size, np.int32), times, values))
    return scores


def _two_loads(seed: int, excursion: float) -> np.ndarray:
    """A server between two loads (20 and 60, noise 2) switching every ~12 h, two weeks at
    5 minutes, with 10 readings at ``excursion`` from reading 3300."""
    rng = np.random.default_rng(seed)
    n = FIVE_MINUTES.size
    regime = np.cumsum(rng.random(n) < 1 / 150) % 2
    values = np.where(regime == 1, 60.0, 20.0) + rng.normal(0, 2, n)
    values[3300:3310] = excursion + rng.normal(0, 2, 10)
    return values


def test_a_value_far_beyond_the_windows_range_counts_past_a_volatile_calibration():
    # A server switching between two loads (20 and 60, noise 2) every ~12 h: each switch is
    # 20 sigmas of robust z, so the calibration learns wide evidence and hid an excursion
    # to 160 in 2 of 6 streams. Beyond the window's range by that range (range_k 1, the
    # generic profile), the robust z counts past the calibration: found in all six.
    found = {1.0: 0, np.inf: 0}
    for seed in range(6):
        values = _two_loads(seed, 160.0)
        for range_k in found:
            found[range_k] += bool(_generic_scores(values, range_k=range_k)[3300] >= 0.5)
    assert found[1.0] == 6
    assert found[np.inf] <= 4  # without it (the test would fail if the feature broke)


def test_a_value_well_above_both_regimes_counts_at_half_the_windows_range():
    # The same two loads; an excursion to 95, 15 sigmas above the upper load but only about
    # half the window's range (14-66) beyond its top. The generic profile's range_k 0.5
    # finds it in 8 of 10 streams, a whole range in 4, with the same false alarms.
    found = {GENERIC.range_k: 0, 1.0: 0}
    false = {GENERIC.range_k: 0, 1.0: 0}
    for seed in range(10):
        values = _two_loads(seed, 95.0)
        for range_k in found:
            scores = _generic_scores(values, range_k=range_k)
            found[range_k] += bool(scores[3300:3303].max() >= 0.5)
            alarms = np.flatnonzero(scores >= 0.5)
            false[range_k] += int(((alarms > 600) & ((alarms < 3290) | (alarms > 3330))).sum())
    assert GENERIC.range_k == 0.5
    assert found[0.5] >= 8
    assert found[1.0] <= 5
    assert false[0.5] <= false[1.0]


def test_rare_bursts_are_learnt_as_usual_by_the_long_tail():
    # Noise of sigma 3 with 1% bursts (exponential, mean 30): most blocks of 64 readings
    # hold no burst, so the blocks' usual maximum says little of them, and every tenth
    # burst alarmed. The generic profile's long tail (maxima over 4 blocks, from block 16
    # on) learns how far the bursts reach: half the false alarms or fewer, in 6 streams,
    # and a burst of 150 on top is still found.
    n = FIVE_MINUTES.size
    false = {True: 0, False: 0}
    for seed in range(6):
        rng = np.random.default_rng(seed)
        bursts = np.where(rng.random(n) < 0.01, rng.exponential(30, n), 0.0)
        values = 30 + rng.normal(0, 3, n) + bursts
        values[3200] += 150
        for long_tail in false:
            scores = _generic_scores(values, long_tail=long_tail)
            assert scores[3200] >= 0.5
            alarms = np.flatnonzero(scores >= 0.5)
            false[long_tail] += int(((alarms >= 1100) & (alarms != 3200)).sum())
    assert GENERIC.long_tail
    assert false[True] <= false[False] / 2  # measured 40 against 89


def test_a_spike_in_the_first_tail_block_does_not_set_the_bar_for_hours():
    # A spike of 60 sigmas at reading 230, in the first block whose maximum the tail level
    # learns (block 3 of 64 readings), then a shift of 8 sigmas at 400. The level started
    # at that block's maximum alone, and the bar stayed high: the shift was found in 3 of
    # 10 streams. The first level capped at ``cal_tail_start`` (9): 9 of 10. A spike a
    # block earlier or later leaves both alike (10 / 10, 7 / 7 when measured).
    n = 600
    times = 1_400_457_600_000_000 + np.arange(n, dtype=np.int64) * 60_000_000
    found = {9.0: 0, np.inf: 0}
    for seed in range(10):
        rng = np.random.default_rng(seed)
        values = 100 + rng.normal(0, 1, n)
        values[230] += 60
        values[400:] += 8
        for start in found:
            eng = Engine(EngineConfig(capacity=1, cal_tail_start=start))
            eng.add_series(np.arange(1), "generic")
            scores, _ = eng.ingest(Batch(np.zeros(n, np.int32), times, values))
            assert scores[230] >= 0.5
            found[start] += bool(scores[400:410].max() >= 0.5)
    assert EngineConfig().cal_tail_start == 9.0
    assert found[9.0] >= 8
    assert found[np.inf] <= 5


def test_a_frozen_sensor_is_found_by_the_learnt_stuck():
    # A noisy series (noise 2) that freezes at its last value for 300 readings: no value
    # is unusual and the generic profile has no stuck_k, so nothing saw it before the
    # value moved again. The learnt stuck (``stuck_learn`` 3: three times the longest
    # finished run of repeats the series has shown, at least ``stuck_learn_min`` 10)
    # opens one episode within 12 readings, in 6 of 6 streams; 0 without it.
    n = 2300
    found = {GENERIC.stuck_learn: 0, np.inf: 0}
    for seed in range(6):
        rng = np.random.default_rng(seed)
        values = 50 + 10 * np.sin(np.arange(n) / 40) + rng.normal(0, 2, n)
        values[2000:] = values[1999]
        for stuck_learn in found:
            scores = _generic_scores(values, FIVE_MINUTES[:n], stuck_learn=stuck_learn)
            alarms = np.flatnonzero(scores[2000:] >= 0.5)
            found[stuck_learn] += bool(alarms.size and alarms[0] <= 12)
            if stuck_learn == GENERIC.stuck_learn:
                assert alarms.size == 1  # one episode, not one alarm per reading
    assert found == {3.0: 6, np.inf: 0}


def test_runs_a_series_usually_shows_are_no_learnt_stuck():
    # Set points that rest 10-400 readings, coarse quantised noise, a slow counter: the
    # longest runs each shows are learnt (a series that holds one value for a whole
    # window is not judged again), so the learnt stuck adds no alarm to what the other
    # detectors give (measured: the same alarms with and without it).
    rng = np.random.default_rng(7)
    n = FIVE_MINUTES.size

    def set_point(mean_run: float) -> np.ndarray:
        out, level = [], 50.0
        while len(out) < n:
            out += [level] * int(rng.geometric(1 / mean_run))
            level = round(level + rng.normal(0, 5), 1)
        return np.asarray(out[:n])

    streams = [
        set_point(400),
        set_point(50),
        set_point(10),
        np.round(10 + rng.normal(0, 0.3, n)),
        np.cumsum(rng.random(n) < 0.05).astype(np.float64),
    ]
    for values in streams:
        on = np.flatnonzero(_generic_scores(values) >= 0.5)
        off = np.flatnonzero(_generic_scores(values, stuck_learn=np.inf) >= 0.5)
        assert on.tolist() == off.tolist()


def test_the_noise_step_leaves_the_signals_own_slope_out():
    # The EWMA z's noise floor and the wide slots speak in the window's "median step".
    # From first differences, a 12-reading machine cycle of amplitude 10 (noise 1) looked
    # 3.6 times as noisy as it is, a 48-reading daily curve 1.8 times; second differences
    # (over sqrt(3), in steps) see white noise's step, 0.95, on all of them.
    rng = np.random.default_rng(0)
    w = 256
    i = np.arange(w)
    rows = np.stack(
        [
            rng.normal(0, 1, w),
            10 * np.sin(2 * np.pi * i / 12) + rng.normal(0, 1, w),
            0.5 * i + rng.normal(0, 1, w),
            20 * np.sin(2 * np.pi * i / 48) + rng.normal(0, 1, w),
        ]
    )
    first = np.median(np.abs(np.diff(rows, axis=1)), axis=1)
    got = _median_step(rows, np.full(4, 300, dtype=np.int64), w)
    white = 0.6745 * np.sqrt(2)
    assert np.all(np.abs(got / white - 1) < 0.2)  # measured 0.96 / 1.13 / 1.05 / 0.82
    assert first[1] > 3 * white
    assert first[3] > 1.5 * white


def test_a_fast_cycles_amplitude_change_is_found():
    # A machine cycle of 12 readings (amplitude 10, noise 1) at 2.5 times its amplitude
    # for 60 readings: every value within a few sigmas of the cycle's range, so only the
    # EWMA z sees it, and its noise floor, from first differences, was the cycle's slope:
    # found in 0 of 6 streams. With the noise from second differences: 3 of 6, and 6
    # plain streams of the same cycle keep no alarm.
    n = FIVE_MINUTES.size
    i = np.arange(n)
    found, false = 0, 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        values = 50 + 10 * np.sin(2 * np.pi * i / 12) + rng.normal(0, 1, n)
        false += int((_generic_scores(values)[605:] >= 0.5).sum())
        wide = slice(3400, 3460)
        values[wide] = 50 + 25 * np.sin(2 * np.pi * i[wide] / 12) + rng.normal(0, 1, 60)
        found += bool((_generic_scores(values)[wide] >= 0.5).any())
    assert found >= 3
    assert false == 0


def test_a_day_whose_curve_is_flatter_than_the_days_before_is_found():
    # A daily curve (amplitude 20, noise 2, 5-minute readings) whose amplitude falls to 5
    # for one day: every value stays inside the window's range and near its median, so no
    # detector of the window saw it; far from its slot's profile (season_z 8 spreads, the
    # generic profile's) it counts. Found in 6 of 6 streams (0 without), and 6 plain
    # streams of the same curve keep no false alarm.
    n, day = 288 * 14, 288
    i = np.arange(n)
    times = (1_400_457_600_000_000 + i * 300_000_000).astype(np.int64)  # a Monday
    found = {GENERIC.season_z: 0, np.inf: 0}
    false = {GENERIC.season_z: 0, np.inf: 0}
    odd = slice(2900, 2900 + day)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        curve = 50 + 20 * np.sin(2 * np.pi * i / day)
        flatter = curve + rng.normal(0, 2, n)
        flatter[odd] = 50 + 5 * np.sin(2 * np.pi * i[odd] / day) + rng.normal(0, 2, day)
        plain = curve + rng.normal(0, 2, n)
        for season_z in found:
            for values, odd_day in ((flatter, True), (plain, False)):
                scores = _generic_scores(values, times, season_z=season_z)
                alarms = np.flatnonzero(scores >= 0.5)
                alarms = alarms[alarms >= 600]
                inside = (alarms >= odd.start) & (alarms < odd.stop) & odd_day
                found[season_z] += bool(inside.any())
                false[season_z] += int((~inside).sum())
    assert GENERIC.season_z == 8.0
    assert found[8.0] == 6
    assert found[np.inf] == 0  # (the test would fail if the feature broke)
    assert false[8.0] <= false[np.inf] + 1


def test_sparse_counts_by_day_are_not_surprised_by_a_count_at_night():
    # Events counted every 5 minutes, 3 an hour's slot by day and almost none by night: a
    # night slot's profile is 0 with no spread, and a single count there was 10^12 of its
    # spreads (138 false alarms in 8 streams); the series' quantisation (a step of 1)
    # floors the spread as it floors every other detector's: about as many false alarms as
    # without season_z, and a burst of 15 counts found as often.
    n, day = FIVE_MINUTES.size, 288
    hour = (np.arange(n) % day) / 12
    found = {GENERIC.season_z: 0, np.inf: 0}
    false = {GENERIC.season_z: 0, np.inf: 0}
    for seed in range(8):
        rng = np.random.default_rng(seed)
        values = rng.poisson(np.where((hour > 8) & (hour < 18), 3.0, 0.02)).astype(np.float64)
        values[3000:3012] += 15
        for season_z in false:
            scores = _generic_scores(values, season_z=season_z)
            alarms = np.flatnonzero(scores >= 0.5)
            alarms = alarms[alarms >= 600]
            found[season_z] += bool(((alarms >= 3000) & (alarms < 3012)).any())
            false[season_z] += int(((alarms < 2990) | (alarms > 3030)).sum())
    assert found[8.0] >= max(found[np.inf], 6)
    assert false[8.0] <= false[np.inf] + 4, false


def test_a_trending_series_is_not_far_from_its_profile_on_weekends():
    # A steady trend (3 noise sigmas a day) with a spike: a profile learnt from one
    # Saturday judged the Sunday by one day's few readings per slot (less spread than the
    # noise), and a Saturday by a week-old profile (the trend's week): both alarmed. The
    # spread is floored by the noise, and Mondays and Saturdays are not judged by it.
    i = np.arange(FIVE_MINUTES.size)
    times = (1_400_457_600_000_000 + i * 300_000_000).astype(np.int64)  # a Monday
    for seed in range(3):
        rng = np.random.default_rng(seed)
        values = 50 + 0.01 * i + rng.normal(0, 1, i.size)
        values[3000] += 10
        for season_z in (GENERIC.season_z, np.inf):
            alarms = np.flatnonzero(_generic_scores(values, times, season_z=season_z) >= 0.5)
            assert alarms[alarms >= 600].tolist() == [3000], (season_z, alarms)


def test_a_drift_is_found_only_by_an_alarm_before_its_end():
    # The simulator ends a drift by dropping its offset: a step back any detector sees.
    # An alarm there (in the grace after the label) is no false alarm, but it did not find
    # the drift; before this rule 21 of seed 21's 34 drifts "found" were found there.
    s = 1_000_000
    times = np.arange(0, 3600 * s, 30 * s, dtype=np.int64)
    readings = Batch(np.zeros(times.size, np.int32), times, np.zeros(times.size))
    ds = anomaly_eval.Dataset(
        ["site/f/air/s1/temp"], ["air.temp"], np.full(1, np.inf), readings,
        [("site/f/air/s1/temp", 600 * s, 1800 * s, "drift")],
    )  # fmt: skip
    for at, found in ((1200 * s, True), (1860 * s, False)):
        events = Events(
            np.zeros(1, np.int32), np.array([at]), np.array([Detector.EWMA_Z], np.uint8),
            np.ones(1), np.full(1, 0.6), np.array([at]),
        )  # fmt: skip
        report = anomaly_eval.evaluate(ds, events)
        assert report.per_type["drift"]["recall"] == float(found)
        assert report.false_alarms == 0
        scores = np.where(times == at, 0.6, 0.0)
        episodes = anomaly_eval.episode_report(ds, scores, Events.empty())
        assert episodes.recall["drift"] == float(found)
        assert episodes.false_episodes == 0

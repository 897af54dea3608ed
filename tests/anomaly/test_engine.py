"""Engine API: series at run time, warm start, silence sweep, river trio, state and memory."""

from __future__ import annotations

import numpy as np
import pytest

import controlcenter.anomaly as anomaly
from controlcenter.anomaly import Detector, Engine, EngineConfig, Events, MetricProfile
from controlcenter.domain import Batch

T0 = 1_700_000_000_000_000
S = 1_000_000  # one second in microseconds


def steady(series: int, n: int, start: int = 0, level: float = 20.0, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed + series)
    t = T0 + (start + np.arange(n)) * 10 * S
    return Batch.from_lists(np.full(n, series), t, level + rng.normal(0, 0.5, n))


def test_exported_members_are_listed_in_all():
    for name in anomaly.__all__:
        assert hasattr(anomaly, name), name
    public = {n for n in dir(anomaly) if not n.startswith("_")}
    modules = {"engine", "events", "profile", "reference", "window"}
    assert public - modules - set(anomaly.__all__) == set()


def test_series_added_at_run_time_grow_capacity_geometrically():
    eng = Engine(EngineConfig(capacity=2))
    caps = []
    for sid in range(40):
        eng.add_series([sid], "air.temp")
        caps.append(eng.store.capacity)
    assert sorted(set(caps)) == [2, 4, 8, 16, 32, 64]
    assert eng.memory()["bytes_per_series"] == 16 * 256 + eng.store.SCALAR_BYTES


def test_unknown_series_are_those_without_window_or_priming():
    eng = Engine()
    eng.add_series([0, 1, 2], "air.temp")
    eng.ingest(steady(0, 5))
    eng.mark_primed([1])
    assert eng.unknown([0, 1, 2, 2, 7]).tolist() == [2, 7]


def test_prime_loads_history_without_events_and_matches_continuous_run():
    history, fresh = steady(3, 300), steady(3, 50, start=300)
    spike = Batch.from_lists([3], [int(fresh.time[-1]) + 10 * S], [60.0])
    warm = Engine()
    warm.add_series([3], "air.temp")
    assert warm.unknown([3]).tolist() == [3]
    warm.prime(history)
    assert warm.unknown([3]).tolist() == []
    cont = Engine()
    cont.add_series([3], "air.temp")
    _, ev = cont.ingest(history)
    for eng in (warm, cont):
        eng.ingest(fresh)
    a, b = warm.ingest(spike), cont.ingest(spike)
    np.testing.assert_array_equal(a[0], b[0])
    assert len(a[1]) >= 1
    np.testing.assert_array_equal(a[1].detector, b[1].detector)
    assert len(ev) == 0 or ev.time.min() < fresh.time.min()  # the history's own events


def test_score_does_not_change_state_and_update_returns_self():
    eng = Engine()
    eng.add_series([0], "air.temp")
    b = steady(0, 100)
    before = eng.state()
    s1 = eng.score(b)
    after = eng.state()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])
    assert eng.update(b) is eng
    assert eng.state()["count"][0] == 100
    assert s1.shape == (100,)


def test_late_and_duplicate_readings_score_zero_and_are_not_learnt():
    eng = Engine()
    eng.add_series([0], "air.temp")
    eng.ingest(steady(0, 10))
    late = Batch.from_lists([0, 0], [T0, T0 + 90 * S], [25.0, 20.0])
    scores, events = eng.ingest(late)
    assert scores.tolist() == [0.0, 0.0]
    assert len(events) == 0
    assert eng.state()["count"][0] == 10


def test_impossible_values_fire_the_limit_detector_and_stay_out_of_the_window():
    eng = Engine()
    eng.add_series([0], "parking.occupied", hi=50)
    b = Batch.from_lists([0, 0, 0], [T0, T0 + S, T0 + 2 * S], [10.0, 51.0, -1.0])
    scores, ev = eng.ingest(b)
    assert scores[0] == 0.0
    assert (scores[1:] > 0.98).all()
    assert ev.names().tolist() == ["limit", "limit"]
    assert eng.state()["count"][0] == 1


def test_stuck_sensor_fires_after_k_equal_readings():
    prof = {"t": MetricProfile(stuck_k=5)}
    eng = Engine(EngineConfig(stuck_min_changes=2), prof)
    eng.add_series([0], "t")
    v = [1.0, 2.0, 3.0] + [4.0] * 6
    b = Batch.from_lists([0] * 9, T0 + np.arange(9) * S, v)
    _, ev = eng.ingest(b)
    stuck = ev.take(ev.detector == Detector.STUCK)
    # the run of 4.0 starts at index 3; the 5th equal reading is index 7
    assert stuck.time.tolist() == [T0 + 7 * S, T0 + 8 * S]


def test_silence_sweep_reports_each_silence_once_until_the_series_speaks():
    eng = Engine()
    eng.add_series([0, 1], "air.temp")
    eng.ingest(Batch.concat([steady(0, 100), steady(1, 100)]))
    last = T0 + 99 * 10 * S
    assert len(eng.sweep(last + 60 * S)) == 0  # 60 s < 10 x 10 s
    ev = eng.sweep(last + 200 * S)
    assert ev.series.tolist() == [0, 1]
    assert set(ev.names().tolist()) == {"silence"}
    assert len(eng.sweep(last + 300 * S)) == 0  # already reported
    eng.ingest(steady(0, 1, start=130))
    assert eng.sweep(last + 600 * S).series.tolist() == [0]


def test_events_are_columnar_and_sorted_by_time():
    eng = Engine()
    eng.add_series([0, 1], "air.temp")
    b = Batch.from_lists([1, 0], [T0 + 2 * S, T0 + S], [500.0, 500.0])
    _, ev = eng.ingest(b)
    assert isinstance(ev, Events)
    assert ev.series.dtype == np.int32
    assert ev.detector.dtype == np.uint8
    assert ev.series.tolist() == [0, 1]


def test_unregistered_series_get_the_generic_profile():
    eng = Engine()
    eng.ingest(steady(5, 3))
    assert eng.store.known[5]
    assert eng.profile_names[eng.store.profile[5]] == "generic"


def test_negative_series_ids_are_refused():
    with pytest.raises(ValueError, match="series ids"):
        Engine().ingest(Batch.from_lists([-1], [T0], [1.0]))

"""Clean signals: determinism, physical ranges and the daily rhythm of a factory complex."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simulators.engine import Simulation
from simulators.kinds import Kind
from simulators.scenario import load_scenario

from tests.simulators._helpers import Data, small_scenario


def _frames(seed: int, shard: tuple[int, int] = (0, 1), n: int = 3):
    sc = small_scenario(seed=seed)
    sim = Simulation(sc, start_ms=sc.start_ms, shard=shard)
    return {kind: [sim.next_frame(kind) for _ in range(n)] for kind in sim.kinds}


def test_same_seed_gives_the_same_readings():
    a, b = _frames(11), _frames(11)
    for kind in a:
        for fa, fb in zip(a[kind], b[kind], strict=True):
            np.testing.assert_array_equal(fa.values, fb.values)
            np.testing.assert_array_equal(fa.time_ms, fb.time_ms)
            np.testing.assert_array_equal(fa.present, fb.present)


def test_another_seed_gives_other_readings():
    a, b = _frames(11), _frames(12)
    assert not np.array_equal(a[Kind.AIR][0].values, b[Kind.AIR][0].values)


def test_shards_split_the_complex_without_changing_its_data():
    whole = _frames(5)
    parts = [_frames(5, shard=(i, 3)) for i in range(3)]
    for kind in whole:
        for e, frame in enumerate(whole[kind]):
            rows = np.concatenate([p[kind][e].sensors for p in parts])
            assert sorted(rows.tolist()) == frame.sensors.tolist()
            for p in parts:
                part = p[kind][e]
                np.testing.assert_array_equal(part.values, frame.values[part.sensors])


def test_generated_files_are_identical_for_the_same_scenario(generated, tmp_path):
    from simulators.files import generate
    from simulators.scenario import load_scenario as load

    again = load(generated[0] / "scenario.yaml")
    generate(Simulation(again, start_ms=again.start_ms), tmp_path, 3600)
    first = (generated[0] / "readings.csv").read_text().splitlines()
    second = (tmp_path / "readings.csv").read_text().splitlines()
    end = again.start_ms + 3_600_000
    assert second == first[: len(second)]
    assert int(first[len(second)].split(",")[0]) >= end


def _clean(data: tuple[Data, Data], kind: str, metric: str) -> dict[str, np.ndarray]:
    clean = data[1]
    return {
        k: clean.values[k]
        for k, row in clean.series.items()
        if row["kind"] == kind and row["metric"] == metric
    }


@pytest.mark.parametrize(
    ("metric", "lo", "hi"),
    [
        ("pm10", 2, 800),
        ("pm25", 1, 500),
        ("co2", 300, 3000),
        ("voc", 0, 20000),
        ("temp", -25, 45),
        ("humidity", 0, 100),
    ],
)
def test_air_quality_stays_in_korean_ranges(data, metric, lo, hi):
    for values in _clean(data, "air", metric).values():
        assert lo <= values.min()
        assert values.max() <= hi


def test_pm25_is_a_share_of_pm10(data):
    pm10, pm25 = _clean(data, "air", "pm10"), _clean(data, "air", "pm25")
    for key, v10 in pm10.items():
        ratio = pm25[key[: -len("pm10")] + "pm25"] / v10
        assert 0.3 < np.median(ratio) < 0.8


def test_power_meters_are_physical(data):
    clean = data[1]
    for key, row in clean.series.items():
        if row["kind"] != "power":
            continue
        v = clean.values[key]
        match row["metric"]:
            case "kw" | "current":
                assert v.min() >= 0
            case "kwh":
                assert np.all(np.diff(v) >= 0), f"{key} decreases"
            case "voltage":
                nominal = 380.0 if np.median(v) > 300 else 220.0
                assert np.all(np.abs(v / nominal - 1) < 0.1)
            case "pf":
                assert v.min() >= 0.5
                assert v.max() <= 1.0


def test_parking_occupancy_is_whole_and_never_above_capacity(data):
    clean = data[1]
    for key, row in clean.series.items():
        if row["kind"] == "parking" and row["metric"] == "occupied":
            v = clean.values[key]
            assert np.all(v == np.round(v))
            assert v.min() >= 0
            assert v.max() <= float(row["capacity"])


def _hourly(kind: Kind, metric: str, start: str, hours: int) -> np.ndarray:
    """Complex-wide mean of ``metric`` per local hour, from clean frames."""
    sc = small_scenario(anomalies=False).with_overrides(start=start)
    sim = Simulation(sc, start_ms=sc.start_ms)
    table = sim.layout.tables[kind]
    steps = hours * 3_600_000 // table.interval_ms
    frames = [sim.next_frame(kind) for _ in range(-(-steps // 64))]
    j = table.metrics.index(metric)
    series = np.concatenate([f.values[:, :, j] for f in frames], axis=1)[:, :steps]
    return series.sum(axis=0).reshape(hours, -1).mean(axis=1)


def test_power_follows_shifts_and_weekends():
    # 2026-03-15 is a Sunday, the 16th a Monday (KST).
    kw = _hourly(Kind.POWER, "kw", "2026-03-15T00:00:00+09:00", 48)
    sunday, monday = kw[:24], kw[24:]
    assert monday[10] > 1.3 * monday[3], "day shift above night"
    assert monday[10] > 1.3 * sunday[10], "weekday above Sunday"
    assert monday[12] < monday[10], "lunch dip"


def test_parking_fills_for_the_day_shift():
    occupied = _hourly(Kind.PARKING, "occupied", "2026-03-16T00:00:00+09:00", 24)
    assert occupied[10] > 1.5 * occupied[3]
    assert occupied[12] < occupied[10]


def test_pm10_is_higher_in_spring_and_winter_than_in_summer():
    day = {
        month: _hourly(Kind.AIR, "pm10", f"2026-{month:02d}-10T00:00:00+09:00", 24).mean()
        for month in (1, 3, 8)
    }
    assert day[3] > 1.4 * day[8]
    assert day[1] > 1.4 * day[8]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), factories=st.integers(1, 6), per=st.integers(1, 9))
def test_clean_frames_are_physical_for_any_seed_and_size(seed, factories, per):
    sc = load_scenario().with_overrides(seed=seed, factories=factories, sensors_per_factory=per)
    sim = Simulation(sc.with_overrides(anomaly_scale=0), start_ms=sc.start_ms)
    for kind in sim.kinds:
        frame = sim.next_frame(kind)
        values = frame.values
        assert np.isfinite(values).all()
        assert frame.present.all()
        if kind is Kind.POWER:
            assert (np.diff(values[:, :, 1], axis=1) >= 0).all()
            assert (values[:, :, 0] >= 0).all()
        if kind is Kind.PARKING:
            assert (values[:, :, 0] <= values[:, :, 1]).all()
            assert (values[:, :, 0] >= 0).all()
        if kind is Kind.AIR:
            assert ((values[:, :, 5] >= 0) & (values[:, :, 5] <= 100)).all()

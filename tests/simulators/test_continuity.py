"""The live run's safety signals join without a jump, stay inside the registry, and do not
depend on how the run asks for them.

``SafetyFeed`` generates each kind in blocks of ``BLOCK_STEPS`` steps whose slow processes
continue from the block before, and a wind that continues across midnight; a step across an
hour, a day or a block boundary is drawn from the same distribution as any other step.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from simulators.cli import _with_rate  # the demo's --rate rescaling, exactly
from simulators.kinds import SAFETY_LIMITS, SAFETY_METRICS
from simulators.layout import build_layout
from simulators.safety import rounded
from simulators.safety_live import BLOCK_STEPS, SafetyFeed
from simulators.scenario import load_scenario

from controlcenter.config import IngestSettings
from controlcenter.wire.payload import PayloadDecoder

START = 1_773_622_800_000  # 2026-03-16 00:00 KST
HOUR_MS, DAY_MS = 3_600_000, 86_400_000


def _feed(factories: int = 8, scale: float = 0.0, rate: float | None = None) -> SafetyFeed:
    scenario = load_scenario().with_overrides(factories=factories, anomaly_scale=scale)
    if rate is not None:
        scenario = _with_rate(scenario, (0, 1), rate, 1.0)
    layout = build_layout(scenario)
    return SafetyFeed(layout, START, np.ones(layout.n_factories, dtype=np.bool_))


def _series(feed: SafetyFeed, kind: str, steps: int, width: int) -> dict[str, np.ndarray]:
    """``path/metric -> float64[steps]``, asked for ``width`` steps at a time as a cursor does."""
    parts: dict[str, list[np.ndarray]] = {}
    for k0 in range(0, steps, width):
        for _, path, _, _, values in feed.readings(kind, k0, min(k0 + width, steps)):
            for m in SAFETY_METRICS[kind]:
                parts.setdefault(f"{path}/{m}", []).append(np.array([v[m] for v in values]))
    return {k: np.concatenate(v) for k, v in parts.items()}


@pytest.fixture(scope="module")
def two_days() -> tuple[SafetyFeed, dict[str, dict[str, np.ndarray]]]:
    """Two days and two hours of every safety kind, without incidents, batches of 50."""
    feed = _feed()
    end = 2 * DAY_MS + 2 * HOUR_MS
    return feed, {k: _series(feed, k, end // feed.intervals[k], 50) for k in feed.kinds}


def _steps(values: np.ndarray, metric: str) -> np.ndarray:
    d = np.diff(values)
    return np.abs((d + 180.0) % 360.0 - 180.0) if metric == "wind_dir" else np.abs(d)


def test_no_jump_at_hour_day_or_block_boundaries(two_days):
    feed, data = two_days
    above = crossings = 0
    for kind, series in data.items():
        dt = feed.intervals[kind]
        k = np.arange(1, len(next(iter(series.values()))))  # step k-1 -> k
        t0, t1 = (k - 1) * dt, k * dt
        boundary = (t0 // HOUR_MS != t1 // HOUR_MS) | (k % BLOCK_STEPS == 0)
        for key, values in series.items():
            steps = _steps(values, key.rsplit("/", 1)[1])
            inside = steps[~boundary]
            if not inside.any():
                continue  # a state that never changes (smoke, flame without a fire)
            # Each boundary step is as likely as any other to be above the 99th percentile.
            above += int((steps[boundary] > np.quantile(inside, 0.99)).sum())
            crossings += int(boundary.sum())
            assert steps[boundary].max() <= inside.max() * 1.5, key
    assert crossings > 1000
    assert above / crossings < 0.03, (above, crossings)


def test_the_wind_and_slow_readings_continue_across_midnight(two_days):
    feed, data = two_days
    dt = feed.intervals["weather"]
    for key, values in data["weather"].items():
        metric = key.rsplit("/", 1)[1]
        steps = _steps(values, metric)
        for day in (1, 2):
            k = day * DAY_MS // dt  # the first reading of the day
            assert steps[k - 1] <= steps[k - 60 : k - 1].max() * 3 + 1e-9, (key, day)
    # The mean wind moves from day to day, yet no step at midnight stands out.
    speed = next(v for k, v in data["weather"].items() if k.endswith("/wind_speed"))
    per_day = [speed[d * DAY_MS // dt : (d + 1) * DAY_MS // dt].mean() for d in (0, 1)]
    assert per_day[0] != pytest.approx(per_day[1], abs=0.01)


def test_readings_do_not_depend_on_how_a_run_asks_for_them():
    steps = 3 * HOUR_MS // 30_000 + 17
    one = _feed(scale=5.0)
    whole = {k: _series(one, k, steps, steps) for k in one.kinds}
    for width in (1, 7, 50, BLOCK_STEPS, 200):
        other = _feed(scale=5.0)
        for kind, series in whole.items():
            got = _series(other, kind, steps, width)
            assert got.keys() == series.keys()
            for key in series:
                np.testing.assert_array_equal(got[key], series[key], err_msg=f"{width} {key}")
    # Asked again for an old stretch (blocks no longer kept): the same readings.
    for kind, series in whole.items():
        again = _series(one, kind, 200, 200)
        for key, values in again.items():
            np.testing.assert_array_equal(values, series[key][:200], err_msg=key)


def test_a_shard_reads_what_the_whole_complex_reads_for_its_factories():
    scenario = load_scenario().with_overrides(factories=8, anomaly_scale=5.0)
    layout = build_layout(scenario)
    whole = SafetyFeed(layout, START, np.ones(layout.n_factories, dtype=np.bool_))
    shard = np.zeros(layout.n_factories, dtype=np.bool_)
    shard[::2] = True
    part = SafetyFeed(layout, START, shard)
    for kind in part.kinds:
        steps = 2 * HOUR_MS // part.intervals[kind]
        mine = _series(part, kind, steps, 50)
        all_ = _series(whole, kind, steps, 50)
        assert mine
        for key, values in mine.items():
            np.testing.assert_array_equal(values, all_[key], err_msg=key)


@pytest.mark.parametrize(("factories", "scale"), [(12, 20.0), (3, 1.0)])
def test_readings_stay_inside_the_registry_limits_and_no_reading_is_a_dead_letter(factories, scale):
    # Many leaks, fires and spills; and a complex so small that its showcase plumes barely
    # reach a detector (sized by that, they once overflowed to inf and NaN).
    feed = _feed(factories=factories, scale=scale)
    decoder = PayloadDecoder(IngestSettings())
    for kind in feed.kinds:
        steps = 6 * HOUR_MS // feed.intervals[kind]
        for k0 in range(0, steps, 500):
            for _, _, times, _, values in feed.readings(kind, k0, k0 + 500):
                for m, (lo, hi) in SAFETY_LIMITS[kind].items():
                    column = np.array([v[m] for v in values])
                    assert np.isfinite(column).all(), (kind, m)
                    assert ((column >= lo) & (column <= hi)).all(), (kind, m)
                body = {"readings": [{"ts": t, "values": v} for t, v in zip(
                    times.tolist(), values, strict=True)]}  # fmt: skip
                now_us = int(times[-1]) * 1000 + 1_000_000
                decoded = decoder.decode(kind, json.dumps(body).encode(), now_us)
                assert not decoded.rejects, decoded.rejects[:3]


def test_rounding_clips_at_the_registry_limits():
    values = np.array([[[5000.0, -500.0, 0.2, 3.0, 0.0, 0.0, 150.0]]])
    rounded("gas", values)
    limits = SAFETY_LIMITS["gas"]
    assert values[0, 0, 0] == limits["lel"][1]
    assert values[0, 0, 1] == limits["h2s"][0]
    assert values[0, 0, 6] == limits["o2"][1]
    assert values[0, 0, 2] == 0.2


def test_the_first_groups_of_a_demo_rate_run_come_at_once():
    # At the demo's rate an hour holds tens of thousands of steps of each kind; the first
    # groups must not wait for all of them (a live run published nothing meanwhile).
    feed = _feed(factories=5, rate=200.0)
    started = time.perf_counter()
    for kind in feed.kinds:
        assert feed.readings(kind, 0, 50)
    assert time.perf_counter() - started < 1.0


def test_the_live_run_publishes_what_the_feed_generates_in_one_pass(collector, mqtt_url):
    # Through the broker: a live run (air, power, parking and the safety kinds, groups of
    # 7 steps, 2+ simulated hours in a few wall seconds) publishes exactly the safety
    # readings a fresh feed of the same scenario and seed generates in one pass. Paced, not
    # as fast as possible: the collector shares this process's GIL, and a subscriber that
    # falls behind by Mosquitto's max_queued_messages (1000) loses messages.
    import threading

    from simulators.engine import Simulation
    from simulators.live import RunOptions, run_live
    from simulators.payload import PayloadEncoder
    from simulators.publisher import GatewayPool

    from tests.simulators._helpers import small_scenario

    root = collector.root
    sc = small_scenario(factories=3, anomalies=False)
    sim = Simulation(sc, start_ms=sc.start_ms)
    gateways = {int(f): sim.layout.gateway(int(f)) for f in sim.factories}
    pool = GatewayPool(mqtt_url, root, gateways, qos=1, links=0)
    pool.open()
    try:
        encoder = PayloadEncoder(sim.layout, root, batch=7)
        stats = run_live(
            sim, encoder, pool, RunOptions(speed=1_500, count=12_000), threading.Event()
        )
    finally:
        pool.close()
    assert stats.sim_end_ms - sim.start_ms > 2 * HOUR_MS
    assert sim.safety is not None
    kinds = set(sim.safety.kinds)
    deadline = time.monotonic() + 15
    while True:  # every reading of the run (QoS 1) has reached the collector
        bodies = [
            (topic.split("/", 2)[2], json.loads(payload)["readings"])
            for topic, payload, _ in collector.snapshot()
            if not topic.endswith("/status")
        ]
        if sum(len(b) for _, b in bodies) >= stats.readings or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    published = {
        (path, r["seq"]): r["values"] for path, body in bodies for r in body
        if path.split("/")[2] in kinds
    }  # fmt: skip
    fresh = SafetyFeed(sim.layout, sim.start_ms, np.ones(sim.layout.n_factories, dtype=np.bool_))
    last: dict[str, int] = {}
    for (path, seq), _ in published.items():
        kind = path.split("/")[2]
        last[kind] = max(last.get(kind, 0), seq)
    assert set(last) == kinds
    expected = {
        (path, seq): values
        for kind, top in last.items()
        for _, path, _, seqs, rows in fresh.readings(kind, 0, top + 1)
        for seq, values in zip(seqs, rows, strict=True)
    }
    for key, values in published.items():
        assert values == pytest.approx(expected[key], abs=1e-9), key
    # Nothing skipped: every step before the last published one of each sensor arrived.
    assert len(published) == sum(
        1 for (path, seq) in expected if seq <= max(s for p, s in published if p == path)
    )

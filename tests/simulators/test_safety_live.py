"""The default scenario's safety sensors in the live run: readings, incidents, labels."""

from __future__ import annotations

import numpy as np
from simulators.incident import DETECTABLE
from simulators.layout import build_layout
from simulators.safety_live import SafetyFeed
from simulators.scenario import load_scenario

START = 1_773_622_800_000


def _feed(scale: float = 1.0) -> SafetyFeed:
    layout = build_layout(load_scenario().with_overrides(factories=60, anomaly_scale=scale))
    return SafetyFeed(layout, START, np.ones(layout.n_factories, dtype=np.bool_))


def test_every_safety_kind_is_published_with_its_metrics_and_steady_wind():
    feed = _feed()
    assert set(feed.kinds) == {"gas", "fire", "odor", "water", "weather"}
    gas = feed.readings("gas", 0, 10)
    assert len(gas) == feed.sensors("gas") > 0
    _, path, times, seq, values = gas[0]
    assert path.split("/")[2] == "gas"
    assert seq == list(range(10))
    assert np.all(np.diff(times) == feed.intervals["gas"])
    assert 20.0 < values[0]["o2"] < 21.5
    # The wind meanders without jumping between simulated hours (one field per day).
    steps = 3600_000 // feed.intervals["weather"]
    wind = feed.readings("weather", steps - 3, steps + 3)[0][4]
    dirs = np.array([v["wind_dir"] for v in wind])
    turn = np.abs((np.diff(dirs) + 180.0) % 360.0 - 180.0)
    assert turn.max() < 25.0, dirs


def test_incidents_raise_their_plume_and_labels_name_the_source():
    feed = _feed(scale=5.0)
    leaks = [(s, i) for s in range(len(feed.plans)) for i in feed.incidents(s, 0)
             if i.type == "gas_leak"]  # fmt: skip
    assert leaks
    dt = feed.intervals["gas"]
    # A day of readings and the plumes' tails: labels cover what was generated.
    rows = feed.readings("gas", 0, 25 * 3_600_000 // dt)
    labels = feed.take_labels(None)
    every_factory = {f for plan in feed.plans for f in plan.factories}
    assert all(r[4] in every_factory for r in labels)
    # A random plume often passes between the detectors: many leaks reach one, not all.
    reached = [
        (site, leak, [r for r in labels if r[3] == "gas_leak" and r[1] >= leak.start_ms
                      and r[4] == feed.plans[site].factories[leak.factory]])
        for site, leak in leaks
    ]  # fmt: skip
    reached = [x for x in reached if x[2]]
    assert len(reached) >= len(leaks) // 3, (len(reached), len(leaks))
    for _, leak, mine in reached[:5]:
        # The labelled series read at least the detectable level while the plume passes.
        hit = {r[0].rsplit("/", 1)[0] for r in mine}
        lo, hi = leak.start_ms, leak.start_ms + leak.duration_s * 1000 + 3_600_000
        peak = max(
            v[leak.metric]
            for _, path, times, _, values in rows
            if path in hit
            for t, v in zip(times.tolist(), values, strict=True)
            if lo <= t <= hi
        )
        assert peak >= DETECTABLE[leak.metric], (leak, peak)


def test_showcase_leak_and_odour_reach_their_alarm_within_minutes_and_then_periodically():
    # The demo's complex (5 factories): the rare random incidents aside, a leak two minutes
    # in and an odour episode half an hour later, each raising an alarm at a detector.
    layout = build_layout(load_scenario().with_overrides(factories=5))
    feed = SafetyFeed(layout, START, np.ones(layout.n_factories, dtype=np.bool_))
    shown = sorted(
        (i.start_ms - START, s, i)
        for s in range(len(feed.plans))
        for i in feed.incidents(s, 0)
        if i.duration_s == 900.0 and i.start_ms - START < 2 * 3600_000
    )
    assert [(t, i.type) for t, _, i in shown[:2]] == [
        (120_000, "gas_leak"),
        (1_920_000, "odor_episode"),
    ]
    assert len(shown) == 4  # every 30 minutes
    for t, site, inc in shown[:2]:
        kind, alarm = ("gas", 10.0) if inc.type == "gas_leak" else ("odor", 20.0)
        dt = feed.intervals[kind]
        rows = feed.readings(kind, t // dt, (t + 900_000) // dt)
        site_id = feed.plans[site].site
        peak = max(
            max(v[inc.metric] for v in values)
            for _, path, _, _, values in rows
            if path.startswith(site_id + "/")
        )
        assert peak >= alarm, (inc.type, peak)
    labels = feed.take_labels(None)
    source = feed.plans[shown[0][1]].factories[shown[0][2].factory]
    assert any(r[3] == "gas_leak" and r[4] == source and r[1] >= START + 120_000 for r in labels)


def test_no_showcase_without_anomalies():
    feed = _feed(scale=0.0)
    assert [i for s in range(len(feed.plans)) for i in feed.incidents(s, 0)] == []

"""Source attribution: the true source first on clear episodes, graceful on poor data."""

from __future__ import annotations

import numpy as np
from simulators.incident import Incident, simulate
from simulators.kinds import SAFETY_METRICS
from simulators.plume import arrival
from simulators.safety import build_plan

from controlcenter import attribution
from controlcenter.attribution import Observations, Wind, attribute, nearest_first

# Six factories on a 300 m grid; wind from the west (270 deg) carries air to +x.
CANDS = np.array([[0, 0], [300, 0], [600, 0], [0, 300], [300, 300], [600, 300]], np.float64)
IDS = ("a", "b", "c", "d", "e", "f")


def _episode(source: int, wind_dir: float = 270.0, speed: float = 3.0) -> Observations:
    """Detectors near every factory; those the plume of ``source`` reaches alarm."""
    sensors = CANDS + np.array([40.0, 25.0])
    # Three more straight downwind (plus a little off the axis).
    rad = np.deg2rad(wind_dir)
    down, side = np.array([-np.sin(rad), np.cos(rad)]), np.array([np.cos(rad), np.sin(rad)])
    extra = CANDS[source] + np.outer([150.0, 450.0, 800.0], down) + np.outer([10, -15, 20], side)
    xy = np.vstack([sensors, extra])
    delay, dil = arrival(CANDS[source], xy, speed, wind_dir)
    conc = 10.0 * dil / float(arrival(np.zeros(2), np.array([150.0, 0.0]), 3.0, 270.0)[1])
    hit = conc >= 1.0
    onset = np.where(hit, 120.0 + np.nan_to_num(delay), np.nan)
    return Observations(xy, onset, np.where(hit, conc, np.nan), np.ones(len(xy)))


def test_a_clear_plume_ranks_its_source_first_with_a_high_confidence():
    for source in (0, 3, 1):
        result = attribute(CANDS, _episode(source), Wind(3.0, 270.0), IDS)
        assert result.ranked[0].factory == IDS[source]
        assert result.confidence > 0.5
        assert result.sensors_alarmed >= 3
        assert abs(sum(c.probability for c in result.ranked) - 1.0) < 1e-9
        assert result.top(3)[0]["factory"] == IDS[source]


def test_the_ranking_follows_the_wind():
    # The same source with the wind from the north (plume goes south, +y).
    obs = _episode(1, wind_dir=0.0)
    assert attribute(CANDS, obs, Wind(3.0, 0.0), IDS).ranked[0].factory == "b"
    # Told the wrong wind (from the east), the plume's sensors point elsewhere.
    wrong = attribute(CANDS, obs, Wind(3.0, 90.0), IDS)
    assert wrong.ranked[0].factory != "b" or wrong.confidence < 0.5


def test_a_simulated_leak_is_attributed_to_its_factory():
    plan = build_plan(11, 24)
    src = 9
    xy = plan.sensor_xy["gas"].copy()
    xy[:3] = plan.factory_xy[src] + np.array([[120.0, 10.0], [400.0, -20.0], [700.0, 30.0]])
    plan = type(plan)(plan.site, plan.factories, plan.factory_xy, plan.sensors,
                      plan.sensor_factory, {**plan.sensor_xy, "gas": xy})  # fmt: skip
    q = 300.0 / float(arrival(np.zeros(2), np.array([150.0, 0.0]), 3.0, 270.0)[1])
    inc = Incident("gas_leak", src, 600_000, 1800.0, "nh3", q, plan.factory_xy[src])
    run = simulate(plan, 0, 3600, [inc], 4, wind_speed=3.0, wind_dir=270.0)
    nh3 = run.values["gas"][:, :, SAFETY_METRICS["gas"].index("nh3")]
    over = nh3 >= 25.0
    onset = np.where(over.any(1), run.times["gas"][np.argmax(over, 1)] / 1000.0, np.nan)
    obs = Observations(xy, onset, np.where(over.any(1), nh3.max(1), np.nan), np.full(len(xy), 25.0))
    result = attribute(plan.factory_xy, obs, Wind(3.0, 270.0), plan.factories)
    assert result.ranked[0].factory == plan.factories[src]


def test_no_wind_still_ranks_candidates_with_less_confidence():
    obs = _episode(0)
    with_wind = attribute(CANDS, obs, Wind(3.0, 270.0), IDS)
    calm = attribute(CANDS, obs, Wind(None, None), IDS)
    assert len(calm.ranked) == len(IDS)
    assert calm.confidence < with_wind.confidence
    assert calm.confidence <= 0.5
    assert attribute(CANDS, obs, Wind(float("nan"), float("nan")), IDS).confidence <= 0.5


def test_a_lone_alarm_is_placed_by_its_peak_between_its_neighbour_and_the_factory_upwind():
    # One sensor 50 m downwind of b and 350 m downwind of a: a modest peak needs a release
    # of a usual size at a, a huge one needs b (a tiny release at b would read too little
    # 350 m away, a huge one at a would have been seen elsewhere).
    xy = np.array([[350.0, 10.0], [900.0, 900.0]])

    def lone(peak: float):
        obs = Observations(xy, np.array([60.0, np.nan]), np.array([peak, np.nan]), np.ones(2))
        return attribute(CANDS, obs, Wind(3.0, 270.0), IDS)

    modest, huge = lone(2.0), lone(300.0)
    assert [c.factory for c in modest.ranked[:2]] == ["a", "b"]
    assert [c.factory for c in huge.ranked[:2]] == ["b", "a"]
    for result in (modest, huge):
        assert len(result.ranked) == len(IDS)
        assert result.sensors_alarmed == 1
        # The confidence is the first candidate's posterior probability.
        assert result.confidence == round(result.ranked[0].probability, 4)


def test_the_time_of_day_sets_the_stability_and_so_the_ranking():
    # A peak of 5 alarm levels 350 m downwind of a, 50 m of b: at night (a narrow,
    # concentrated plume) a usual release at a explains it, by day (wide, diluted) a
    # release at b; not told the time, the two are averaged.
    xy = np.array([[350.0, 10.0], [900.0, 900.0]])
    obs = Observations(xy, np.array([60.0, np.nan]), np.array([5.0, np.nan]), np.ones(2))
    night = attribute(CANDS, obs, Wind(3.0, 270.0, False), IDS)
    day = attribute(CANDS, obs, Wind(3.0, 270.0, True), IDS)
    assert night.ranked[0].factory == "a"
    assert day.ranked[0].factory == "b"


def test_a_large_site_is_scored_in_blocks_with_the_same_result(monkeypatch):
    rng = np.random.default_rng(3)
    cands = rng.uniform(0.0, 3000.0, (70, 2))
    cands[:6] = CANDS
    ids = tuple(f"f{i}" for i in range(70))
    obs = _episode(1)
    full = attribute(cands, obs, Wind(3.0, 270.0), ids)
    assert full.ranked[0].factory == "f1"
    assert abs(sum(c.probability for c in full.ranked) - 1.0) < 1e-9
    # The same candidates in one block, none pruned, give the same posterior.
    monkeypatch.setattr(attribution, "_BLOCK", 1000)
    monkeypatch.setattr(attribution, "_PRUNE", 1e9)
    one = attribute(cands, obs, Wind(3.0, 270.0), ids)
    assert [c.factory for c in one.ranked[:5]] == [c.factory for c in full.ranked[:5]]
    assert abs(one.confidence - full.confidence) < 1e-6


def test_missing_positions_or_alarms_give_an_empty_result_not_an_error():
    nan2 = np.full((2, 2), np.nan)
    alarmed = Observations(nan2, np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.ones(2))
    assert attribute(CANDS, alarmed, Wind(3.0, 270.0), IDS).ranked == ()
    obs = _episode(0)
    empty = attribute(np.full((6, 2), np.nan), obs, Wind(3.0, 270.0), IDS)
    assert empty.ranked == ()
    assert empty.confidence == 0.0
    quiet = Observations(CANDS, np.full(6, np.nan), np.full(6, np.nan), np.ones(6))
    assert attribute(CANDS, quiet, Wind(3.0, 270.0), IDS).ranked == ()
    none = Observations(np.empty((0, 2)), np.empty(0), np.empty(0), np.empty(0))
    assert attribute(np.empty((0, 2)), none, Wind(None, None), ()).ranked == ()
    # Some candidates without a position are left out; a peak missing counts as the alarm.
    partial = CANDS.copy()
    partial[4] = np.nan
    obs_nopeak = Observations(obs.xy, obs.onset_s, np.full(len(obs.xy), np.nan), obs.alarm)
    result = attribute(partial, obs_nopeak, Wind(0.0, 270.0), IDS)
    assert len(result.ranked) == 5
    assert "e" not in {c.factory for c in result.ranked}


def test_baseline_ranks_by_distance_to_the_first_alarm():
    xy = np.array([[610.0, 10.0], [20.0, 20.0]])
    obs = Observations(xy, np.array([5.0, 50.0]), np.array([2.0, 9.0]), np.ones(2))
    assert nearest_first(CANDS, obs, IDS)[:2] == ["c", "f"]
    none = Observations(xy, np.full(2, np.nan), np.full(2, np.nan), np.ones(2))
    assert nearest_first(CANDS, none, IDS) == []


def test_sensors_reached_after_the_wind_turned_are_scored_in_their_own_wind():
    # A releases; the wind first blows from the west (s1 east of A), then turns to blow from
    # the north-west, carrying the plume south-east onto s2, which is due east of B.
    cands = np.array([[0.0, 0.0], [0.0, 300.0], [600.0, 600.0]])
    sensors = np.array([[300.0, 0.0], [300.0, 300.0], [-300.0, 0.0]])
    onset = np.array([100.0, 1500.0, np.nan])
    peak = np.array([30.0, 12.0, np.nan])
    level = np.full(3, 10.0)
    ids = ("A", "B", "C")
    wind = Wind(3.0, 270.0)
    fixed = attribute(cands, Observations(sensors, onset, peak, level), wind, ids)
    turned = attribute(
        cands,
        Observations(sensors, onset, peak, level, np.array([270.0, 315.0, np.nan])),
        wind,
        ids,
    )
    assert turned.ranked[0].factory == "A"
    prob = {c.factory: c.probability for c in fixed.ranked}
    # The doubt about A shrinks at least tenfold once s2 is scored in its own wind.
    assert 1.0 - turned.ranked[0].probability < (1.0 - prob["A"]) / 10.0

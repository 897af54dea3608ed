"""Safety kinds' signals, the plume model and the labelled incidents."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from simulators.cli import main
from simulators.incident import INCIDENT_TYPES, Incident, draw_incident, simulate
from simulators.kinds import SAFETY_KINDS, SAFETY_LIMITS, SAFETY_METRICS
from simulators.plume import arrival
from simulators.safety import build_plan

START = 1_773_622_800_000


def _run(type_: str, seed: int = 5, wind_dir: float = 270.0, factory: int | None = None):
    plan = build_plan(seed, 24)
    rng = np.random.default_rng(seed)
    inc = draw_incident(plan, rng, type_, START + 600_000, factory)
    return plan, inc, simulate(plan, START, 7200, [inc], seed, wind_dir=wind_dir)


def test_every_safety_kind_reads_inside_its_physical_limits_with_incidents():
    for type_ in INCIDENT_TYPES:
        _, _, run = _run(type_)
        for kind in SAFETY_KINDS:
            values = run.values[kind]
            assert values.shape[2] == len(SAFETY_METRICS[kind])
            assert np.isfinite(values).all()
            for j, metric in enumerate(SAFETY_METRICS[kind]):
                lo, hi = SAFETY_LIMITS[kind][metric]
                assert values[:, :, j].min() >= lo, (kind, metric)
                assert values[:, :, j].max() <= hi, (kind, metric)


def test_clean_signals_are_plausible():
    _, _, run = _run("effluent_excursion")
    gas = run.values["gas"]
    o2 = gas[:, :, SAFETY_METRICS["gas"].index("o2")]
    assert 20.5 < o2.mean() < 21.3
    assert (gas[:, :, SAFETY_METRICS["gas"].index("lel")] < 5).all()  # no leak: no alarm
    weather = run.values["weather"]
    assert ((weather[:, :, 1] >= 0) & (weather[:, :, 1] < 360)).all()
    assert 950 < weather[:, :, 4].mean() < 1070
    fire = run.values["fire"]
    assert set(np.unique(fire[:, :, :2])) <= {0.0, 1.0}
    assert (fire[:, :, :2] == 0).all()  # no fire in this run


def test_plume_arrives_after_along_over_speed_and_dilutes_with_distance_and_angle():
    src = np.zeros(2)
    # Wind from the west (270 deg) carries air east (+x).
    pts = np.array([[200.0, 0.0], [400.0, 0.0], [400.0, 80.0], [-200.0, 0.0]])
    delay, dil = arrival(src, pts, 4.0, 270.0)
    assert delay[0] == pytest.approx(50.0)
    assert delay[1] == pytest.approx(100.0)
    assert np.isnan(delay[3])
    assert dil[3] == 0.0
    assert dil[0] > dil[1] > dil[2] > 0.0
    # A faster wind arrives sooner and dilutes more; turning the wind turns the plume.
    d_fast, c_fast = arrival(src, pts[:1], 8.0, 270.0)
    assert d_fast[0] == pytest.approx(25.0)
    assert c_fast[0] < dil[0]
    _, turned = arrival(src, np.array([[0.0, 200.0]]), 4.0, 0.0)  # from north: goes south
    assert turned[0] == pytest.approx(dil[0])


def test_a_leak_reaches_downwind_sensors_in_order_of_distance_and_is_labelled_with_its_source():
    plan = build_plan(11, 24)
    src = 5
    # Put two detectors straight downwind of the source (wind from the west), 150 and 450 m.
    xy = plan.sensor_xy["gas"].copy()
    xy[0] = plan.factory_xy[src] + [150.0, 0.0]
    xy[1] = plan.factory_xy[src] + [450.0, 0.0]
    xy[2:] = plan.factory_xy[src] - [2000.0, 0.0]  # far upwind: never reached
    plan = type(plan)(plan.site, plan.factories, plan.factory_xy, plan.sensors,
                      plan.sensor_factory, {**plan.sensor_xy, "gas": xy})  # fmt: skip
    # 250 ppm (ten times the alarm level) 150 m downwind on the axis.
    q = 250.0 / float(arrival(np.zeros(2), np.array([150.0, 0.0]), 3.0, 270.0)[1])
    inc = Incident("gas_leak", src, START + 600_000, 1800.0, "nh3", q, plan.factory_xy[src])
    run = simulate(plan, START, 7200, [inc], 3, wind_speed=3.0, wind_dir=270.0)
    labels = {r[0]: r for r in run.labels}
    near, far = (f"{plan.path('gas', i)}/nh3" for i in (0, 1))
    assert set(labels) == {near, far}
    assert all(r[3] == "gas_leak" and r[4] == plan.factories[src] for r in labels.values())
    # Arrivals about 50 s and 150 s after the release (wind 3 m/s, meandering).
    assert 0 <= labels[near][1] - inc.start_ms <= 120_000
    assert labels[far][1] > labels[near][1]
    nh3 = run.values["gas"][:, :, SAFETY_METRICS["gas"].index("nh3")]
    assert nh3[0].max() > 2 * nh3[1].max() > 0
    assert nh3[2:].max() < 2.0


def test_a_fire_trips_smoke_before_heat_and_flame():
    plan, _, run = _run("fire", factory=3)
    rows = {r[0].rsplit("/", 1)[1]: r for r in run.labels}
    assert set(rows) == {"smoke", "heat", "flame"} or set(rows) == {"smoke", "heat"}
    assert rows["smoke"][1] < rows["heat"][1]
    assert all(r[4] == plan.factories[3] for r in run.labels)
    i = int(np.flatnonzero(plan.sensor_factory["fire"] == 3)[0])
    assert run.values["fire"][i, :, 2].max() > 50.0


def test_an_effluent_excursion_moves_ph_and_multiplies_cod_at_the_source_only():
    plan = build_plan(5, 24)
    source = int(plan.sensor_factory["water"][0])
    _, _, run = _run("effluent_excursion", factory=source)
    water = run.values["water"]
    assert abs(water[0, :, 0] - 7.2).max() > 1.5
    assert water[0, :, 1].max() > 2.5 * np.median(water[0, :10, 1])  # before it began
    assert {r[0].split("/")[1] for r in run.labels} == {plan.factories[source]}
    assert {r[0].rsplit("/", 1)[1] for r in run.labels} == {"ph", "cod", "ss", "turbidity"}


def test_incident_command_writes_files_evaluate_and_replay_read(tmp_path):
    out = tmp_path / "leak"
    code = main(["incident", "--type", "fire", "--out", str(out), "--seed", "2",
                 "--duration", "1800", "--source", build_plan(2, 24).factories[4]])  # fmt: skip
    assert code == 0
    with (out / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    assert {r["source_factory"] for r in rows} == {build_plan(2, 24).factories[4]}
    from controlcenter.anomaly_eval import load

    ds = load(out)
    assert len(ds.labels) == len(rows)
    assert ds.labels[0][3] == "fire"
    doc = json.loads((out / "positions.json").read_text())
    site = doc["sites"][0]
    assert len(site["factories"]) == 24
    assert all("plan_x" in s for s in site["sensors"])
    # The service's import-positions reads it.
    from controlcenter.layoutfile import parse_positions

    parsed = parse_positions((out / "positions.json").read_bytes())
    assert len(parsed.sites[0].sensors) == len(site["sensors"])
    assert main(["incident", "--out", str(out), "--source", "nope"]) == 2

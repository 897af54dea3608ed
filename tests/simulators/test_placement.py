"""Placement of the simulated factories and sensors: inside their sites, stable, consistent."""

from __future__ import annotations

import json

import numpy as np
from simulators.cli import main
from simulators.layout import build_layout
from simulators.placement import place, positions_document
from simulators.safety import site_plans
from simulators.scenario import load_scenario

from controlcenter.geo import local_metres, plan_xy


def _layout(factories: int = 40, seed: int | None = None):
    return build_layout(load_scenario().with_overrides(factories=factories, seed=seed))


def test_factories_stand_inside_their_site_and_apart():
    layout = _layout()
    p = place(layout)
    for s, area in enumerate(p.areas):
        members = layout.factory_site == s
        assert np.all(
            (p.factory_lat[members] <= area.north) & (p.factory_lat[members] >= area.south)
        )
        assert np.all((p.factory_lon[members] >= area.west) & (p.factory_lon[members] <= area.east))
        xy = p.factory_xy[members]
        if len(xy) > 1:
            gaps = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=-1)
            np.fill_diagonal(gaps, np.inf)
            assert gaps.min() > 20.0  # one lot each: never on top of each other
    # Namdong: around 37.40 N, 126.69 E.
    assert abs(float(np.mean(p.factory_lat)) - 37.40) < 0.01
    assert abs(float(np.mean(p.factory_lon)) - 126.69) < 0.015


def test_plan_coordinates_agree_with_lat_lon_and_sensors_stand_near_their_factory():
    layout = _layout()
    p = place(layout)
    for s, area in enumerate(p.areas):
        members = np.flatnonzero(layout.factory_site == s)
        x, y = plan_xy(p.factory_lat[members], p.factory_lon[members], (area.north, area.west))
        np.testing.assert_allclose(x, p.factory_xy[members, 0], atol=0.5)
        np.testing.assert_allclose(y, p.factory_xy[members, 1], atol=0.5)
    for kind, table in layout.tables.items():
        name = kind.value
        owner = np.asarray(table.factory)
        e, n = local_metres(
            p.sensor_lat[name], p.sensor_lon[name], p.factory_lat[owner], p.factory_lon[owner]
        )
        assert np.all(np.hypot(e, n) <= 61.0)


def test_placement_follows_the_seed_and_the_document_lists_everything(capsys):
    a, b, c = place(_layout()), place(_layout()), place(_layout(seed=7))
    np.testing.assert_array_equal(a.factory_lat, b.factory_lat)
    assert not np.array_equal(a.factory_lat, c.factory_lat)
    layout = _layout(12)
    assert main(["positions", "--factories", "12", "--log-level", "WARNING"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(positions_document(layout)))
    assert sum(len(s["factories"]) for s in printed["sites"]) == 12
    plans = site_plans(layout, place(layout))
    safety = sum(len(names) for plan in plans for names in plan.sensors.values())
    assert safety >= 4  # the default scenario's gas, fire, odour, water and weather sensors
    assert {s["kind"] for site in printed["sites"] for s in site["sensors"]} >= {"gas", "weather"}
    assert sum(len(s["sensors"]) for s in printed["sites"]) == safety + sum(
        len(t) for t in layout.tables.values()
    )

"""Scenario files, scaling flags, payload encoding and the package's public names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from simulators.engine import Simulation, parse_shard
from simulators.kinds import METRICS, Kind
from simulators.layout import build_layout
from simulators.payload import PayloadEncoder
from simulators.scenario import Scenario, ScenarioError, load_scenario

import simulators


def test_exported_members_are_public_and_exist():
    for name in simulators.__all__:
        assert hasattr(simulators, name), name
    assert sorted(simulators.__all__) == sorted(set(simulators.__all__))


def test_shipped_scenario_is_the_namdong_complex():
    sc = load_scenario()
    layout = build_layout(sc)
    assert sc.name == "namdong"
    assert layout.n_factories == 200
    assert set(layout.industries) == {
        "casting", "moulds", "forming", "welding", "surface_treatment", "heat_treatment",
    }  # fmt: skip
    assert all(len(layout.tables[k]) for k in Kind)
    assert len(set(layout.factory_ids)) == layout.n_factories
    assert layout.factory_kw.min() >= 50


def test_series_flag_scales_to_a_hundred_thousand_series():
    layout = build_layout(load_scenario().with_overrides(series=100_000))
    assert 95_000 <= layout.n_series <= 105_000


def test_sensors_per_factory_gives_every_factory_that_many_sensors():
    layout = build_layout(load_scenario().with_overrides(factories=3, sensors_per_factory=6))
    per_factory = sum(np.bincount(t.factory, minlength=3) for t in layout.tables.values())
    assert per_factory.tolist() == [6, 6, 6]


def test_a_handful_of_sensors_is_possible():
    layout = build_layout(load_scenario().with_overrides(factories=1, sensors_per_factory=1))
    assert layout.n_series == len(METRICS[Kind.POWER])


def test_scenario_files_round_trip(tmp_path: Path):
    sc = load_scenario().with_overrides(seed=3, factories=7)
    path = tmp_path / "mine.yaml"
    path.write_text(sc.dump())
    again = load_scenario(path)
    assert again.data == sc.data
    assert build_layout(again).factory_ids == build_layout(sc).factory_ids


@pytest.mark.parametrize(
    "change",
    [
        {"factories": {"count": 0, "sizes": {}}},
        {"anomalies": {"meteor": {"per_day": 1}}},
        {"start": "yesterday"},
    ],
)
def test_bad_scenarios_are_refused(change):
    data = {**load_scenario().data, **change}
    with pytest.raises(ScenarioError):
        Scenario(data).validate()


def test_unknown_scenario_name_is_refused():
    with pytest.raises(ScenarioError):
        load_scenario("atlantis")


def test_shard_syntax():
    assert parse_shard("2/3") == (2, 3)
    with pytest.raises(ValueError, match="shard"):
        parse_shard("3/3")


def _frame():
    sc = load_scenario().with_overrides(factories=2)
    sim = Simulation(sc, start_ms=sc.start_ms)
    return sim, sim.next_frame(Kind.AIR)


def test_single_readings_carry_every_metric():
    sim, frame = _frame()
    messages = PayloadEncoder(sim.layout, "cc").messages(frame)
    assert len(messages) == frame.n_readings
    body = json.loads(messages[0].payload)
    assert set(body) == {"ts", "seq", "values"}
    assert list(body["values"]) == list(METRICS[Kind.AIR])
    assert messages[0].topic.startswith("cc/v1/namdong-")


def test_batches_hold_readings_of_one_sensor_and_respect_the_limit():
    sim, frame = _frame()
    enc = PayloadEncoder(sim.layout, "cc", batch=10, ts_format="rfc3339")
    messages = enc.messages(frame, limit=25)
    assert sum(m.readings for m in messages) == 25
    body = json.loads(messages[0].payload)
    assert len(body["readings"]) == 10
    assert body["readings"][0]["ts"].endswith("Z")
    seqs = [r["seq"] for r in body["readings"]]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 10


@pytest.mark.parametrize("module", ["simulators.frame", "simulators.engine"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    failures, tried = doctest.testmod(importlib.import_module(module))
    assert tried
    assert not failures

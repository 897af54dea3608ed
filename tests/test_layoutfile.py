"""Positions files: the simulator's placement imported into the catalog, bad files refused."""

from __future__ import annotations

import json
import uuid

import pytest
from simulators.layout import build_layout
from simulators.placement import positions_document
from simulators.scenario import load_scenario

from controlcenter.errors import ConfigError
from controlcenter.layoutfile import import_file, parse_positions
from controlcenter.store.positions import site_positions


async def test_the_simulated_complex_is_imported_with_every_position(pool, tmp_path):
    layout = build_layout(load_scenario().with_overrides(factories=8))
    doc = positions_document(layout)
    prefix = f"lf{uuid.uuid4().hex[:6]}-"
    for site in doc["sites"]:
        site["site"] = prefix + site["site"]  # this test's own sites
    path = tmp_path / "positions.json"
    path.write_text(json.dumps(doc))
    factories, sensors = await import_file(pool, path)
    assert factories == 8
    # The complex's own sensors and the safety sensors of the default scenario.
    assert sensors == sum(len(s["sensors"]) for s in doc["sites"])
    assert sensors > sum(len(t) for t in layout.tables.values())
    for site in doc["sites"]:
        got = await site_positions(pool, site["site"])
        assert got is not None
        want = {
            f["factory"]: (f["lat"], f["lon"], f["plan_x"], f["plan_y"]) for f in site["factories"]
        }
        assert {f.factory: (f.lat, f.lon, f.plan_x, f.plan_y) for f in got.factories} == want
        assert {f.industry for f in got.factories} <= set(layout.industries)
        assert len(got.sensors) == len(site["sensors"])
        assert all(got.sensor_geo(s) == (s.lat, s.lon) for s in got.sensors)
    # Importing again updates in place (no duplicates).
    assert await import_file(pool, path) == (factories, sensors)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"not json", "not a positions file"),
        (
            b'{"sites": [{"site": "s", "factories": [{"factory": "f", "lat": 95, "lon": 1}]}]}',
            "less than or equal to 90",
        ),
        (
            b'{"sites": [{"site": "s", "factories": [{"factory": "f", "lat": 37}]}]}',
            "lat and lon go together",
        ),
        (b'{"sites": [{"site": "s x", "factories": []}]}', "should match pattern"),
        (
            b'{"sites": [{"site": "s", "sensors":'
            b' [{"factory": "f", "kind": "Gas!", "sensor": "g"}]}]}',
            "kind",
        ),
    ],
)
def test_a_bad_positions_file_is_refused_with_the_reason(text, reason):
    with pytest.raises(ConfigError, match="not a positions file") as err:
        parse_positions(text)
    assert reason in str(err.value)

"""Positions of factories and sensors, and the plan image, in the catalog (revision 0016)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from controlcenter.domain import SensorKey, SeriesKey
from controlcenter.store import Catalog
from controlcenter.store.positions import (
    FactoryPosition,
    SensorPosition,
    find_sensors,
    import_positions,
    plan_image,
    set_factory_position,
    set_plan_image,
    set_sensor_position,
    site_positions,
)


async def _site(pool) -> str:
    site = f"pos{uuid.uuid4().hex[:8]}"
    catalog = Catalog(pool)
    await catalog.load()
    await catalog.resolve(
        [
            SeriesKey(SensorKey(site, "f1", "gas", "g1"), "lel"),
            SeriesKey(SensorKey(site, "f2", "gas", "g1"), "lel"),
            SeriesKey(SensorKey(site, "f2", "odor", "o1"), "ou"),
        ]
    )
    return site


async def test_positions_are_set_kept_and_cleared_pair_by_pair(pool):
    site = await _site(pool)
    f = await set_factory_position(pool, site, "f1", geo=(37.401, 126.691))
    assert f == FactoryPosition("f1", lat=37.401, lon=126.691)
    f = await set_factory_position(pool, site, "f1", plan=(120.0, 80.5))
    assert (f.lat, f.lon, f.plan_x, f.plan_y) == (37.401, 126.691, 120.0, 80.5)
    f = await set_factory_position(pool, site, "f1", geo=None)
    assert (f.lat, f.lon, f.plan_x, f.plan_y) == (None, None, 120.0, 80.5)
    s = await set_sensor_position(pool, site, "f2", "odor", "o1", geo=(37.4, 126.7))
    assert s == SensorPosition("f2", "odor", "o1", lat=37.4, lon=126.7)
    assert await set_factory_position(pool, site, "nope", geo=(1.0, 2.0)) is None
    assert await set_sensor_position(pool, site, "f1", "odor", "o1", geo=(1.0, 2.0)) is None

    got = await site_positions(pool, site)
    assert got is not None
    assert [x.factory for x in got.factories] == ["f1", "f2"]
    assert [(x.factory, x.kind, x.sensor) for x in got.sensors] == [
        ("f1", "gas", "g1"),
        ("f2", "gas", "g1"),
        ("f2", "odor", "o1"),
    ]
    # A sensor without its own position stands at its factory's.
    assert got.sensor_xy(got.sensors[0]) == (120.0, 80.5)
    assert got.sensor_geo(got.sensors[0]) is None
    assert got.sensor_geo(got.sensors[2]) == (37.4, 126.7)
    only = await site_positions(pool, site, factory="f2", kinds=["odor"])
    assert only is not None
    assert [x.sensor for x in only.sensors] == ["o1"]
    assert [x.factory for x in only.factories] == ["f2"]
    assert await site_positions(pool, "no-such-site") is None
    assert len(await find_sensors(pool, site, "g1", None, None)) == 2
    assert len(await find_sensors(pool, site, "g1", "f2", "gas")) == 1


async def test_the_database_refuses_out_of_range_and_half_pairs(pool):
    site = await _site(pool)
    with pytest.raises(asyncpg.CheckViolationError):
        await set_factory_position(pool, site, "f1", geo=(91.0, 126.0))
    with pytest.raises(asyncpg.CheckViolationError):
        await set_factory_position(pool, site, "f1", plan=(-1.0, 5.0))
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "UPDATE factories SET lat = 37.0 WHERE code = 'f1'"
            " AND site_id = (SELECT site_id FROM sites WHERE code = $1)",
            site,
        )


async def test_import_registers_missing_factories_and_sensors_and_keeps_names(pool):
    site = await _site(pool)
    await pool.execute(
        "UPDATE factories SET name = 'Kept' WHERE code = 'f1'"
        " AND site_id = (SELECT site_id FROM sites WHERE code = $1)",
        site,
    )
    written = await import_positions(
        pool,
        site,
        [
            FactoryPosition(
                "f1", "New", "casting", lat=37.40, lon=126.69, plan_x=10.0, plan_y=20.0
            ),
            FactoryPosition(
                "f9", "Nine", "welding", lat=37.41, lon=126.70, plan_x=30.0, plan_y=40.0
            ),
        ],
        [SensorPosition("f9", "gas", "g7", lat=37.411, lon=126.701, plan_x=31.0, plan_y=41.0)],
    )
    assert written == (2, 1)
    got = await site_positions(pool, site)
    assert got is not None
    f1, f9 = got.factory("f1"), got.factory("f9")
    assert f1 is not None
    assert f9 is not None
    assert (f1.name, f1.industry, f1.plan_x) == ("Kept", "casting", 10.0)
    assert (f9.name, f9.lat, f9.lon) == ("Nine", 37.41, 126.70)
    assert (
        SensorPosition("f9", "gas", "g7", lat=37.411, lon=126.701, plan_x=31.0, plan_y=41.0)
        in got.sensors
    )


async def test_plan_image_round_trips_and_replaces(pool):
    site = await _site(pool)
    assert await plan_image(pool, site) is None
    assert await set_plan_image(pool, "no-such-site", b"x", "image/png", 1.0, 1.0) is None
    info = await set_plan_image(pool, site, b"\x89PNG-one", "image/png", 800.0, 600.0)
    assert info is not None
    assert (info.width_m, info.height_m) == (800.0, 600.0)
    await set_plan_image(pool, site, b"\xff\xd8\xff-two", "image/jpeg", 900.0, 500.0)
    got = await plan_image(pool, site)
    assert got is not None
    assert got.image == b"\xff\xd8\xff-two"
    assert (got.info.content_type, got.info.width_m) == ("image/jpeg", 900.0)
    positions = await site_positions(pool, site)
    assert positions is not None
    assert positions.plan == got.info

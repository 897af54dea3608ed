"""Catalog routes: filters, pagination, bounds."""

from __future__ import annotations

from controlcenter.api.auth import Role
from tests.api._api import Api, unique_site


async def test_catalog_lists_sites_factories_sensors_and_series_with_filters(api: Api):
    site = unique_site()
    air = await api.series(site, "f1", "air", "aq1", ["pm10", "pm25"])
    await api.series(site, "f2", "power", "m1", ["kw"])
    c = await api.client(Role.VIEWER)

    sites = (await c.get("/api/v1/sites", params={"limit": 1000})).json()
    assert {"site": site, "name": None, "factories": 2} in sites["items"]

    factories = (await c.get("/api/v1/factories", params={"site": site})).json()
    assert [f["factory"] for f in factories["items"]] == ["f1", "f2"]

    sensors = (await c.get("/api/v1/sensors", params={"site": site, "kind": "power"})).json()
    assert [(s["factory"], s["sensor"], s["metadata"]) for s in sensors["items"]] == [
        ("f2", "m1", {})
    ]

    series = (await c.get("/api/v1/series", params={"site": site, "metric": "pm25"})).json()
    assert [s["series_id"] for s in series["items"]] == [air[1]]
    by_id = (await c.get("/api/v1/series", params=[("id", air[0]), ("id", air[1])])).json()
    assert [s["metric"] for s in by_id["items"]] == ["pm10", "pm25"]


async def test_catalog_pages_and_bounds(api: Api):
    site = unique_site()
    for i in range(5):
        await api.series(site, f"f{i}", "air", "aq1", ["pm10"])
    c = await api.client()
    first = (await c.get("/api/v1/factories", params={"site": site, "limit": 2})).json()
    assert [f["factory"] for f in first["items"]] == ["f0", "f1"]
    assert first["next_offset"] == 2
    last = (await c.get("/api/v1/factories", params={"site": site, "offset": 4})).json()
    assert [f["factory"] for f in last["items"]] == ["f4"]
    assert last["next_offset"] is None

    too_big = await c.get("/api/v1/factories", params={"limit": 1_000_000})
    assert too_big.status_code == 422  # the schema states the configured maximum
    assert "less than or equal to 1000" in too_big.json()["detail"][0]["msg"]
    bad = await c.get("/api/v1/sensors", params={"kind": "Water!"})
    assert bad.status_code == 422
    bad_code = await c.get("/api/v1/factories", params={"site": "no spaces"})
    assert bad_code.status_code == 422

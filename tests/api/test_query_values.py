"""A scalar query parameter given twice is a 422 (not silently its last value); list
parameters may repeat."""

from __future__ import annotations

from controlcenter.api.auth import Role
from tests.api._api import unique_site


async def test_a_repeated_scalar_parameter_is_refused_and_lists_may_repeat(api):
    site = unique_site()
    ids = await api.series(site, "f1", "gas", "g1", ["lel", "h2s"])
    c = await api.client(Role.ADMIN)
    r = await c.get("/api/v1/factories", params=[("site", site), ("site", "other")])
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "site"]
    r = await c.get("/api/v1/reports/subscribers", params=[("site", site), ("site", "x")])
    assert r.status_code == 422
    r = await c.get(f"/api/v1/sites/{site}/map", params=[("kind", "gas"), ("kind", "odor")])
    assert r.status_code == 200
    r = await c.get("/api/v1/series", params=[("id", ids[0]), ("id", ids[1])])
    assert r.status_code == 200
    assert {s["series_id"] for s in r.json()["items"]} == set(ids)
    r = await c.get("/api/v1/factories", params={"site": site})
    assert [f["factory"] for f in r.json()["items"]] == ["f1"]

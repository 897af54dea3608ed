"""Positions, the site map and the site plan through the API: roles, scope, 4xx, round trips."""

from __future__ import annotations

import io
import math
import time

import numpy as np
import pytest
from PIL import Image

from controlcenter.api.auth import Role
from tests.api._api import unique_site, us


async def _site(api) -> str:
    site = unique_site()
    await api.series(site, "f1", "gas", "g1", ["lel", "h2s"])
    await api.series(site, "f2", "gas", "g1", ["lel"])
    await api.series(site, "f2", "odor", "o1", ["ou"])
    return site


def _image(fmt: str, size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 220, 240)).save(out, format=fmt)
    return out.getvalue()


async def test_admins_set_positions_and_viewers_read_them_on_the_map(api):
    site = await _site(api)
    admin, viewer = await api.client(Role.ADMIN), await api.client()
    r = await admin.put(
        f"/api/v1/sites/{site}/factories/f1/position", json={"lat": 37.401, "lon": 126.691}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"site": site, "factory": "f1", "lat": 37.401, "lon": 126.691,
                        "plan_x": None, "plan_y": None}  # fmt: skip
    # A pair left out stays; both pairs at once.
    r = await admin.put(
        f"/api/v1/sites/{site}/factories/f1/position", json={"plan_x": 100.0, "plan_y": 50.0}
    )
    assert (r.json()["lat"], r.json()["plan_x"]) == (37.401, 100.0)
    r = await admin.put(
        f"/api/v1/sites/{site}/sensors/o1/position",
        json={"lat": 37.402, "lon": 126.692, "plan_x": 130.0, "plan_y": 40.0},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["factory"], r.json()["kind"]) == ("f2", "odor")

    m = (await viewer.get(f"/api/v1/sites/{site}/map")).json()
    f1 = next(f for f in m["factories"] if f["factory"] == "f1")
    assert (f1["lat"], f1["lon"], f1["plan_x"], f1["plan_y"]) == (37.401, 126.691, 100.0, 50.0)
    o1 = next(s for s in m["sensors"] if s["sensor"] == "o1")
    assert (o1["lat"], o1["plan_y"], o1["kind"]) == (37.402, 40.0, "odor")
    assert m["episodes"] == []
    assert m["wind"] is None
    assert m["plan"] is None
    only_odor = (await viewer.get(f"/api/v1/sites/{site}/map", params={"kind": "odor"})).json()
    assert [s["sensor"] for s in only_odor["sensors"]] == ["o1"]

    # Null pairs clear.
    r = await admin.put(
        f"/api/v1/sites/{site}/factories/f1/position", json={"lat": None, "lon": None}
    )
    assert (r.json()["lat"], r.json()["lon"], r.json()["plan_x"]) == (None, None, 100.0)


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        ({"lat": 91, "lon": 126.7}, 422, "less than or equal to 90"),
        ({"lat": 37.4, "lon": -181}, 422, "greater than or equal to -180"),
        ({"plan_x": -1, "plan_y": 3}, 422, "greater than or equal to 0"),
        ({"plan_x": 2e6, "plan_y": 3}, 422, "less than or equal to"),
        ({"lat": 37.4, "lon": 126.7, "alt": 3}, 422, "Extra inputs"),
        ({"lat": "north", "lon": 126.7}, 422, "valid number"),
        # Values that fit the schema but not each other: 400 (as everywhere in the API).
        ({"lat": 37.4}, 400, "lat and lon go together"),
        ({"lat": 37.4, "lon": None}, 400, "lat and lon go together"),
        ({}, 400, "give lat and lon"),
    ],
)
async def test_bad_positions_are_refused_with_the_reason(api, body, code, reason):
    site = await _site(api)
    admin = await api.client(Role.ADMIN)
    for path in ("factories/f1/position", "sensors/o1/position"):
        r = await admin.put(f"/api/v1/sites/{site}/{path}", json=body)
        assert r.status_code == code, r.text
        assert reason in r.text
    row = await api.pool.fetchrow(
        "SELECT lat, plan_x FROM factories f JOIN sites s USING (site_id)"
        " WHERE s.code = $1 AND f.code = 'f1'",
        site,
    )
    assert tuple(row) == (None, None)


async def test_roles_scope_and_unknown_names(api):
    site = await _site(api)
    body = {"lat": 37.4, "lon": 126.7}
    anonymous = await api.client(None)
    viewer = await api.client()
    operator = await api.client(Role.OPERATOR)
    scoped_admin = await api.client(Role.ADMIN, scope=(site, "f2"))
    admin = await api.client(Role.ADMIN)
    path = f"/api/v1/sites/{site}/factories/f1/position"
    assert (await anonymous.put(path, json=body)).status_code == 401
    assert (await anonymous.get(f"/api/v1/sites/{site}/map")).status_code == 401
    assert (await viewer.put(path, json=body)).status_code == 403
    assert (await operator.put(path, json=body)).status_code == 403
    assert (await scoped_admin.put(path, json=body)).status_code == 403
    own = f"/api/v1/sites/{site}/factories/f2/position"
    assert (await scoped_admin.put(own, json=body)).status_code == 200
    # The scoped admin's sensor lookup is narrowed to its factory: g1 is f2's there.
    r = await scoped_admin.put(f"/api/v1/sites/{site}/sensors/g1/position", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["factory"] == "f2"
    # g1 is coded in f1 and f2: an unscoped key names one.
    r = await admin.put(f"/api/v1/sites/{site}/sensors/g1/position", json=body)
    assert r.status_code == 400
    assert "factory and kind" in r.json()["detail"]
    r = await admin.put(
        f"/api/v1/sites/{site}/sensors/g1/position", params={"factory": "f1"}, json=body
    )
    assert (r.status_code, r.json()["factory"]) == (200, "f1")
    assert (
        await admin.put(f"/api/v1/sites/{site}/factories/nope/position", json=body)
    ).status_code == 404
    assert (
        await admin.put(f"/api/v1/sites/{site}/sensors/nope/position", json=body)
    ).status_code == 404
    assert (
        await admin.put(f"/api/v1/sites/{site}/factories/bad%20code/position", json=body)
    ).status_code == 422
    assert (await viewer.get("/api/v1/sites/no-such-site/map")).status_code == 404

    # A factory-scoped viewer's map holds its factory only; another site is 403.
    scoped = await api.client(Role.VIEWER, scope=(site, "f2"))
    m = (await scoped.get(f"/api/v1/sites/{site}/map")).json()
    assert {f["factory"] for f in m["factories"]} == {"f2"}
    assert {s["factory"] for s in m["sensors"]} == {"f2"}
    assert (await scoped.get(f"/api/v1/sites/{unique_site()}/map")).status_code == 403


async def test_the_map_colours_factories_and_sensors_by_their_worst_open_alert(api):
    site = await _site(api)
    await api.series(site, "f3", "gas", "g9", ["lel"])
    await api.pool.execute(
        "INSERT INTO alerts (rule_name, subject, severity, site, factory, kind, sensor,"
        " opened_at, state) VALUES"
        " ('r', 'a', 'warning', $1, 'f1', 'gas', 'g1', now(), 'open'),"
        " ('r', 'b', 'critical', $1, 'f1', 'gas', 'g1', now(), 'acknowledged'),"
        " ('r', 'c', 'critical', $1, 'f2', 'gas', 'g1', now(), 'resolved'),"
        " ('r', 'd', 'info', $1, 'f2', NULL, NULL, now(), 'open')",
        site,
    )
    m = (await (await api.client()).get(f"/api/v1/sites/{site}/map")).json()
    states = {f["factory"]: (f["state"], f["alerts"]) for f in m["factories"]}
    assert states == {
        "f1": ("critical", {"critical": 1, "warning": 1, "info": 0}),
        "f2": ("info", {"critical": 0, "warning": 0, "info": 1}),
        "f3": ("ok", {"critical": 0, "warning": 0, "info": 0}),
    }
    sensors = {(s["factory"], s["sensor"]): s["state"] for s in m["sensors"]}
    assert sensors[("f1", "g1")] == "critical"
    assert sensors[("f2", "g1")] == "ok"


async def test_the_wind_is_the_vector_mean_of_the_latest_station_readings(api):
    site = await _site(api)
    now = time.time()
    a = await api.series(site, "f1", "weather", "wx1", ["wind_speed", "wind_dir"])
    b = await api.series(site, "f2", "weather", "wx2", ["wind_speed", "wind_dir"])
    # Older readings first: only the latest of each series counts.
    await api.write([a[0], a[1]], [us(now - 60)] * 2, [9.0, 180.0])
    await api.write([a[0], a[1], b[0], b[1]], [us(now - 5)] * 4, [2.0, 350.0, 4.0, 20.0])
    m = (await (await api.client()).get(f"/api/v1/sites/{site}/map")).json()
    speed, theta = np.array([2.0, 4.0]), np.radians([350.0, 20.0])
    expected = (
        math.degrees(math.atan2(np.mean(speed * np.sin(theta)), np.mean(speed * np.cos(theta))))
        % 360
    )
    assert m["wind"]["stations"] == 2
    assert m["wind"]["speed"] == pytest.approx(3.0)
    assert m["wind"]["dir"] == pytest.approx(expected, abs=0.1)
    assert 9.0 < m["wind"]["dir"] < 11.0  # north-north-east, not the arithmetic 185
    # A scoped viewer gets its own factory's station.
    scoped = await api.client(Role.VIEWER, scope=(site, "f2"))
    own = (await scoped.get(f"/api/v1/sites/{site}/map")).json()["wind"]
    assert (own["stations"], own["speed"], own["dir"]) == (1, 4.0, 20.0)


async def test_plan_images_round_trip_and_bad_uploads_are_refused(api):
    site = await _site(api)
    admin, viewer = await api.client(Role.ADMIN), await api.client()
    path = f"/api/v1/sites/{site}/plan"
    size = {"width_m": 1400, "height_m": 1000}
    assert (await viewer.get(path)).status_code == 404
    png = _image("PNG")
    r = await admin.put(path, params=size, content=png, headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    assert r.json() == {"site": site, "content_type": "image/png", "width_m": 1400.0,
                        "height_m": 1000.0, "bytes": len(png)}  # fmt: skip
    got = await viewer.get(path)
    assert (got.status_code, got.headers["content-type"], got.content) == (200, "image/png", png)
    assert got.headers["x-content-type-options"] == "nosniff"
    plan = (await viewer.get(f"/api/v1/sites/{site}/map")).json()["plan"]
    assert (plan["content_type"], plan["width_m"], plan["height_m"]) == ("image/png", 1400, 1000)
    # JPEG replaces it; a body that is not what it says, another type, no size: refused.
    jpeg = _image("JPEG")
    r = await admin.put(path, params=size, content=jpeg, headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200, r.text
    assert (await viewer.get(path)).content == jpeg
    r = await admin.put(path, params=size, content=jpeg, headers={"Content-Type": "image/png"})
    assert (r.status_code, r.json()["detail"]) == (422, "the body is not a image/png image")
    gif = _image("GIF")
    r = await admin.put(path, params=size, content=gif, headers={"Content-Type": "image/gif"})
    assert r.status_code == 415
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    r = await admin.put(path, params=size, content=svg, headers={"Content-Type": "image/svg+xml"})
    assert r.status_code == 415
    r = await admin.put(path, params={"width_m": 0, "height_m": 10}, content=png,
                        headers={"Content-Type": "image/png"})  # fmt: skip
    assert r.status_code == 422
    r = await admin.put(path, content=png, headers={"Content-Type": "image/png"})
    assert r.status_code == 422
    # Larger than the API's usual body limit is fine up to api.max_plan_image_bytes.
    big = _image("PNG", (900, 900))
    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 255, (500, 500, 3), np.uint8))
    buf = io.BytesIO()
    noisy.save(buf, format="PNG")
    big = buf.getvalue()
    assert api.state.api.max_request_body_bytes < len(big) < api.state.api.max_plan_image_bytes
    r = await admin.put(path, params=size, content=big, headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    over = b"\x89PNG\r\n\x1a\n" + bytes(api.state.api.max_plan_image_bytes)
    r = await admin.put(path, params=size, content=over, headers={"Content-Type": "image/png"})
    assert r.status_code == 413
    assert (await viewer.get(path)).content == big
    # Roles and scope: viewers and scoped admins may not upload; unknown site 404.
    r = await viewer.put(path, params=size, content=png, headers={"Content-Type": "image/png"})
    assert r.status_code == 403
    scoped_admin = await api.client(Role.ADMIN, scope=(site, "f1"))
    r = await scoped_admin.put(
        path, params=size, content=png, headers={"Content-Type": "image/png"}
    )
    assert r.status_code == 403
    assert (await scoped_admin.get(path)).status_code == 200
    r = await admin.put(f"/api/v1/sites/{unique_site()}/plan", params=size, content=png,
                        headers={"Content-Type": "image/png"})  # fmt: skip
    assert r.status_code == 404
    other = await api.client(Role.VIEWER, scope=(unique_site(), "f1"))
    assert (await other.get(path)).status_code == 403

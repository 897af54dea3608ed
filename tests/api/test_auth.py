"""Authentication, roles and tenancy: a factory key sees its own factory on every route."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import orjson
import pytest
from websockets.asyncio.client import connect

from controlcenter.api.auth import Role
from controlcenter.domain import DeadLetter
from tests.api._api import Api, batch, close_code, unique_site


async def test_requests_without_a_valid_key_get_401_and_low_roles_403(api: Api):
    anonymous = await api.client(role=None)
    r = await anonymous.get("/api/v1/sites")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    bad = await anonymous.get("/api/v1/sites", headers={"X-API-Key": "cc_000000000000_nope"})
    assert bad.status_code == 401
    garbage = await anonymous.get("/api/v1/sites", headers={"Authorization": "Bearer x"})
    assert garbage.status_code == 401

    key = await api.key(Role.VIEWER)
    bearer = await anonymous.get("/api/v1/sites", headers={"Authorization": f"Bearer {key}"})
    assert bearer.status_code == 200
    viewer = await api.client(Role.VIEWER)
    r = await viewer.get("/api/v1/dead-letters")
    assert r.status_code == 403
    assert "operator" in r.json()["detail"]
    assert (await viewer.get("/api/v1/keys")).status_code == 403
    operator = await api.client(Role.OPERATOR)
    assert (await operator.get("/api/v1/dead-letters")).status_code == 200
    assert (await operator.post("/api/v1/keys", json={"role": "admin"})).status_code == 403


async def test_admin_creates_lists_and_revokes_keys(api: Api):
    admin = await api.client(Role.ADMIN)
    r = await admin.post("/api/v1/keys", json={"role": "viewer", "name": "wall"})
    assert r.status_code == 201
    created = r.json()
    assert created["key"].startswith(f"cc_{created['key_id']}_")
    listed = (await admin.get("/api/v1/keys")).json()
    assert any(k["key_id"] == created["key_id"] and "key" not in k for k in listed)
    user = await api.client(role=None)
    headers = {"X-API-Key": created["key"]}
    assert (await user.get("/api/v1/sites", headers=headers)).status_code == 200
    assert (await admin.delete(f"/api/v1/keys/{created['key_id']}")).status_code == 204
    assert (await admin.delete(f"/api/v1/keys/{created['key_id']}")).status_code == 404
    await asyncio.sleep(0.6)  # the tests' key cache lives 0.5 s
    assert (await user.get("/api/v1/sites", headers=headers)).status_code == 401
    half = await admin.post("/api/v1/keys", json={"role": "viewer", "site": "s"})
    assert half.status_code == 400


@pytest.fixture
async def two_factories(api: Api):
    site = unique_site()
    mine = await api.series(site, "f1", "air", "aq1", ["pm10", "pm25"])
    theirs = await api.series(site, "f2", "air", "aq1", ["pm10", "pm25"])
    now = time.time_ns() // 1000
    await api.write(mine + theirs, [now] * 4, [1.0, 2.0, 3.0, 4.0])
    root = api.state.settings.mqtt.topic_root
    await api.writer.write(
        batch([], [], []),
        [
            DeadLetter(f"{root}/v1/{site}/f1/air/aq1", b"{", "malformed_json"),
            DeadLetter(f"{root}/v1/{site}/f2/air/aq1", b"[", "malformed_json"),
            DeadLetter(f"{root}/v1/{site}/f22/air/aq1", b"x", "bad_topic"),
        ],
    )
    return site, mine, theirs


async def test_a_factory_key_cannot_read_another_factory_by_any_route(api: Api, two_factories):
    site, mine, theirs = two_factories
    c = await api.client(Role.ADMIN, scope=(site, "f1"))

    async def status(path: str, **params) -> int:
        return (await c.get(path, params=params)).status_code

    sites = (await c.get("/api/v1/sites")).json()["items"]
    assert sites == [{"site": site, "name": None, "factories": 1}]
    assert [f["factory"] for f in (await c.get("/api/v1/factories")).json()["items"]] == ["f1"]
    assert {s["factory"] for s in (await c.get("/api/v1/sensors")).json()["items"]} == {"f1"}
    assert {s["series_id"] for s in (await c.get("/api/v1/series")).json()["items"]} == set(mine)
    assert (await c.get("/api/v1/series", params={"id": theirs[0]})).json()["items"] == []
    for path in ("/api/v1/factories", "/api/v1/sensors", "/api/v1/series", "/api/v1/latest"):
        assert await status(path, site=site, factory="f2") == 403
    assert await status("/api/v1/sensors", site="elsewhere") == 403

    latest = (await c.get("/api/v1/latest", params={"site": site})).json()
    assert sorted(latest["series"]) == sorted(mine)
    assert await status("/api/v1/latest", series=theirs[0]) == 404
    assert await status("/api/v1/history", series=theirs[0]) == 404
    assert await status("/api/v1/history", site=site, factory="f2") == 403
    assert await status("/api/v1/export.csv", series=theirs) == 404
    assert await status("/api/v1/export.csv", factory="f2") == 403
    assert await status(f"/api/v1/factories/{site}/f2/summary") == 403
    assert await status(f"/api/v1/factories/{site}/f1/summary") == 200
    assert await status(f"/api/v1/sites/{site}/summary") == 403
    assert await status("/api/v1/dead-letters", site=site, factory="f2") == 403
    letters = (await c.get("/api/v1/dead-letters")).json()["items"]
    assert {d["topic"].split("/")[3] for d in letters} == {"f1"}
    reasons = (await c.get("/api/v1/dead-letters/reasons")).json()
    assert reasons[0]["count"] == 1
    assert await status("/api/v1/keys") == 403


async def _ws_closed_code(url: str) -> int:
    async with connect(url) as ws:
        return await close_code(ws)


async def test_websockets_authenticate_and_respect_the_factory_scope(api: Api, two_factories):
    site, mine, theirs = two_factories
    assert await _ws_closed_code(f"{api.ws_url}/api/v1/live?key=cc_000000000000_bad") == 4401
    key = await api.key(Role.VIEWER, (site, "f1"))

    # Key in the first message; a subscription of the whole site narrows to the key's factory.
    async with connect(f"{api.ws_url}/api/v1/live") as ws:
        await ws.send(orjson.dumps({"type": "auth", "key": key}))
        await ws.send(orjson.dumps({"type": "subscribe", "site": site}))
        ack = orjson.loads(await ws.recv())
        assert ack["type"] == "subscribed"
        assert sorted(ack["series"]) == sorted(mine)
        api.state.hub.update(batch(theirs + mine, [time.time_ns() // 1000] * 4, [9.0] * 4))
        async with asyncio.timeout(5):
            frame = orjson.loads(await ws.recv())
        assert frame["type"] == "readings"
        assert set(frame["series"]) <= set(mine)
        # Naming another factory closes the connection with 4403.
        await ws.send(orjson.dumps({"type": "subscribe", "site": site, "factory": "f2"}))
        assert await close_code(ws) == 4403

    url = f"{api.ws_url}/api/v1/alerts/live?key={key}"
    assert await _ws_closed_code(f"{url}&factory=f2") == 4403
    async with connect(url) as ws:
        await asyncio.sleep(0.1)
        api.state.hub.publish_alert({"site": site, "factory": "f2", "rule": "pm10"})
        api.state.hub.publish_alert({"site": site, "factory": "f1", "rule": "pm10"})
        async with asyncio.timeout(5):
            got = orjson.loads(await ws.recv())
        assert got == {"type": "alert", "alert": {"site": site, "factory": "f1", "rule": "pm10"}}


def _encoded(text: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode())


async def test_websocket_keys_never_reach_the_logs_however_they_are_spelled(api: Api, caplog):
    """``?k%65y=<key>`` authenticated and was logged in clear."""
    key = await api.key(Role.VIEWER)
    secret = key.split("_", 2)[2]
    spellings = [
        f"key={key}",
        f"k%65y={key}",
        f"%6B%65%79={_encoded(key)}",
        f"key={key[:3]}{_encoded(key[3:10])}{key[10:]}",
        f"x=1&key={key}",
    ]
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        for query in spellings:
            async with connect(f"{api.ws_url}/api/v1/live?{query}") as ws:
                await ws.send(orjson.dumps({"type": "ping"}))
                assert orjson.loads(await ws.recv()) == {"type": "pong"}, query  # it authenticated
        # A key in another parameter or in the path never authenticates, and is hidden too.
        for url in (f"/api/v1/live?other={key}", f"/api/v1/live/{key}"):
            with contextlib.suppress(Exception):
                async with connect(f"{api.ws_url}{url}") as ws:
                    await close_code(ws)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("WebSocket" in m for m in messages) >= len(spellings)
    encoded_secret = _encoded(secret)
    leaks = [m for m in messages if secret in m or encoded_secret in m or key[10:] in m]
    assert leaks == []

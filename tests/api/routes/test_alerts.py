"""The alert routes on a minimal FastAPI app (auth overridden with a chosen principal)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from controlcenter.api.auth import Principal, Role, authenticate_request
from controlcenter.api.handlers import HANDLERS
from controlcenter.api.routes.alerts import AlertAccess, alert_access, router
from controlcenter.errors import ConflictError
from tests.alerts._helpers import T0, Clock, add_rules, air_keys, batch, feed, register, running
from tests.alerts._helpers import service as make_service


@pytest.fixture
def site():
    return f"site{uuid.uuid4().hex[:8]}"


def client(svc, who: Principal) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[alert_access] = lambda: AlertAccess(svc, svc.repo)
    # 409s come from the app's handler table (validation keeps FastAPI's default 422 here).
    app.add_exception_handler(ConflictError, HANDLERS[ConflictError])
    app.dependency_overrides[authenticate_request] = lambda: who
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_alert_routes_list_act_and_audit(pool, make_settings, database_url, site):
    catalog, ids = await register(pool, air_keys(site, 2))
    name = f"r{uuid.uuid4().hex[:10]}"
    await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}],
        },
    )
    settings = make_settings(database_url, alerts={"publish_mqtt": False, "group_window_s": 0})
    svc = make_service(settings, pool, catalog, Clock())
    admin = Principal("k1", "kim", Role.ADMIN)
    async with running(svc), client(svc, admin) as http:
        await feed(svc, batch([(ids[0], T0, 120), (ids[1], T0, 130)]))
        r = await http.get("/api/v1/alerts", params={"site": site, "state": "open", "rule": name})
        assert r.status_code == 200
        alerts = r.json()["alerts"]
        assert len(alerts) == 2
        aid = alerts[0]["alert_id"]
        assert (await http.post(f"/api/v1/alerts/{aid}/acknowledge")).json()[
            "state"
        ] == "acknowledged"
        assert (await http.post(f"/api/v1/alerts/{aid}/acknowledge")).status_code == 409
        r = await http.post(f"/api/v1/alerts/{aid}/assign", json={"assignee": "park"})
        assert r.json()["assignee"] == "park"
        assert (
            await http.post(f"/api/v1/alerts/{aid}/notes", json={"text": "on it"})
        ).status_code == 200
        r = await http.post(f"/api/v1/alerts/{aid}/resolve", json={"note": "done"})
        assert r.json()["state"] == "resolved"
        one = (await http.get(f"/api/v1/alerts/{aid}")).json()
        assert [h["transition"] for h in one["history"]] == [
            "opened",
            "acknowledged",
            "assigned",
            "note",
            "resolved",
        ]
        assert (await http.get("/api/v1/alerts/999999999")).status_code == 404
        r = await http.get("/api/v1/alerts", params={"site": site, "severity": "critical"})
        assert r.json()["alerts"] == []

    scoped = Principal("k2", "plant", Role.MAINTENANCE, "elsewhere", "f9")
    async with client(svc, scoped) as http:
        assert (await http.get(f"/api/v1/alerts/{aid}")).status_code == 404
        assert (await http.get("/api/v1/alerts", params={"site": site})).status_code == 403
        assert (await http.get("/api/v1/alerts")).json()["alerts"] == []
    viewer = Principal("k3", "v", Role.VIEWER)
    async with client(svc, viewer) as http:
        assert (await http.post(f"/api/v1/alerts/{aid}/acknowledge")).status_code == 403


async def test_rule_crud_validates_and_applies_at_run_time(pool, make_settings, database_url, site):
    catalog, ids = await register(pool, air_keys(site, 1, metric="co2"))
    settings = make_settings(database_url, alerts={"publish_mqtt": False, "group_window_s": 0})
    svc = make_service(settings, pool, catalog, Clock())
    name = f"r{uuid.uuid4().hex[:10]}"
    async with running(svc), client(svc, Principal("k1", "kim", Role.ADMIN)) as http:
        bad = {"name": name, "conditions": [{"metric": "co2", "raise_at": 1000, "clear_at": 1200}]}
        r = await http.post("/api/v1/alert-rules", json=bad)
        assert r.status_code == 422
        assert "hysteresis" in r.text
        r = await http.post(
            "/api/v1/alert-rules",
            json={
                **bad,
                "scope": {"site": site, "kind": "power"},
                "conditions": [{"metric": "co2", "raise_at": 1000}],
            },
        )
        assert r.status_code == 400  # well-formed, but co2 is no metric of the power kind
        assert "not a power metric" in r.text
        good = {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "co2", "raise_at": 1000, "clear_at": 900}],
        }
        r = await http.post("/api/v1/alert-rules", json=good)
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert (await http.post("/api/v1/alert-rules", json=good)).status_code == 409
        await feed(svc, batch([(ids[0], T0, 1100)]))
        assert len((await http.get("/api/v1/alerts", params={"rule": name})).json()["alerts"]) == 1
        r = await http.put(f"/api/v1/alert-rules/{rid}", json={**good, "severity": "critical"})
        assert r.json()["severity"] == "critical"
        assert (await http.get(f"/api/v1/alert-rules/{rid}")).json()["severity"] == "critical"
        assert (await http.delete(f"/api/v1/alert-rules/{rid}")).status_code == 204
        assert (await http.get(f"/api/v1/alert-rules/{rid}")).status_code == 404
        (alert,) = (await http.get("/api/v1/alerts", params={"rule": name})).json()["alerts"]
        assert alert["state"] == "resolved"
    async with client(svc, Principal("k2", "op", Role.OPERATOR)) as http:
        assert (await http.post("/api/v1/alert-rules", json=good)).status_code == 403


async def test_malformed_rules_and_times_are_client_errors(pool, make_settings, database_url):
    """A list as a metric raised TypeError (500); an epoch number passed as a time."""
    catalog, _ = await register(pool, air_keys(f"site{uuid.uuid4().hex[:8]}", 1))
    settings = make_settings(database_url, alerts={"publish_mqtt": False, "group_window_s": 0})
    svc = make_service(settings, pool, catalog, Clock())
    async with running(svc), client(svc, Principal("k1", "kim", Role.ADMIN)) as http:
        for body in (
            {"name": "x", "conditions": [{"metric": []}]},
            {"name": "x", "conditions": [{"metric": "pm10", "raise_at": 1}, {"metric": {}}]},
            {"name": "x", "conditions": [{"gateway": ["offline"]}]},
        ):
            assert (await http.post("/api/v1/alert-rules", json=body)).status_code == 422, body
            assert (await http.put("/api/v1/alert-rules/1", json=body)).status_code == 422, body
        nul = {"name": "x", "scope": {"site": "a\x00"}, "conditions": [{"detector": "stuck"}]}
        assert (await http.post("/api/v1/alert-rules", json=nul)).status_code == 422
        for bad in ("0.5", "2026-01-01", "2026-01-01T00:00:00"):
            r = await http.get("/api/v1/alerts", params={"until": bad})
            assert r.status_code == 422, bad
        for extreme in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:58-14:00"):
            r = await http.get("/api/v1/alerts", params={"since": extreme, "until": extreme})
            assert r.status_code == 200, r.text


async def test_a_factory_key_sees_only_the_rules_that_can_apply_to_its_factory(
    pool, make_settings, database_url, site
):
    catalog, _ = await register(pool, air_keys(site, 1))
    names = {k: f"r{k}{uuid.uuid4().hex[:8]}" for k in ("mine", "theirs", "site", "other_site")}
    cond = [{"metric": "pm10", "raise_at": 80, "clear_at": 70}]
    scopes = {
        "mine": {"site": site, "factory": "f1"},
        "theirs": {"site": site, "factory": "f2"},
        "site": {"site": site},
        "other_site": {"site": f"{site}x"},
    }
    await add_rules(
        pool, *({"name": names[k], "scope": scopes[k], "conditions": cond} for k in names)
    )
    settings = make_settings(database_url, alerts={"publish_mqtt": False, "group_window_s": 0})
    svc = make_service(settings, pool, catalog, Clock())
    tenant = Principal("k3", "tenant", Role.VIEWER, site, "f1")
    async with running(svc), client(svc, tenant) as http:
        seen = {r["name"]: r["id"] for r in (await http.get("/api/v1/alert-rules")).json()}
        assert {names["mine"], names["site"]} <= set(seen)
        assert "pm10-grade" in seen  # complex-wide default rules apply to every factory
        assert not {names["theirs"], names["other_site"]} & set(seen)
    async with client(svc, Principal("k1", "kim", Role.ADMIN)) as admin:
        every = {r["name"]: r["id"] for r in (await admin.get("/api/v1/alert-rules")).json()}
    async with client(svc, tenant) as http:
        assert (await http.get(f"/api/v1/alert-rules/{every[names['theirs']]}")).status_code == 404
        assert (await http.get(f"/api/v1/alert-rules/{every[names['mine']]}")).status_code == 200

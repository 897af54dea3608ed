"""Metrics, health, readiness, request limits and the OpenAPI document."""

from __future__ import annotations

from controlcenter.api.auth import Role
from tests.api._api import Api


async def test_metrics_health_and_ready(api: Api):
    c = await api.client(role=None)
    assert (await c.get("/health")).json() == {"status": "ok"}
    ready = await c.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"
    api.state.broker_connected.clear()
    try:
        not_ready = await c.get("/ready")
        assert not_ready.status_code == 503
        assert not_ready.json()["broker"] == "disconnected"
    finally:
        api.state.broker_connected.set()
    viewer = await api.client(Role.VIEWER)
    await viewer.get("/api/v1/sites")
    text = (await c.get("/metrics")).text
    assert 'controlcenter_api_http_request_seconds_count{method="GET",route="/api/v1/sites"' in text
    assert "controlcenter_api_live_clients" in text


async def test_route_labels_stay_bounded_for_unknown_paths(api: Api):
    c = await api.client(role=None)
    for i in range(3):
        assert (await c.get(f"/nope/{i}")).status_code == 404
    text = (await c.get("/metrics")).text
    assert 'route="unmatched"' in text
    assert "/nope/1" not in text


async def test_request_bodies_over_the_limit_get_413(api: Api):
    admin = await api.client(Role.ADMIN)
    big = {"role": "viewer", "name": "x" * 100_000}
    r = await admin.post("/api/v1/keys", json=big)
    assert r.status_code == 413

    async def chunks():
        for _ in range(100):
            yield b"x" * 1_000

    streamed = await admin.post(
        "/api/v1/keys", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


async def test_openapi_documents_every_route_with_examples(api: Api):
    c = await api.client(role=None)
    doc = (await c.get("/openapi.json")).json()
    paths = doc["paths"]
    for path in (
        "/api/v1/sites",
        "/api/v1/latest",
        "/api/v1/history",
        "/api/v1/export.csv",
        "/api/v1/dead-letters",
        "/api/v1/factories/{site}/{factory}/summary",
        "/metrics",
        "/ready",
    ):
        assert path in paths
    assert "examples" in doc["components"]["schemas"]["HistoryOut"]
    assert doc["components"]["securitySchemes"].keys() == {"APIKeyHeader", "HTTPBearer"}


async def test_text_the_database_cannot_store_gets_422_not_a_server_error(api: Api):
    """PostgreSQL text cannot hold NUL: found by schemathesis on POST /keys."""
    admin = await api.client(Role.ADMIN)
    r = await admin.post("/api/v1/keys", json={"role": "viewer", "name": "wall\u0000screen"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "name"]  # the schema says so now
    r = await admin.get("/api/v1/sensors", params={"site": "namdong\u0000"})
    assert 400 <= r.status_code < 500

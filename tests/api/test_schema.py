"""Schemathesis against the OpenAPI schema of a running server: every route, every check.

The schema must be the whole truth about single values: a request it allows is never
answered 422 (``positive_data_acceptance`` allows 400 only, for values that contradict each
other or the data), a request it forbids is refused (``negative_data_rejection``), and no
request gets a 5xx. The run is bounded by examples per operation, not by time.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from controlcenter.api.auth import Role
from tests.api._api import Api, running_api

_ST = Path(sys.executable).parent / "st"
# 422 is not in the list: a schema-valid request answered 422 means the schema is not true.
_CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

# The sensor-kind routes answer 422 with the reason for an entry that breaks the registry's
# own rules (limits that contradict, a metric's unit that changes: README, Sensor kinds),
# which JSON Schema cannot state; every other route keeps the rule above.
[[operations]]
include-tag = "kinds"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "400", "401", "403", "404", "409", "422", "429",
]

[parameters]
"path.alert_id" = {alert_id}
"""


async def _schemathesis(api: Api, tmp_path: Path, alert_id: int) -> str:
    key = await api.key(Role.ADMIN)
    config = tmp_path / "schemathesis.toml"
    config.write_text(_CONFIG.format(alert_id=alert_id))
    proc = await asyncio.create_subprocess_exec(
        str(_ST), "--config-file", str(config), "run", f"{api.url}/openapi.json",
        "--header", f"X-API-Key: {key}",
        "--checks", "all",
        "--max-examples", "20", "--seed", "7",
        # One worker: with two, Hypothesis describing lambdas in threads trips CPython's
        # "AST constructor recursion depth mismatch" (an error of the tool, not of the API).
        "--workers", "1",
        "--request-timeout", "20",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    async with asyncio.timeout(300):
        out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    (tmp_path / "schemathesis.txt").write_text(text)
    assert proc.returncode == 0, text[-6000:]
    return text


async def _contract(api: Api) -> None:
    """What schemathesis relies on, checked directly: 400 and 422 mean what they say, and
    405 lists every method of the path."""
    admin = await api.client(Role.ADMIN)
    hysteresis = {"name": "x", "conditions": [{"metric": "co2", "raise_at": 9, "clear_at": 10}]}
    r = await admin.post("/api/v1/alert-rules", json=hysteresis)
    assert r.status_code == 400, r.text  # well-formed values that do not fit together
    assert "hysteresis" in r.text
    empty = await admin.post("/api/v1/alert-rules", json={"name": "x", "conditions": [{}]})
    assert empty.status_code == 400, empty.text
    assert [e["type"] for e in empty.json()["detail"]] == ["value_error"]  # no "too short"
    shape = await admin.post(
        "/api/v1/alert-rules", json={"name": "x", "conditions": [{"metric": []}]}
    )
    assert shape.status_code == 422, shape.text
    r = await admin.get("/api/v1/alerts", params={"until": "0.5"})
    assert r.status_code == 422
    schema = (await admin.get("/openapi.json")).json()
    (limit,) = [
        p for p in schema["paths"]["/api/v1/sites"]["get"]["parameters"] if p["name"] == "limit"
    ]
    assert {"type": "integer", "minimum": 1, "maximum": 1000} in limit["schema"]["anyOf"]
    r = await admin.request("OPTIONS", "/api/v1/alert-rules/1")
    assert r.status_code == 405
    assert r.headers["allow"] == "DELETE, GET, PUT"
    nul = await admin.post("/api/v1/keys", json={"role": "viewer", "name": "a\x00b"})
    assert nul.status_code == 422


async def test_schemathesis_finds_no_server_errors_and_no_untrue_bounds_on_any_route(
    pg_server_url, make_settings, tmp_path, run_id
):
    """In a database of its own: the rules and keys it creates must not reach other tests."""
    from controlcenter.store import migrate
    from tests.conftest import create_database, drop_database

    name = f"cc_test_{run_id}_st"
    url = await create_database(pg_server_url, name)
    try:
        # Its ignored_auth check sends bad keys on every route: the failure limits (tested
        # in test_key_limits.py) would soon answer 429 to everything.
        limits = {"auth_max_failures_per_client": 1_000_000, "auth_max_failures_per_key": 1_000}
        settings = make_settings(
            url, alerts={"publish_mqtt": False, "group_window_s": 0}, api=limits
        )
        await migrate(settings)
        async with running_api(settings, alerts=True) as api:
            ids = await api.series("stsite", "f1", "air", "aq1", ["pm10", "pm25"])
            now = time.time_ns() // 1000
            await api.write(ids, [now, now], [12.0, 40.0])
            # One open alert for the alert routes to act on.
            await api.state.alerts.on_scored(*_scored(ids[0], now, 200.0))
            admin = await api.client(Role.ADMIN)
            async with asyncio.timeout(10):
                # The alert service stores it in the background: poll the route.
                while not (alerts := (await admin.get("/api/v1/alerts")).json()["alerts"]):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            alert_id = alerts[0]["alert_id"]
            await _contract(api)
            schema = (await admin.get("/openapi.json")).json()
            n = sum(len(ops) for ops in schema["paths"].values())
            text = await _schemathesis(api, tmp_path, alert_id)
            assert f"Selected: {n}/{n}" in text  # every route
            assert f"Tested: {n}" in text
    finally:
        await drop_database(pg_server_url, name)


def _scored(series_id: int, t_us: int, value: float):
    import numpy as np

    from controlcenter.anomaly import Events
    from controlcenter.domain import Batch

    b = Batch.from_lists([series_id], [t_us], [value])
    return b, np.zeros(1), Events.empty()

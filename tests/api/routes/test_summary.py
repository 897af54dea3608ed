"""Factory and site summaries, and dead letters."""

from __future__ import annotations

import time

from controlcenter.api.auth import Role
from controlcenter.domain import DeadLetter
from tests.api._api import Api, batch, unique_site


async def test_factory_and_site_summaries_grade_air_and_total_power_and_parking(api: Api):
    site = unique_site()
    a1 = await api.series(site, "f1", "air", "aq1", ["pm10", "pm25"])
    a2 = await api.series(site, "f1", "air", "aq2", ["pm10", "pm25"])
    kw = await api.series(site, "f1", "power", "m1", ["kw"])
    kw += await api.series(site, "f1", "power", "m2", ["kw"])
    park = await api.series(site, "f1", "parking", "p1", ["occupied", "capacity"])
    b1 = await api.series(site, "f2", "air", "aq1", ["pm10", "pm25"])
    await api.pool.execute(
        "UPDATE factories f SET contract_kw = 400, name = 'Hanil' FROM sites s"
        " WHERE s.site_id = f.site_id AND s.code = $1 AND f.code = 'f1'",
        site,
    )
    now = time.time_ns() // 1000
    ids = a1 + a2 + kw + park + b1
    values = [25.0, 10.0, 90.0, 20.0, 150.0, 50.0, 30.0, 60.0, 10.0, 5.0]
    api.state.hub.update(batch(ids, [now] * len(ids), values))
    await api.pool.execute(
        "INSERT INTO alerts (rule_name, subject, severity, site, factory, opened_at, state)"
        " VALUES ('r', 's1', 'warning', $1, 'f1', now(), 'open'),"
        " ('r', 's2', 'critical', $1, 'f1', now(), 'acknowledged'),"
        " ('r', 's3', 'critical', $1, 'f1', now(), 'resolved'),"
        " ('r', 's4', 'info', $1, 'f2', now(), 'open')",
        site,
    )
    c = await api.client()

    f = (await c.get(f"/api/v1/factories/{site}/f1/summary")).json()
    assert f["name"] == "Hanil"
    assert f["air"] == {
        "grade": "bad",
        "pm10": 90.0,
        "pm10_grade": "bad",
        "pm25": 20.0,
        "pm25_grade": "normal",
        "stations": 2,
    }
    assert f["power"] == {"demand_kw": 200.0, "contract_kw": 400.0, "utilisation": 0.5, "meters": 2}
    assert f["parking"] == {"occupied": 30.0, "capacity": 60.0, "occupancy": 0.5}
    assert f["alerts"] == {
        "available": True,
        "by_severity": {"warning": 1, "critical": 1},
        "total": 2,
    }

    s = (await c.get(f"/api/v1/sites/{site}/summary")).json()
    assert s["factories"] == 2
    assert s["factory_grades"] == {"bad": 1, "good": 1}
    assert s["air"]["grade"] == "bad"
    assert s["power"]["contract_kw"] == 400.0
    assert s["alerts"]["total"] == 3

    assert (await c.get(f"/api/v1/factories/{site}/nope/summary")).status_code == 404
    assert (await c.get(f"/api/v1/sites/{unique_site()}/summary")).status_code == 404


async def test_dead_letters_filter_by_reason_and_page_by_id(api: Api):
    site = unique_site()
    root = api.state.settings.mqtt.topic_root
    topic = f"{root}/v1/{site}/f1/air/aq1"
    await api.writer.write(
        batch([], [], []),
        [DeadLetter(topic, b'{"ts": 1', "malformed_json", f"n{i}") for i in range(5)]
        + [DeadLetter(topic, b"\xff\xfe", "invalid_schema", "bytes")],
    )
    c = await api.client(Role.OPERATOR)
    page = (await c.get("/api/v1/dead-letters", params={"site": site, "limit": 3})).json()
    assert [d["reason"] for d in page["items"]] == [
        "invalid_schema",
        "malformed_json",
        "malformed_json",
    ]
    assert page["items"][0]["payload"] == "\ufffd\ufffd"
    assert page["items"][0]["payload_bytes"] == 2
    rest = (
        await c.get(
            "/api/v1/dead-letters",
            params={"site": site, "before_id": page["next_before_id"]},
        )
    ).json()
    assert len(rest["items"]) == 3
    assert rest["next_before_id"] is None
    only = (
        await c.get("/api/v1/dead-letters", params={"site": site, "reason": "invalid_schema"})
    ).json()
    assert len(only["items"]) == 1
    reasons = (await c.get("/api/v1/dead-letters/reasons", params={"site": site})).json()
    assert [(r["reason"], r["count"]) for r in reasons] == [
        ("malformed_json", 5),
        ("invalid_schema", 1),
    ]
    assert (await c.get("/api/v1/dead-letters", params={"factory": "f1"})).status_code == 400

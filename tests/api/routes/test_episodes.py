"""GET /api/v1/sites/{site}/episodes: episodes from alerts, attributed, scoped by key."""

from __future__ import annotations

import time
from typing import Any

from controlcenter.api.auth import Role
from controlcenter.store.positions import FactoryPosition, SensorPosition, import_positions
from tests.api._api import Api, unique_site

# Wind from the west (270 deg) carries air east; f1 leaks, f2 and f3 downwind alarm.
# Plan metres from the plan's corner (x east, y south).
FACTORIES = {
    "f1": (100.0, 100.0),
    "f2": (400.0, 100.0),
    "f3": (700.0, 100.0),
    "f4": (100.0, 400.0),
    "f5": (400.0, 400.0),
    "f9": (3000.0, 3000.0),
}
GAS = {"f1": (70.0, 100.0), "f2": (420.0, 110.0), "f3": (720.0, 90.0), "f4": (120.0, 420.0),
       "f5": (420.0, 410.0), "f9": (3000.0, 3020.0)}  # fmt: skip

_ALERT = (
    "INSERT INTO alerts (rule_name, subject, severity, site, factory, kind, sensor, metric,"
    " value, peak_value, opened_at, resolved_at, state)"
    " VALUES ($1, $2, 'critical', $3, $4, $5, $6, $7, $8, $9,"
    " now() - make_interval(secs => $10), $11, $12)"
)


async def _seed(api: Api, site: str, positions: bool = True) -> None:
    if positions:
        await import_positions(
            api.pool,
            site,
            [FactoryPosition(f, plan_x=x, plan_y=y) for f, (x, y) in FACTORIES.items()],
            [SensorPosition(f, "gas", "gd1", plan_x=x, plan_y=y) for f, (x, y) in GAS.items()],
        )
    wind = await api.series(site, "f4", "weather", "ws1", ["wind_speed", "wind_dir"])
    now_us = time.time_ns() // 1000
    times = [now_us - (1800 + 60 * k) * 1_000_000 for k in range(8)]
    await api.write(wind[:1] * 8 + wind[1:] * 8, times + times, [3.0] * 8 + [270.0] * 8)
    rows = [
        # (factory, kind, metric, value, peak, seconds ago, resolved, state)
        ("f2", "gas", "nh3", 26.0, 200.0, 1800 - 100, None, "open"),
        ("f3", "gas", "nh3", 25.5, 60.0, 1800 - 200, None, "acknowledged"),
        ("f5", "odor", "ou", 21.0, 30.0, 600, None, "open"),
        ("f2", "gas", "nh3", 30.0, 40.0, 3 * 86400, "now()", "resolved"),  # too old
    ]
    for f, kind, metric, value, peak, ago, resolved, state in rows:
        sensor = "gd1" if kind == "gas" else "od1"
        args = (f"{kind}-{metric}", f"{f}/{sensor}", site, f, kind, sensor, metric, value, peak)
        resolved_at = None if resolved is None else await api.pool.fetchval("SELECT now()")
        await api.pool.execute(_ALERT, *args, float(ago), resolved_at, state)


async def test_episodes_name_the_source_upwind_of_the_sensors_that_alarmed(api: Api):
    site = unique_site()
    await _seed(api, site)
    c = await api.client()
    r = await c.get(f"/api/v1/sites/{site}/episodes")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["site"] == site
    by = {e["pollutant"]: e for e in body["episodes"]}
    assert set(by) == {"gas.nh3", "odor"}  # the resolved one of 3 days ago is not recent
    gas = by["gas.nh3"]
    assert gas["kind"] == "gas"
    assert gas["active"] is True
    assert gas["end"] is None
    assert gas["source_factory"] == "f1"
    assert gas["candidates"][0]["factory"] == "f1"
    assert len(gas["candidates"]) == 3
    assert 0.0 < gas["confidence"] <= 1.0
    assert [s["factory"] for s in gas["sensors_reached"]] == ["f2", "f3"]
    assert gas["sensors_reached"][0]["peak_ratio"] == 200.0 / 25.0
    assert gas["wind"] == {"speed_ms": 3.0, "direction_deg": 270.0}
    # One odour sensor alone: candidates, with a low confidence.
    assert by["odor"]["confidence"] <= 1.0 / 3.0
    # A longer window brings the old, resolved episode back, with its end.
    week = (await c.get(f"/api/v1/sites/{site}/episodes", params={"hours": 168})).json()
    ended = [e for e in week["episodes"] if e["end"] is not None]
    assert len(ended) == 1
    assert ended[0]["active"] is False


async def test_factory_keys_see_only_episodes_their_factory_is_part_of(api: Api):
    site = unique_site()
    await _seed(api, site)
    reached = await api.client(Role.VIEWER, scope=(site, "f3"))
    eps = (await reached.get(f"/api/v1/sites/{site}/episodes")).json()["episodes"]
    assert [e["pollutant"] for e in eps] == ["gas.nh3"]
    source = await api.client(Role.VIEWER, scope=(site, "f1"))  # a candidate, not reached
    eps = (await source.get(f"/api/v1/sites/{site}/episodes")).json()["episodes"]
    assert "gas.nh3" in [e["pollutant"] for e in eps]
    far = await api.client(Role.VIEWER, scope=(site, "f9"))
    r = await far.get(f"/api/v1/sites/{site}/episodes")
    assert r.status_code == 200
    assert r.json()["episodes"] == []
    other = await api.client(Role.VIEWER, scope=(unique_site(), "f1"))
    assert (await other.get(f"/api/v1/sites/{site}/episodes")).status_code == 403


async def test_episodes_without_positions_are_listed_without_a_source(api: Api):
    site = unique_site()
    await _seed(api, site, positions=False)
    c = await api.client()
    eps = (await c.get(f"/api/v1/sites/{site}/episodes")).json()["episodes"]
    gas = next(e for e in eps if e["pollutant"] == "gas.nh3")
    assert gas["source_factory"] is None
    assert gas["candidates"] == []
    assert gas["confidence"] == 0.0
    assert len(gas["sensors_reached"]) == 2


async def test_episodes_need_a_key_and_a_known_site_and_valid_bounds(api: Api):
    site = unique_site()
    await _seed(api, site, positions=False)
    anonymous = await api.client(None)
    assert (await anonymous.get(f"/api/v1/sites/{site}/episodes")).status_code == 401
    c = await api.client()
    assert (await c.get(f"/api/v1/sites/{unique_site()}/episodes")).status_code == 404
    r = await c.get(f"/api/v1/sites/{site}/episodes", params={"hours": 0})
    assert r.status_code == 422
    r = await c.get(f"/api/v1/sites/{site}/episodes", params={"limit": 1000})
    assert r.status_code == 422
    assert (await c.get("/api/v1/sites/bad site!/episodes")).status_code == 422


async def test_the_map_shows_the_active_episodes_with_their_source(api: Api):
    site = unique_site()
    await _seed(api, site)
    answer = await (await api.client()).get(f"/api/v1/sites/{site}/map")
    assert answer.status_code == 200, answer.text
    eps = {e["pollutant"]: e for e in answer.json()["episodes"]}
    assert set(eps) == {"gas.nh3", "odor"}
    gas = eps["gas.nh3"]
    assert gas["source_factory"] == "f1"
    assert len(gas["candidates"]) == 3
    assert [s["sensor"] for s in gas["sensors_reached"]] == ["gd1", "gd1"]
    far = await api.client(Role.VIEWER, scope=(site, "f9"))
    assert (await far.get(f"/api/v1/sites/{site}/map")).json()["episodes"] == []


async def test_a_rise_the_engine_saw_below_alarm_joins_the_episode(api: Api):
    site = unique_site()
    await _seed(api, site)
    f5 = (await api.series(site, "f5", "gas", "gd1", ["nh3"]))[0]
    f4 = (await api.series(site, "f4", "gas", "gd1", ["nh3"]))[0]
    await api.pool.execute(
        "INSERT INTO anomaly_events (time, series_id, detector, value, score, started_at)"
        " VALUES (now() - interval '1400 s', $1, 'robust_z', 10.0, 0.9, now() - interval '1500 s'),"
        " (now() - interval '1400 s', $2, 'robust_z', 1.0, 0.9, now() - interval '1500 s'),"
        " (now() - interval '1400 s', $2, 'limit', 100.0, 1.0, now() - interval '1400 s')",
        f5,
        f4,
    )
    c = await api.client()
    eps = (await c.get(f"/api/v1/sites/{site}/episodes")).json()["episodes"]
    gas = next(e for e in eps if e["pollutant"] == "gas.nh3")
    via = {s["factory"]: s["via"] for s in gas["sensors_reached"]}
    # f5 rose to 10 ppm (0.4 of the 25 ppm alarm); f4's 1 ppm is noise, its limit event no rise.
    assert via == {"f2": "alert", "f3": "alert", "f5": "event"}
    f5_doc = next(s for s in gas["sensors_reached"] if s["factory"] == "f5")
    assert f5_doc["peak_ratio"] == 10.0 / 25.0


async def _gas_episode(api: Api) -> tuple[str, Any, dict[str, Any]]:
    """A seeded site, an admin client and the site's gas episode as the list shows it."""
    site = unique_site()
    await _seed(api, site)
    c = await api.client()
    listed = (await c.get(f"/api/v1/sites/{site}/episodes")).json()["episodes"]
    return site, c, next(e for e in listed if e["pollutant"] == "gas.nh3")


async def test_one_episode_by_id_with_the_same_object_and_scope(api: Api):
    site, c, gas = await _gas_episode(api)
    r = await c.get(f"/api/v1/sites/{site}/episodes/{gas['id']}")
    assert r.status_code == 200, r.text
    one = r.json()
    assert one["site"] == site
    assert {k: v for k, v in one.items() if k != "site"} == gas
    # The episode's second alert is no episode of its own; another site has none of it.
    second = await api.pool.fetchval(
        "SELECT max(alert_id) FROM alerts WHERE site = $1 AND metric = 'nh3'"
        " AND state <> 'resolved'",
        site,
    )
    assert second != gas["id"]
    assert (await c.get(f"/api/v1/sites/{site}/episodes/{second}")).status_code == 404
    other = unique_site()
    await _seed(api, other)
    assert (await c.get(f"/api/v1/sites/{other}/episodes/{gas['id']}")).status_code == 404
    # A factory key sees it when its factory is part of it, else gets 404.
    assert (await (await api.client(Role.VIEWER, scope=(site, "f3"))).get(
        f"/api/v1/sites/{site}/episodes/{gas['id']}")).status_code == 200  # fmt: skip
    far = await api.client(Role.VIEWER, scope=(site, "f9"))
    assert (await far.get(f"/api/v1/sites/{site}/episodes/{gas['id']}")).status_code == 404
    assert (await c.get(f"/api/v1/sites/{site}/episodes/0")).status_code == 422


async def test_one_episode_by_its_id_alone_is_the_sites_episode(api: Api):
    site, c, gas = await _gas_episode(api)
    r = await c.get(f"/api/v1/episodes/{gas['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == (await c.get(f"/api/v1/sites/{site}/episodes/{gas['id']}")).json()
    # A key of another site's factory, an id that is no alert: 404 alike.
    other = unique_site()
    await _seed(api, other)
    stranger = await api.client(Role.VIEWER, scope=(other, "f3"))
    assert (await stranger.get(f"/api/v1/episodes/{gas['id']}")).status_code == 404
    assert (await c.get("/api/v1/episodes/2147483000")).status_code == 404
    assert (await c.get("/api/v1/episodes/0")).status_code == 422


async def test_an_alert_of_an_episode_carries_its_id_and_candidates(api: Api):
    site, c, gas = await _gas_episode(api)
    ids = await api.pool.fetch(
        "SELECT alert_id FROM alerts WHERE site = $1 AND metric = 'nh3'"
        " AND state <> 'resolved' ORDER BY alert_id",
        site,
    )
    for row in ids:  # the first alert and the one that joined it
        r = await c.get(f"/api/v1/alerts/{row['alert_id']}")
        assert r.status_code == 200, r.text
        assert r.json()["episode"] == {
            "id": gas["id"],
            "pollutant": "gas.nh3",
            "source_factory": "f1",
            "confidence": gas["confidence"],
            "candidates": gas["candidates"],
        }
    # An alert of no pollutant has none.
    await api.pool.execute(
        _ALERT, "power-kw", "f1/mtr1", site, "f1", "power", "mtr1", "kw", 1.0, 1.0, 60.0, None,
        "open",
    )  # fmt: skip
    power = await api.pool.fetchval(
        "SELECT alert_id FROM alerts WHERE site = $1 AND kind = 'power'", site
    )
    assert (await c.get(f"/api/v1/alerts/{power}")).json()["episode"] is None

"""Sensor kinds as data, through the real broker and database: the packaged registry, a
gas reading stored, scored and alerting at its set points, a fire state opening a critical
alert at once, unknown metrics in dead letters, the safety line, history and CSV of the new
kinds, and a kind an admin adds through the API whose readings are then accepted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from controlcenter.alerts import Rule
from controlcenter.anomaly.profile import DEFAULT_PROFILES, profile_from_knobs
from controlcenter.api import Role
from controlcenter.api.auth import ApiKeys
from controlcenter.embedded._port import free_port
from controlcenter.kinds import KindError, packaged, parse_kind, parse_registry
from tests._support import (
    count_readings,
    eventually,
    now_ms,
    publish,
    reading,
    running_service,
)


def test_the_first_kinds_keep_their_engine_profiles_exactly():
    """air, power and parking became registry entries: the engine settings they had in code
    (anomaly/profile.py, which bench/engine.py and evaluate use) are what the registry gives."""
    knobs = packaged().engine_knobs()
    for name, profile in DEFAULT_PROFILES.items():
        assert profile_from_knobs(knobs[name]) == profile, name


def test_every_default_rule_of_the_registry_is_a_valid_alert_rule():
    registry = packaged()
    names = []
    for kind in registry:
        spec = registry.kind(kind)
        assert spec is not None
        for rule in spec.rules:
            parsed = Rule.model_validate(rule)
            parsed.check_kinds(registry)
            assert parsed.scope.kind == kind
            names.append(rule["name"])
    assert len(names) == len(set(names))
    assert {"gas-lel", "gas-o2-low", "gas-o2-high", "fire-smoke", "odor-complex"} <= set(names)


def test_states_are_never_z_scored_and_gas_has_two_set_points():
    registry = packaged()
    smoke = profile_from_knobs(registry.engine_knobs()["fire.smoke"])
    assert (smoke.robust_z, smoke.ewma_z, smoke.cusum_h, smoke.daily_z) == (float("inf"),) * 4
    assert not smoke.relation
    gas = registry.kind("gas")
    assert gas is not None
    points = gas.set_points()
    assert points["h2s"] == [("above", [10.0, 15.0])]
    assert points["o2"] == [("below", [19.5, 18.0]), ("above", [23.5])]


_METRIC = {"unit": "ppm", "limits": [0, 100]}


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"metrics": {}}, "at least one metric"),
        ({"metrics": {"a": {"unit": "ppm", "limits": [5, 1]}}}, "lo < hi"),
        ({"metrics": {"a": {"unit": "ppm", "limits": [0, 1e300]}}}, "finite number"),
        ({"metrics": {"a": {**_METRIC, "type": "gauge"}}}, "type must be one of"),
        ({"metrics": {"a": {"unit": "x", "type": "state", "limits": [0, 1.5]}}}, "whole number"),
        (
            {"metrics": {"a": {"unit": "x", "type": "state", "limits": [0, 1],
                               "engine": {"robust_z": 5}}}},
            "not scored statistically",
        ),
        ({"metrics": {"a": {**_METRIC, "engine": {"hi": 500}}}}, "within the limits"),
        ({"metrics": {"a": {**_METRIC, "engine": {"nonsense": 1}}}}, "unknown engine setting"),
        ({"metrics": {"a": {**_METRIC, "engine": {"preset": "nope"}}}}, "unknown engine preset"),
        ({"metrics": {"A-b": _METRIC}}, "metric names"),
        (
            {"metrics": {"a": _METRIC},
             "rules": [{"name": "r1", "conditions": [{"metric": "b", "raise_at": 1}]}]},
            "not a metric of the kind",
        ),
        (
            {"metrics": {"a": _METRIC},
             "rules": [{"name": "r1", "conditions": [{"metric": "a", "raise_at": 500}]}]},
            "can never be reached",
        ),
        (
            {"metrics": {"a": _METRIC}, "rules": [
                {"name": "r1", "scope": {"kind": "air"},
                 "conditions": [{"metric": "a", "raise_at": 5}]}]},
            "applies to its kind only",
        ),
        ({"metrics": {"a": _METRIC}, "colour": "red"}, "unknown field"),
    ],
)  # fmt: skip
def test_bad_or_contradictory_entries_are_refused_with_the_reason(entry, reason):
    with pytest.raises(KindError, match=reason):
        parse_kind("noise", entry, packaged().kind("gas") and {"trace": {}})


def test_a_stored_kind_keeps_its_metrics_units_and_types():
    old = parse_kind("noise", {"metrics": {"laeq": {"unit": "dB", "limits": [0, 200]}}})
    grown = {"metrics": {"laeq": {"unit": "dB", "limits": [0, 150]}, "lmax": _METRIC}}
    assert set(parse_kind("noise", grown, previous=old).metrics) == {"laeq", "lmax"}
    with pytest.raises(KindError, match="cannot be removed"):
        parse_kind("noise", {"metrics": {"lmax": _METRIC}}, previous=old)
    with pytest.raises(KindError, match="unit stays 'dB'"):
        parse_kind("noise", {"metrics": {"laeq": {"unit": "B", "limits": [0, 20]}}}, previous=old)
    rule = {"name": "r", "conditions": [{"metric": "a", "raise_at": 1}]}
    with pytest.raises(KindError, match="rule name 'r' is taken"):
        parse_registry(
            {"kinds": {k: {"metrics": {"a": _METRIC}, "rules": [rule]} for k in ("x", "y")}}
        )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _site() -> str:
    return f"kind{uuid.uuid4().hex[:8]}"


async def _alerts(pool, site: str, rule: str) -> list[dict]:
    rows = await pool.fetch(
        "SELECT severity, state, value FROM alerts WHERE site = $1 AND rule_name = $2",
        site,
        rule,
    )
    return [dict(r) for r in rows]


async def _stored(pool, site: str, kind: str) -> dict[str, list[float]]:
    rows = await pool.fetch(
        "SELECT se.metric, se.unit, r.value FROM readings r JOIN series se USING (series_id)"
        " JOIN sensors s USING (sensor_id) JOIN factories f USING (factory_id)"
        " JOIN sites si USING (site_id) WHERE si.code = $1 AND s.kind = $2 ORDER BY r.time",
        site,
        kind,
    )
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(f"{r['metric']} {r['unit']}", []).append(r["value"])
    return out


async def test_new_kinds_through_broker_service_and_api(
    database_url, make_settings, pool, mqtt_url, topic_root
):
    site, t0 = _site(), now_ms()
    settings = make_settings(
        database_url, api={"port": free_port()}, alerts={"publish_mqtt": False}
    )
    base = f"{topic_root}/v1/{site}/f1"
    async with running_service(settings):
        admin_key = (await ApiKeys(pool).create(Role.ADMIN, name="t"))[1]
        viewer_key = (await ApiKeys(pool).create(Role.OPERATOR, name="t"))[1]
        url = f"http://127.0.0.1:{settings.api.port}/api/v1"
        admin = httpx.AsyncClient(base_url=url, headers={"X-API-Key": admin_key}, timeout=20)
        viewer = httpx.AsyncClient(base_url=url, headers={"X-API-Key": viewer_key}, timeout=20)
        async with admin, viewer:
            # A gas reading over alarm 1, then over alarm 2; fire smoke 0 then 1.
            await publish(
                mqtt_url,
                [
                    (f"{base}/gas/gd1", reading(t0, h2s=0.0, o2=20.9, lel=0.0)),
                    (f"{base}/fire/fd1", reading(t0, smoke=0, flame=0, heat=22.0)),
                    (f"{base}/gas/gd1", reading(t0 + 1000, h2s=12.0, o2=20.9, lel=0.0)),
                    (f"{base}/gas/gd1", reading(t0 + 2000, bogus=1.0)),
                ],
            )
            h2s = await eventually(lambda: _alerts(pool, site, "gas-h2s"))
            assert [(a["severity"], a["state"], a["value"]) for a in h2s] == [
                ("warning", "open", 12.0)
            ]
            assert await _alerts(pool, site, "fire-smoke") == []  # smoke 0 is no alarm
            await publish(
                mqtt_url,
                [
                    # lel 150 %LEL: within what ingest accepts, beyond the detector's range
                    (f"{base}/gas/gd1", reading(t0 + 3000, h2s=16.0, o2=20.9, lel=150.0)),
                    (f"{base}/fire/fd1", reading(t0 + 3000, smoke=1, flame=0, heat=23.0)),
                ],
            )
            smoke = await eventually(lambda: _alerts(pool, site, "fire-smoke"))
            assert [(a["severity"], a["state"]) for a in smoke] == [("critical", "open")]

            async def escalated():
                return (await _alerts(pool, site, "gas-h2s"))[0]["severity"] == "critical"

            await eventually(escalated)
            stored = await _stored(pool, site, "gas")
            assert stored["h2s ppm"] == [0.0, 12.0, 16.0]
            assert stored["o2 %vol"] == [20.9] * 3
            # The unknown metric is a dead letter with its reason.
            dead = await pool.fetchrow(
                "SELECT reason, detail FROM dead_letters WHERE topic = $1", f"{base}/gas/gd1"
            )
            assert dead is not None
            assert (dead["reason"], dead["detail"]) == (
                "unknown_metric",
                "'bogus' is not a metric of gas; 0 values kept",
            )

            # The engine scored the gas series with the kind's own profile (hi 100 %LEL:
            # the generic profile has no limit and would not flag it).
            async def limit_event():
                return await pool.fetchval(
                    "SELECT count(*) FROM anomaly_events ae JOIN series se USING (series_id)"
                    " JOIN sensors s USING (sensor_id) JOIN factories f USING (factory_id)"
                    " JOIN sites si USING (site_id)"
                    " WHERE si.code = $1 AND se.metric = 'lel' AND ae.detector = 'limit'",
                    site,
                )

            assert await eventually(limit_event) == 1

            # The safety line: a gas and a fire alarm, the worst gas reading at alarm 2.
            summary = (await viewer.get(f"/factories/{site}/f1/summary")).json()
            safety = summary["safety"]
            assert safety["alarm"] is True
            assert safety["alerts"] == {"gas": 2, "fire": 1}  # gas-h2s, gas-lel; fire-smoke
            worst = safety["worst"]
            # Alarm 2 beats the smoke detector's one alarm; lel is 15x its alarm 1, h2s 1.6x.
            assert (worst["metric"], worst["value"], worst["level"]) == ("lel", 150.0, 2)
            assert worst["ratio"] == 15.0
            assert worst["set_points"] == [{"op": "above", "at": [10.0, 25.0]}]

            # History and CSV of the new kinds, like the others.
            span = {"start": _iso(t0 - 60_000), "end": _iso(t0 + 60_000)}
            hist = await viewer.get(
                "/history", params={"site": site, "kind": "gas", "metric": "h2s", **span}
            )
            assert hist.status_code == 200, hist.text
            (series,) = hist.json()["series"]
            assert max(series["max"]) == 16.0
            csv = await viewer.get("/export.csv", params={"site": site, "kind": "fire", **span})
            assert csv.status_code == 200
            assert f"{site},f1,fire,fd1,smoke" in csv.text

            # The registry for everyone; a bad entry is a 422 with the reason.
            kinds = (await viewer.get("/kinds")).json()
            assert {"air", "power", "parking", "gas", "fire", "odor", "water", "weather"} <= {
                k["name"] for k in kinds
            }
            noise = {
                "name": f"noise{uuid.uuid4().hex[:6]}",
                "title": {"en": "Noise"},
                "metrics": {"laeq": {"unit": "dB", "limits": [0, 200]}},
                "rules": [
                    {
                        "name": f"loud-{uuid.uuid4().hex[:6]}",
                        "conditions": [{"metric": "laeq", "raise_at": 85, "clear_at": 80}],
                    }
                ],
            }
            assert (await viewer.post("/kinds", json=noise)).status_code == 403
            bad = await admin.post(
                "/kinds", json={**noise, "metrics": {"laeq": {"unit": "dB", "limits": [9, 1]}}}
            )
            assert bad.status_code == 422
            assert "lo < hi" in bad.json()["detail"]
            # Unknown before it is added: a dead letter.
            topic = f"{base}/{noise['name']}/n1"
            await publish(mqtt_url, [(topic, reading(t0 + 4000, laeq=70.0))])
            await eventually(
                lambda: pool.fetchval(
                    "SELECT reason FROM dead_letters WHERE topic = $1 AND reason = 'unknown_kind'",
                    topic,
                )
            )
            created = await admin.post("/kinds", json=noise)
            assert created.status_code == 201, created.text
            assert (await admin.post("/kinds", json=noise)).status_code == 409
            changed_unit = {**noise, "metrics": {"laeq": {"unit": "B", "limits": [0, 20]}}}
            r = await admin.put(f"/kinds/{noise['name']}", json=changed_unit)
            assert r.status_code == 422
            assert "unit stays" in r.json()["detail"]
            await publish(mqtt_url, [(topic, reading(t0 + 5000, laeq=90.0))])
            got = await eventually(lambda: _stored(pool, site, noise["name"]))
            assert got == {"laeq dB": [90.0]}
            loud = await eventually(lambda: _alerts(pool, site, noise["rules"][0]["name"]))
            assert loud[0]["state"] == "open"


def test_the_engine_does_not_score_a_state_change_that_z_scores_would_flag():
    """A smoke detector at 0 for an hour, then 1: the alert rule says so at once; the engine,
    with the fire kind's settings, raises no statistical event (the generic profile does)."""
    import numpy as np

    from controlcenter.anomaly import Engine
    from controlcenter.domain import Batch

    knobs = packaged().engine_knobs()
    t = np.arange(400, dtype=np.int64) * 10_000_000
    v = np.zeros(400)
    v[-1] = 1.0
    events = {}
    for name in ("fire.smoke", "generic"):
        eng = Engine(profiles={"fire.smoke": profile_from_knobs(knobs["fire.smoke"])})
        eng.add_series([0], name)
        _, ev = eng.ingest(Batch.from_lists(np.zeros(400), t, v))
        events[name] = ev.names().tolist()
    assert events["fire.smoke"] == []
    assert events["generic"] != []


async def test_a_gas_reading_chattering_across_its_set_point_opens_one_alert(
    database_url, make_settings, pool, mqtt_url, topic_root
):
    """A plume's concentration crosses alarm 1 many times a minute: the default gas rule
    keeps one alert open through it (a 5-minute off-delay) and resolves it once the gas
    has stayed under the clear level that long. The demo's first leak, before, opened and
    resolved 129 alerts on one detector in five minutes."""
    site = _site()
    t0 = now_ms() - 900_000  # reading time drives the off-delay: 15 minutes of history
    settings = make_settings(
        database_url, api={"port": free_port()}, alerts={"publish_mqtt": False}
    )
    topic = f"{topic_root}/v1/{site}/f1/gas/gd1"
    async with running_service(settings):
        # Each reading in a batch of its own, as readings a few seconds apart arrive.
        for i, h2s in enumerate([12.0, 5.0, 13.0, 4.0, 12.5, 5.0]):
            await publish(mqtt_url, [(topic, reading(t0 + i * 5000, h2s=h2s, o2=20.9, lel=0.0))])

            async def stored(n=i + 1):
                return await count_readings(pool, site) >= n * 3

            await eventually(stored)
        # Then under the clear level (8 ppm) for 350 s of reading time.
        await publish(
            mqtt_url,
            [
                (topic, reading(t0 + 30_000 + i * 5000, h2s=3.0, o2=20.9, lel=0.0))
                for i in range(70)
            ],
        )

        async def resolved():
            rows = await _alerts(pool, site, "gas-h2s")
            return rows if rows and rows[-1]["state"] == "resolved" else None

        rows = await eventually(resolved, timeout=30)
        assert [(r["state"], r["value"]) for r in rows] == [("resolved", 12.0)]

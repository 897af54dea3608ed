"""Hysteresis, lifecycle, audit, escalation and restart against the real database."""

from __future__ import annotations

import uuid

import pytest

from controlcenter.alerts import AlertStateError
from tests.alerts._helpers import (
    T0,
    Clock,
    add_rules,
    air_keys,
    alerts_of,
    batch,
    feed,
    pm10_rule,
    register,
    running,
)
from tests.alerts._helpers import service as make_service

S = 1_000_000


def rule_name() -> str:
    return f"r{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(make_settings, database_url):
    return make_settings(
        database_url,
        alerts={"publish_mqtt": False, "group_window_s": 0, "escalation_check_s": 3600},
    )


async def test_value_oscillating_around_threshold_raises_one_alert(pool, settings, site):
    catalog, ids = await register(pool, air_keys(site, 1))
    name = rule_name()
    await add_rules(pool, pm10_rule(name, site))
    svc = make_service(settings, pool, catalog, Clock())
    async with running(svc):
        values = [75, 81, 79, 82, 78, 85, 71, 90, 72, 95]
        for i, v in enumerate(values):  # one reading per batch, like a live feed
            await feed(svc, batch([(ids[0], T0 + i * S, v)]))
        rows = await alerts_of(pool, name)
        assert len(rows) == 1
        assert rows[0]["state"] == "open"
        assert rows[0]["peak_value"] == 95
        await feed(svc, batch([(ids[0], T0 + 20 * S, 69)]))
        rows = await alerts_of(pool, name)
        assert [r["state"] for r in rows] == ["resolved"]
        assert rows[0]["resolved_by"] == "system"
        hist = await pool.fetch(
            "SELECT transition, actor FROM alert_history WHERE alert_id = $1 ORDER BY id",
            rows[0]["alert_id"],
        )
        assert [(h["transition"], h["actor"]) for h in hist] == [
            ("opened", "system"),
            ("resolved", "system"),
        ]


@pytest.fixture
def site():
    return f"site{uuid.uuid4().hex[:8]}"


async def test_acknowledge_assign_note_resolve_are_audited(pool, settings, site):
    catalog, ids = await register(pool, air_keys(site, 1))
    name = rule_name()
    await add_rules(pool, pm10_rule(name, site))
    clock = Clock()
    svc = make_service(settings, pool, catalog, clock)
    async with running(svc):
        await feed(svc, batch([(ids[0], T0, 120)]))
        (row,) = await alerts_of(pool, name)
        aid = row["alert_id"]
        acked = await svc.book.acknowledge(aid, "kim")
        assert acked["state"] == "acknowledged"
        assert acked["acknowledged_by"] == "kim"
        with pytest.raises(AlertStateError):
            await svc.book.acknowledge(aid, "lee")
        await svc.book.assign(aid, "kim", "park")
        await svc.book.note(aid, "park", "filter replaced")
        # still breaching: repeated readings update the same alert
        await feed(svc, batch([(ids[0], T0 + S, 160), (ids[0], T0 + 2 * S, 130)]))
        done = await svc.book.resolve(aid, "park", "fixed")
        assert done["state"] == "resolved"
        assert done["resolved_by"] == "park"
        assert done["notes"][0]["text"] == "filter replaced"
        with pytest.raises(KeyError):
            await svc.book.acknowledge(10**12, "kim")
        hist = await pool.fetch(
            "SELECT transition, actor FROM alert_history WHERE alert_id = $1 ORDER BY id", aid
        )
        assert [(h["transition"], h["actor"]) for h in hist] == [
            ("opened", "system"),
            ("acknowledged", "kim"),
            ("assigned", "kim"),
            ("note", "park"),
            ("resolved", "park"),
        ]
        # resolved by hand while still breaching: no new alert until it clears and breaches
        await feed(svc, batch([(ids[0], T0 + 3 * S, 150)]))
        assert len(await alerts_of(pool, name)) == 1
        await feed(svc, batch([(ids[0], T0 + 4 * S, 50), (ids[0], T0 + 5 * S, 99)]))
        rows = await alerts_of(pool, name)
        assert [r["state"] for r in rows] == ["resolved", "open"]


async def test_severity_steps_raise_the_open_alert(pool, settings, site):
    catalog, ids = await register(pool, air_keys(site, 1))
    name = rule_name()
    await add_rules(
        pool, pm10_rule(name, site, severity="warning", steps=[{"at": 150, "severity": "critical"}])
    )
    svc = make_service(settings, pool, catalog, Clock())
    async with running(svc):
        await feed(svc, batch([(ids[0], T0, 100)]))
        assert (await alerts_of(pool, name))[0]["severity"] == "warning"
        await feed(svc, batch([(ids[0], T0 + S, 170)]))
        (row,) = await alerts_of(pool, name)
        assert row["severity"] == "critical"
        assert row["peak_value"] == 170


async def test_escalation_follows_contact_levels_until_acknowledged(pool, settings, site):
    catalog, ids = await register(pool, air_keys(site, 1))
    name = rule_name()
    await add_rules(pool, pm10_rule(name, site, escalate_after_s=600))
    await pool.execute(
        "INSERT INTO alert_contacts (level, name, site) VALUES (1, 'crew', $1), (2, 'chief', $1)",
        site,
    )
    clock = Clock(T0 / 1e6)
    svc = make_service(settings, pool, catalog, clock)
    async with running(svc):
        await feed(svc, batch([(ids[0], T0, 120)]))
        (_row,) = await alerts_of(pool, name)
        clock.now = T0 / 1e6 + 599
        await svc.book.escalate_due()
        assert (await alerts_of(pool, name))[0]["escalation_level"] == 0
        clock.now = T0 / 1e6 + 600
        await svc.book.escalate_due()
        assert (await alerts_of(pool, name))[0]["escalation_level"] == 1
        clock.now += 300
        await svc.book.escalate_due()
        assert (await alerts_of(pool, name))[0]["escalation_level"] == 1
        clock.now += 300
        await svc.book.escalate_due()
        assert (await alerts_of(pool, name))[0]["escalation_level"] == 2
        clock.now += 3600  # no level 3: stays at 2
        await svc.book.escalate_due()
        assert (await alerts_of(pool, name))[0]["escalation_level"] == 2
    # acknowledged alerts do not escalate
    await feed_other(pool, settings, site, name, clock)


async def feed_other(pool, settings, site, name, clock):
    catalog, ids = await register(pool, air_keys(site, 2))
    svc = make_service(settings, pool, catalog, clock)
    async with running(svc):
        start = clock.now
        await feed(svc, batch([(ids[1], round(start * 1e6), 120)]))
        rows = await alerts_of(pool, name)
        new = rows[-1]
        await svc.book.acknowledge(new["alert_id"], "kim")
        clock.now = start + 10_000
        await svc.book.escalate_due()
        assert (await alerts_of(pool, name))[-1]["escalation_level"] == 0


async def test_restart_keeps_open_alerts_and_their_state(pool, settings, site):
    catalog, ids = await register(pool, air_keys(site, 2))
    name = rule_name()
    await add_rules(pool, pm10_rule(name, site))
    svc = make_service(settings, pool, catalog, Clock())
    async with running(svc):
        await feed(svc, batch([(ids[0], T0, 120), (ids[1], T0, 50)]))
    assert len(await alerts_of(pool, name)) == 1
    svc2 = make_service(settings, pool, catalog, Clock())
    async with running(svc2):
        assert any(k[1].endswith("/a0/pm10") for k in svc2.book.active)
        await feed(svc2, batch([(ids[0], T0 + S, 130)]))  # still breaching: same alert
        rows = await alerts_of(pool, name)
        assert len(rows) == 1
        assert rows[0]["peak_value"] == 130
        await feed(svc2, batch([(ids[0], T0 + 2 * S, 60)]))
        assert [r["state"] for r in await alerts_of(pool, name)] == ["resolved"]


async def test_two_workers_escalate_an_alert_once_and_not_after_an_acknowledgement(
    pool, settings, site
):
    """Both workers hold the open alert (each loads the active ones at start)."""
    catalog, ids = await register(pool, air_keys(site, 2))
    name = rule_name()
    await add_rules(pool, pm10_rule(name, site, escalate_after_s=600))
    await pool.execute(
        "INSERT INTO alert_contacts (level, name, site) VALUES (1, 'crew', $1)", site
    )
    clock = Clock(T0 / 1e6)
    a = make_service(settings, pool, catalog, clock)
    async with running(a):
        await feed(a, batch([(ids[0], T0, 120), (ids[1], T0, 130)]))
        _first, second = await alerts_of(pool, name)
        b = make_service(settings, pool, catalog, clock)
        async with running(b):  # loads both open alerts
            # An operator acknowledges the second one through worker a.
            await a.book.acknowledge(second["alert_id"], "kim")
            clock.now = T0 / 1e6 + 601
            await a.book.escalate_due()  # escalates the first one
            await b.book.escalate_due()  # the first is done already; the second is acked
    rows = await alerts_of(pool, name)
    assert [r["escalation_level"] for r in rows] == [1, 0]
    escalations = await pool.fetchval(
        "SELECT count(*) FROM alert_history WHERE transition = 'escalated' AND alert_id = ANY($1)",
        [r["alert_id"] for r in rows],
    )
    assert escalations == 1


async def test_an_alert_raised_by_late_readings_waits_the_escalation_delay(pool, settings, site):
    """A gateway backfills two hours: the alert's opened_at is old, the page is not due."""
    catalog, ids = await register(pool, air_keys(site, 1))
    name = rule_name()
    await add_rules(pool, pm10_rule(name, site, escalate_after_s=600))
    await pool.execute(
        "INSERT INTO alert_contacts (level, name, site) VALUES (1, 'crew', $1)", site
    )
    clock = Clock(T0 / 1e6 + 7_200)  # the reading below is two hours old
    svc = make_service(settings, pool, catalog, clock)
    async with running(svc):
        await feed(svc, batch([(ids[0], T0, 120)]))

        async def level() -> int:
            await svc.book.escalate_due()
            return int((await alerts_of(pool, name))[0]["escalation_level"])

        assert await level() == 0  # not paged at once for a two-hour-old reading
        clock.now += 599
        assert await level() == 0
        clock.now += 1
        assert await level() == 1


async def test_a_late_reading_that_clears_an_alert_never_resolves_it_before_it_opened(
    pool, settings, site
):
    # A reading stamped before the alert's opening (it was delayed on its way: a silence
    # declared while it was in flight) resolves it at the opening, not before: the audit
    # trail never runs backwards.
    catalog, ids = await register(pool, air_keys(site, 2))
    name = rule_name()
    await add_rules(pool, pm10_rule(name, site))
    svc = make_service(settings, pool, catalog, Clock())
    async with running(svc):
        await feed(svc, batch([(ids[0], T0 + 10 * S, 90)]))
        await feed(svc, batch([(ids[1], T0 + 5 * S, 60)]))  # another sensor: no effect
        await feed(svc, batch([(ids[0], T0 + 5 * S, 60)]))
        rows = await alerts_of(pool, name)
        assert [r["state"] for r in rows] == ["resolved"]
        assert rows[0]["resolved_at"] >= rows[0]["opened_at"]
        hist = await pool.fetch(
            "SELECT transition, time FROM alert_history WHERE alert_id = $1 ORDER BY id",
            rows[0]["alert_id"],
        )
        assert [h["transition"] for h in hist] == ["opened", "resolved"]
        assert hist[1]["time"] >= hist[0]["time"]

"""Delivery: webhooks to a real local HTTP receiver, MQTT messages, grouping, end to end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from urllib.parse import urlsplit

import aiomqtt
import pytest

from tests._support import (
    TcpProxy,
    eventually,
    now_ms,
    publish,
    reading,
    running_service,
    target_of,
    via_proxy,
)
from tests.alerts._helpers import (
    T0,
    Clock,
    add_rules,
    air_keys,
    alerts_of,
    batch,
    feed,
    register,
    running,
)
from tests.alerts._helpers import service as make_service


class Receiver:
    """A minimal HTTP server on 127.0.0.1: answers with ``statuses`` in turn, then 200."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.bodies = []
        self.requests = 0
        self.server = None

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook"
        return self

    async def __aexit__(self, *exc):
        self.server.close()

    async def _handle(self, reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode().split("\r\n"):
            if line.lower().startswith("content-length:"):
                length = int(line.split(":")[1])
        body = await reader.readexactly(length)
        self.requests += 1
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.bodies.append(json.loads(body))
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


def rule_name() -> str:
    return f"r{uuid.uuid4().hex[:10]}"


@pytest.fixture
def site():
    return f"site{uuid.uuid4().hex[:8]}"


def fast(make_settings, database_url, **alerts):
    base = {
        "publish_mqtt": False,
        "group_window_s": 0,
        "retry_initial_s": 0.01,
        "retry_max_s": 0.05,
        "webhook_max_attempts": 4,
        "webhook_timeout_s": 2,
    }
    return make_settings(database_url, alerts={**base, **alerts})


async def test_webhook_that_fails_then_recovers_gets_every_transition(
    pool, make_settings, database_url, site
):
    catalog, ids = await register(pool, air_keys(site, 1))
    name = rule_name()
    await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}],
        },
    )
    async with Receiver([500, 503, 429]) as rx:
        settings = fast(make_settings, database_url, webhook_urls=[rx.url])
        svc = make_service(settings, pool, catalog, Clock())
        async with running(svc):
            await feed(svc, batch([(ids[0], T0, 120), (ids[0], T0 + 1_000_000, 40)]))

            async def both():
                mine = [b for b in rx.bodies if b["alert"]["rule_name"] == name]
                return [b["transition"] for b in mine] == ["opened", "resolved"] and mine

            mine = await eventually(both, timeout=10)
        assert rx.requests >= 5
        assert "text" in mine[0]
        assert mine[0]["alert"]["site"] == site
        assert mine[0]["text"].startswith("[WARNING]")


async def test_webhook_that_stays_down_is_dead_lettered_without_delaying_alerts(
    pool, make_settings, database_url, site
):
    catalog, ids = await register(pool, air_keys(site, 1))
    name = rule_name()
    await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}],
        },
    )
    async with Receiver() as rx:
        dead_url = rx.url
    settings = fast(make_settings, database_url, webhook_urls=[dead_url])
    svc = make_service(settings, pool, catalog, Clock())
    async with running(svc):
        await feed(svc, batch([(ids[0], T0, 120)]))
        assert len(await alerts_of(pool, name)) == 1  # evaluation did not wait for delivery

        async def buried():
            return await pool.fetch(
                "SELECT * FROM alert_dead_letters WHERE target = $1 AND payload->'alert'->>"
                "'rule_name' = $2",
                dead_url,
                name,
            )

        (row,) = await eventually(buried, timeout=10)
        assert row["attempts"] == 4
        assert row["channel"] == "webhook"


async def test_alert_transitions_arrive_over_mqtt(
    pool, make_settings, database_url, site, mqtt_url, topic_root
):
    catalog, ids = await register(pool, air_keys(site, 1))
    name = rule_name()
    await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}],
        },
    )
    settings = fast(make_settings, database_url, publish_mqtt=True)
    parts = urlsplit(mqtt_url)
    got = []
    async with aiomqtt.Client(parts.hostname, parts.port or 1883) as sub:
        await sub.subscribe(f"{topic_root}/v1/alerts/#", qos=1)
        svc = make_service(settings, pool, catalog, Clock())
        async with running(svc):
            await feed(svc, batch([(ids[0], T0, 120), (ids[0], T0 + 1_000_000, 40)]))
            async with asyncio.timeout(10):
                async for msg in sub.messages:
                    body = json.loads(msg.payload)
                    if body["alert"]["rule_name"] == name:
                        got.append((msg.topic.value, msg.qos, body["transition"]))
                    if len(got) == 2:
                        break
    topic = f"{topic_root}/v1/alerts/{site}/f1/{name}"
    assert got == [(topic, 1, "opened"), (topic, 1, "resolved")]


async def test_complex_wide_event_is_grouped_into_one_notification(
    pool, make_settings, database_url, site
):
    catalog, ids = await register(pool, air_keys(site, 60))
    name = rule_name()
    await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}],
        },
    )
    async with Receiver() as rx:
        settings = fast(make_settings, database_url, webhook_urls=[rx.url], group_window_s=30)
        clock = Clock()
        svc = make_service(settings, pool, catalog, clock)
        received: list = []
        svc.add_listener(received.append)  # as the API's live hub listens
        async with running(svc):
            # a dust episode: every station of the site lifts within a few readings
            for step in range(3):
                await feed(svc, batch([(i, T0 + step * 1_000_000, 150.0) for i in ids[step::3]]))

            async def grouped():
                mine = [
                    b
                    for b in rx.bodies
                    if b.get("rule", b.get("alert", {}).get("rule_name")) == name
                ]
                return len(mine) == 2 and mine

            clock.now += 30  # the grouping window closes (the service's clock)
            mine = await eventually(grouped, timeout=10)
        assert mine[0]["type"] == "alert"
        assert mine[1]["type"] == "alert_group"
        assert mine[1]["count"] == 59
        assert len(mine[1]["members"]) == 59
        assert len({m["sensor"] for m in mine[1]["members"]}) == 59
        # operators' websocket feed still sees each alert
        assert sum(1 for n in received if n["rule"] == name and n["transition"] == "opened") == 60
        assert len(await alerts_of(pool, name)) == 60


async def test_reading_published_over_mqtt_opens_an_alert_end_to_end(
    pool, make_settings, database_url, mqtt_url, topic_root, site
):
    name = rule_name()
    await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "co2", "raise_at": 1500, "clear_at": 1200}],
        },
    )
    settings = make_settings(database_url, api={"enabled": False}, alerts={"publish_mqtt": False})
    async with running_service(settings):
        t = now_ms()
        await publish(
            mqtt_url,
            [
                (f"{topic_root}/v1/{site}/f1/air/a1", reading(t, co2=600)),
                (f"{topic_root}/v1/{site}/f1/air/a1", reading(t + 1000, co2=2500)),
            ],
        )

        async def opened():
            return await alerts_of(pool, name)

        (row,) = await eventually(opened, timeout=20)
    assert row["state"] == "open"
    assert row["metric"] == "co2"
    assert row["value"] == 2500


async def test_gateway_offline_opens_and_online_resolves(pool, make_settings, database_url, site):
    catalog, _ = await register(pool, air_keys(site, 1))
    name = rule_name()
    await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "raise_after_s": 30,
            "conditions": [{"gateway": "offline"}],
            "severity": "critical",
        },
    )
    clock = Clock(T0 / 1e6)
    svc = make_service(fast(make_settings, database_url), pool, catalog, clock)

    async def status(value, at):
        await pool.execute(
            "UPDATE factories SET gateway_status = $2, gateway_status_at = to_timestamp($3)"
            " WHERE code = 'f1' AND site_id = (SELECT site_id FROM sites WHERE code = $1)",
            site,
            value,
            at,
        )

    async with running(svc):
        await status("offline", clock.now)
        clock.now += 29
        await svc.check_gateways()
        assert await alerts_of(pool, name) == []
        clock.now += 1
        await svc.check_gateways()
        await svc.check_gateways()
        (row,) = await alerts_of(pool, name)
        assert (row["state"], row["severity"], row["factory"], row["sensor"]) == (
            "open",
            "critical",
            "f1",
            None,
        )
        await status("online", clock.now)
        await svc.check_gateways()
        assert [r["state"] for r in await alerts_of(pool, name)] == ["resolved"]


async def test_escalation_pages_the_next_level_contact_webhook(
    pool, make_settings, database_url, site
):
    catalog, ids = await register(pool, air_keys(site, 1))
    name = rule_name()
    await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "escalate_after_s": 60,
            "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}],
        },
    )
    async with Receiver() as rx:
        await pool.execute(
            "INSERT INTO alert_contacts (level, name, phone, site, webhook_url)"
            " VALUES (1, 'night crew', '010-0000-0000', $1, $2)",
            site,
            rx.url,
        )
        clock = Clock(T0 / 1e6)
        svc = make_service(fast(make_settings, database_url), pool, catalog, clock)
        async with running(svc):
            await feed(svc, batch([(ids[0], T0, 120)]))
            clock.now += 60
            assert await svc.book.escalate_due() >= 1

            async def paged():
                return [
                    b
                    for b in rx.bodies
                    if b.get("transition") == "escalated" and b["alert"]["rule_name"] == name
                ]

            (body,) = await eventually(paged, timeout=10)
    assert body["contacts"][0]["name"] == "night crew"
    assert body["alert"]["escalation_level"] == 1


async def test_mqtt_publisher_reconnects_after_the_link_is_cut(
    pool, make_settings, database_url, site, mqtt_url, topic_root
):
    catalog, ids = await register(pool, air_keys(site, 1))
    name = rule_name()
    await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}],
        },
    )
    parts = urlsplit(mqtt_url)
    async with (
        TcpProxy(*target_of(mqtt_url, 1883)) as proxy,
        aiomqtt.Client(parts.hostname, parts.port or 1883) as sub,
    ):
        await sub.subscribe(f"{topic_root}/v1/alerts/#", qos=1)
        settings = fast(make_settings, database_url, publish_mqtt=True)
        settings = settings.model_copy(update={"mqtt_url": via_proxy(mqtt_url, proxy)})
        svc = make_service(settings, pool, catalog, Clock())
        async with running(svc):
            await asyncio.wait_for(svc.publisher.connected.wait(), 10)
            proxy.cut()
            await eventually(lambda: _not(svc.publisher.connected.is_set()), timeout=10)
            await feed(svc, batch([(ids[0], T0, 120)]))  # queued while the link is down
            proxy.restore()
            async with asyncio.timeout(15):
                async for msg in sub.messages:
                    body = json.loads(msg.payload)
                    if body["alert"]["rule_name"] == name:
                        break
    assert body["transition"] == "opened"


async def _not(value):
    return not value


async def test_at_shutdown_the_grouper_lets_go_and_the_webhook_delivers_before_returning(
    pool, make_settings, database_url, site
):
    """Ten sensors breach together: the first notification goes out at once, nine wait in
    the grouper's 30 s window. Stopping the service must not lose them: the window closes
    and the webhook delivers the group before ``run(stop)`` returns."""
    catalog, ids = await register(pool, air_keys(site, 10))
    name = rule_name()
    await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}],
        },
    )
    async with Receiver() as rx:
        settings = fast(make_settings, database_url, webhook_urls=[rx.url], group_window_s=30)
        svc = make_service(settings, pool, catalog, Clock())
        async with running(svc):
            await feed(svc, batch([(i, T0, 150.0) for i in ids]))
        # run(stop) has returned: what it held was delivered first.
        mine = [b for b in rx.bodies if b.get("rule", b.get("alert", {}).get("rule_name")) == name]
    assert [b["type"] for b in mine] == ["alert", "alert_group"]
    assert mine[1]["count"] == 9


async def test_at_shutdown_a_webhook_that_stays_down_dead_letters_what_it_holds(
    pool, make_settings, database_url, site
):
    """A receiver that answers 503 to everything, and many attempts allowed: at shutdown the
    notifier gets ``shutdown_timeout_s``, then what it still holds becomes a dead letter
    (no notification vanishes), and ``run(stop)`` returns without an error."""
    catalog, ids = await register(pool, air_keys(site, 3))
    name = rule_name()
    await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}],
        },
    )
    async with Receiver([503] * 10_000) as rx:
        settings = fast(
            make_settings,
            database_url,
            webhook_urls=[rx.url],
            webhook_max_attempts=1_000,
            retry_initial_s=0.05,
            retry_max_s=0.05,
            shutdown_timeout_s=0.5,
        )
        svc = make_service(settings, pool, catalog, Clock())
        async with running(svc):
            await feed(svc, batch([(i, T0, 150.0) for i in ids]))
            await eventually(lambda: _at_least_requests(rx, 3), timeout=10)
        rows = await pool.fetch(
            "SELECT * FROM alert_dead_letters WHERE target = $1 AND payload->'alert'->>"
            "'rule_name' = $2",
            rx.url,
            name,
        )
    assert len(rows) == 3  # the one being retried and the two queued behind it
    assert all(r["error"].startswith("shutdown before delivery") for r in rows)


async def _at_least_requests(rx, n):
    return rx.requests >= n


async def test_at_shutdown_the_mqtt_publisher_publishes_what_it_holds_before_leaving(
    pool, make_settings, database_url, site, mqtt_url, topic_root
):
    """Twenty sensors breach together; nineteen wait in the grouper's window when the
    service stops. The publisher must publish the group before it leaves the broker."""
    catalog, ids = await register(pool, air_keys(site, 20))
    name = rule_name()
    await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}],
        },
    )
    settings = fast(make_settings, database_url, publish_mqtt=True, group_window_s=30)
    parts = urlsplit(mqtt_url)
    got = []
    async with aiomqtt.Client(parts.hostname, parts.port or 1883) as sub:
        await sub.subscribe(f"{topic_root}/v1/alerts/#", qos=1)
        svc = make_service(settings, pool, catalog, Clock())
        async with running(svc):
            await eventually(_connected(svc), timeout=10)
            await feed(svc, batch([(i, T0, 150.0) for i in ids]))
        # run(stop) has returned; what it published is on its way to us.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                async for msg in sub.messages:
                    body = json.loads(msg.payload)
                    if body.get("rule", body.get("alert", {}).get("rule_name")) == name:
                        got.append(body)
                    if len(got) == 2:
                        break
    assert [b["type"] for b in got] == ["alert", "alert_group"]
    assert got[1]["count"] == 19


def _connected(svc):
    async def check():
        return svc.publisher.connected.is_set()

    return check

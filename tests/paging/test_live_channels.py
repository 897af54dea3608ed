"""The webhook, MQTT and websocket channels join the per-person routing: a person's own
MQTT topic (a real broker), their dashboard's websocket (a real server), and storm
grouping across every channel and site."""

from __future__ import annotations

import asyncio
import uuid

import orjson
from websockets.asyncio.client import connect

from controlcenter.mqtt import make_client
from controlcenter.paging import PageStream, PagingRepository, Schedule, page_topic
from tests._support import eventually
from tests.alerts._helpers import T0, add_rules, air_keys, batch, feed, register
from tests.api._api import close_code, running_api

from ._helpers import (
    PUBLIC,
    Receiver,
    collecting,
    paging,
    paging_settings,
    person,
    quiet_person,
    rota,
    settings_for,
    site_code,
    temp_rule,
)


async def _outcomes(pool, alert_id):
    rows = await PagingRepository(pool).deliveries(alert_id)
    return [(r["channel"], r["attempt"], r["outcome"]) for r in rows]


async def _first_alert(pool, site):
    return await pool.fetchval(
        "SELECT alert_id FROM alerts WHERE site = $1 ORDER BY alert_id LIMIT 1", site
    )


async def test_mqtt_pages_reach_the_persons_own_topic_and_are_recorded(
    pool, make_settings, database_url
):
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 1, "temp"))
    await temp_rule(pool, site)
    settings = settings_for(make_settings, database_url)
    p = await person(pool, name="mqtt", language="en", channels=["mqtt"])
    await rota(pool, site, [p])
    topic = page_topic(settings.mqtt.topic_root, p.id)
    async with make_client(settings, f"sub-{uuid.uuid4().hex[:8]}") as sub:
        await sub.subscribe(topic, qos=1)
        async with paging(settings, pool, catalog) as (svc, pager, _clock):
            await feed(svc, batch([(ids[0], T0, 120.0)]))
            async with asyncio.timeout(15):
                msg = await anext(aiter(sub.messages))
            await pager.idle()
    assert str(msg.topic) == f"{settings.mqtt.topic_root}/v1/pages/{p.id}"
    doc = orjson.loads(msg.payload)
    assert (doc["type"], doc["reason"], doc["contact_id"]) == ("page", "opened", p.id)
    assert doc["text"].startswith("[WARNING]")
    assert doc["ack_link"].startswith(f"{PUBLIC}/ack/")
    alert_id = await _first_alert(pool, site)
    assert doc["alert_ids"] == [alert_id]
    assert await _outcomes(pool, alert_id) == [("mqtt", 1, "sent")]


async def _asked(rx, n):
    return len(rx.seen) >= n


async def test_websocket_pages_reach_the_dashboard_of_the_key_bound_to_the_person(
    pool, make_settings, database_url
):
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 2, "temp"))
    await temp_rule(pool, site)
    settings = settings_for(make_settings, database_url, max_attempts=3)
    stream = PageStream()
    async with running_api(settings, pages=stream) as api:
        key, stranger = await api.key(), await api.key()
        p = await person(pool, name="ws", channels=["websocket"], key_id=key.split("_")[1])
        await rota(pool, site, [p])
        async with connect(f"{api.ws_url}/api/v1/paging/live?key={stranger}") as ws:
            assert await close_code(ws) == 4403  # a key bound to nobody
        async with paging(settings, pool, catalog, stream=stream) as (svc, pager, clock):
            async with connect(f"{api.ws_url}/api/v1/paging/live?key={key}") as ws:
                await eventually(lambda: _listening(stream, p.id), timeout=10)
                await feed(svc, batch([(ids[0], T0, 120.0)]))
                async with asyncio.timeout(15):
                    while (doc := orjson.loads(await ws.recv()))["type"] != "page":
                        pass
                await pager.idle()
            # with no dashboard open the send is retried, then failed (and repeats go on)
            await eventually(lambda: _closed(stream, p.id), timeout=10)
            clock.now += 5
            await feed(svc, batch([(ids[1], T0 + 5_000_000, 120.0)]))
            await eventually(lambda: _alerts(pool, site, 2), timeout=10)
            await pager.idle()
    first, second = await pool.fetch(
        "SELECT alert_id FROM alerts WHERE site = $1 ORDER BY alert_id", site
    )
    assert (doc["reason"], doc["contact_id"], doc["alert_ids"]) == (
        "opened",
        p.id,
        [first["alert_id"]],
    )
    assert await _outcomes(pool, first["alert_id"]) == [("websocket", 1, "sent")]
    rows = await PagingRepository(pool).deliveries(second["alert_id"])
    assert [(r["attempt"], r["outcome"]) for r in rows] == [
        (1, "retry"),
        (2, "retry"),
        (3, "failed"),
    ]
    assert rows[-1]["error"] == "no dashboard is open for this person"


async def _listening(stream, contact_id):
    return stream.listeners(contact_id) == 1


async def _closed(stream, contact_id):
    return stream.listeners(contact_id) == 0


async def _alerts(pool, site, n):
    return await pool.fetchval("SELECT count(*) FROM alerts WHERE site = $1", site) >= n


async def test_a_complex_wide_event_is_one_page_per_channel_not_one_per_alert_or_site(
    pool, make_settings, database_url
):
    metric = f"m{uuid.uuid4().hex[:8]}"  # only this test's series have it: a complex-wide rule
    sites = [site_code() for _ in range(3)]
    keys = [k for s in sites for k in air_keys(s, 10, metric)]
    catalog, ids = await register(pool, keys)
    await add_rules(
        pool,
        {
            "name": f"wide-{metric}",
            "conditions": [{"metric": metric, "raise_at": 80, "clear_at": 70}],
        },
    )
    async with Receiver() as rx:
        settings = make_settings(
            database_url,
            alerts={"publish_mqtt": False, "group_window_s": 30, "escalation_check_s": 3600},
            paging=paging_settings(gather_s=5),
        )
        p = await person(pool, name="wide", webhook_url=rx.url + "/w", channels=["webhook", "mqtt"])
        # the whole complex; removed at the end, or every later test would page this person
        whole = await rota(pool, None, [p])
        try:
            topic = page_topic(settings.mqtt.topic_root, p.id)
            got = []
            async with make_client(settings, f"sub-{uuid.uuid4().hex[:8]}") as sub:
                await sub.subscribe(topic, qos=1)

                async with (
                    collecting(sub, got),
                    paging(settings, pool, catalog) as (svc, pager, clock),
                ):
                    for n in range(3):  # the event reaches the sites one after the other
                        await feed(svc, batch([(i, T0, 120.0) for i in ids[n * 10 : n * 10 + 10]]))
                        await pager.idle()
                        assert not rx.seen  # gathering
                    clock.now += 6
                    await eventually(lambda: _asked(rx, 1), timeout=15)
                    await pager.idle()
                    clock.now += 31  # the storm windows close: one grouped page
                    await asyncio.sleep(0.6)  # the alert service closes windows every 0.25 s
                    await pager.idle()
                    clock.now += 6
                    await eventually(lambda: _asked(rx, 2), timeout=15)
                    await pager.idle()
                    await eventually(lambda: _n(got, 2), timeout=10)
        finally:
            await PagingRepository(pool).delete(Schedule, whole.id)
    hooks = [b for _, b in rx.seen]
    assert len(hooks) == 2
    assert len(got) == 2
    assert sum(b["count"] for b in hooks) == 30
    assert sum(d["count"] for d in got) == 30
    assert all(set(b["site"].split(", ")) <= set(sites) for b in hooks)


async def _n(items, n):
    return len(items) >= n


async def test_quiet_hours_hold_a_warning_on_every_channel_and_release_it_on_every_channel(
    pool, make_settings, database_url
):
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 1, "temp"))
    await temp_rule(pool, site)
    async with Receiver() as rx:
        settings = settings_for(make_settings, database_url)
        p = await quiet_person(pool, site, rx, ["webhook", "mqtt"])
        got = []
        async with make_client(settings, f"sub-{uuid.uuid4().hex[:8]}") as sub:
            await sub.subscribe(page_topic(settings.mqtt.topic_root, p.id), qos=1)

            async with collecting(sub, got), paging(settings, pool, catalog) as (svc, pager, clock):
                await feed(svc, batch([(ids[0], T0, 120.0)]))  # a warning
                await pager.idle()
                await asyncio.sleep(0.5)
                assert (rx.seen, got) == ([], [])  # held on both channels
                clock.now += 3600 + 1  # 18:00:01
                await eventually(lambda: _asked(rx, 1), timeout=15)
                await eventually(lambda: _n(got, 1), timeout=15)
                await pager.idle()
    assert [b["reason"] for _, b in rx.seen] == ["held"]
    assert [d["reason"] for d in got] == ["held"]
    alert_id = got[0]["alert_ids"][0]
    outcomes = sorted((c, o) for c, _, o in await _outcomes(pool, alert_id))
    assert outcomes == [("-", "held"), ("mqtt", "sent"), ("webhook", "sent")]

"""The MQTT consumer against the real broker: redelivery, broker outages, flushing on a
pause, a backlog waiting in the persistent session (stored end to end)."""

from __future__ import annotations

import asyncio

from tests._support import (
    TcpProxy,
    count_readings,
    eventually,
    now_ms,
    publish,
    reading,
    running_service,
    target_of,
    via_proxy,
)
from tests.ingest._helpers import dead_or_rows, equals, new_site, topic


async def test_redelivered_message_writes_no_duplicate(
    database_url, make_settings, pool, mqtt_url, topic_root
):
    site = new_site()
    msg = (topic(topic_root, site, 0), reading(now_ms(), co2=612))
    async with running_service(make_settings(database_url)):
        await publish(mqtt_url, [msg, msg, msg])
        await publish(mqtt_url, [msg])
        await eventually(lambda: dead_or_rows(pool, site))
        await asyncio.sleep(0.5)
    assert await count_readings(pool, site) == 1


async def test_broker_outage_loses_nothing(
    database_url, make_settings, pool, real_broker, topic_root
):
    mqtt_url = real_broker  # amqtt discards in-flight messages on a cut
    site = new_site()
    t0 = now_ms()
    async with TcpProxy(*target_of(mqtt_url, 1883)) as proxy:
        settings = make_settings(database_url, mqtt_url=via_proxy(mqtt_url, proxy))
        async with running_service(settings):
            await publish(
                mqtt_url,
                [(topic(topic_root, site, i), reading(t0 + i, temp=i)) for i in range(100)],
            )
            await eventually(lambda: equals(count_readings(pool, site), 100))
            proxy.cut()
            # Published straight to the broker while we are cut off: kept in our session.
            await publish(
                mqtt_url,
                [(topic(topic_root, site, i), reading(t0 + i, temp=i)) for i in range(100, 900)],
            )
            await asyncio.sleep(1.0)
            proxy.restore()
            await eventually(lambda: equals(count_readings(pool, site), 900), timeout=30)


async def test_a_pause_in_the_stream_flushes_the_batch_before_its_interval(
    database_url, make_settings, pool, mqtt_url, topic_root
):
    site = new_site()
    settings = make_settings(
        database_url, ingest={"batch_size": 100_000, "flush_interval_s": 60, "flush_idle_s": 0.05}
    )
    t0 = now_ms()
    async with running_service(settings):
        await publish(
            mqtt_url, [(topic(topic_root, site, i), reading(t0 + i, co2=500)) for i in range(40)]
        )
        # Far sooner than the 60 s interval: the burst ended, so the batch went.
        await eventually(lambda: equals(count_readings(pool, site), 40), timeout=5)


async def test_a_backlog_waiting_in_the_session_is_drained_on_restart(
    database_url, make_settings, pool, real_broker, topic_root
):
    """More than max_unacked messages queued while the service was away: it must still
    subscribe (the SUBACK sits behind the backlog on the socket) and store them all.
    900: this machine's Mosquitto keeps at most 1000 for an offline session."""
    mqtt_url = real_broker
    site = new_site()
    t0 = now_ms()
    settings = make_settings(database_url, ingest={"max_unacked_messages": 50, "batch_size": 20})
    async with running_service(settings):
        pass  # subscribes: the persistent session exists from here on
    await publish(
        mqtt_url, [(topic(topic_root, site, i), reading(t0 + i, voc=i)) for i in range(900)]
    )
    async with running_service(settings):
        await eventually(lambda: equals(count_readings(pool, site), 900), timeout=30)

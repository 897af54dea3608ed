"""End to end: MQTT -> ingest -> PostgreSQL, against the real broker and database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal

import aiomqtt
import numpy as np

from tests._support import (
    TcpProxy,
    count_readings,
    eventually,
    now_ms,
    publish,
    reading,
    running_service,
    serve_env,
    start_serve,
    target_of,
    via_proxy,
    wait_ingesting,
)
from tests.ingest._helpers import equals, new_site, topic


async def test_published_readings_arrive_in_the_database(
    database_url, make_settings, pool, mqtt_url, topic_root
):
    site = new_site()
    t0 = now_ms()
    messages = [
        (topic(topic_root, site, i), reading(t0 + i, pm10=40 + i % 9, pm25=21.5))
        for i in range(300)
    ]
    async with running_service(make_settings(database_url)):
        await publish(mqtt_url, messages)
        await eventually(lambda: equals(count_readings(pool, site), 600))
    rows = await pool.fetch(
        "SELECT se.metric, se.unit, count(*) AS n FROM readings JOIN series se USING (series_id) "
        "JOIN sensors s USING (sensor_id) JOIN factories f USING (factory_id) "
        "JOIN sites si USING (site_id) WHERE si.code = $1 GROUP BY 1, 2 ORDER BY 1",
        site,
    )
    assert [(r["metric"], r["unit"], r["n"]) for r in rows] == [
        ("pm10", "ug/m3", 300),
        ("pm25", "ug/m3", 300),
    ]


async def test_gateway_batches_are_stored_reading_by_reading(
    database_url, make_settings, pool, mqtt_url, topic_root
):
    site = new_site()
    t0 = now_ms()
    batch = {
        "readings": [
            {"ts": t0 - i * 1000, "values": {"kw": i, "kwh": 1000 + i}} for i in range(100)
        ]
    }
    async with running_service(make_settings(database_url)):
        await publish(
            mqtt_url, [(f"{topic_root}/v1/{site}/f1/power/m1", json.dumps(batch).encode())]
        )
        await eventually(lambda: equals(count_readings(pool, site), 200))


BAD_INPUTS = [
    # (topic suffix after root, payload, reason)
    ("/v1/{site}/f1/air/a1", b"{not json", "malformed_json"),
    ("/v1/{site}/f1/air/a1", b'{"ts": 1, "values": {"pm10": 1}}', "timestamp_too_old"),
    ("/v1/{site}/f1/air/a1", b'{"ts": %(future)d, "values": {"pm10": 1}}', "timestamp_in_future"),
    ("/v1/{site}/f1/air/a1", b'{"ts": %(now)d, "values": {"voltage": 220}}', "unknown_metric"),
    ("/v1/{site}/f1/air/a1", b'{"ts": %(now)d, "values": {"pm10": NaN}}', "non_finite_value"),
    (
        "/v1/{site}/f1/air/a1",
        b'{"ts": %(now)d, "values": {"pm25": 1%(huge)s}}',  # an int beyond float range
        "non_finite_value",
    ),
    ("/v1/{site}/f1/air/a1", b'{"ts": "noon", "values": {"pm10": 1}}', "bad_timestamp"),
    ("/v1/{site}/f1/air/a1", b'{"ts": %(now)d, "values": {"pm10": "x"}}', "invalid_value"),
    ("/v1/{site}/f1/air/a1", b'"just a string"', "invalid_schema"),
    (
        "/v1/{site}/f1/air/a1",
        b'{"ts": %(now)d, "values": {"pm10": 1}, "pad": "%(pad)s"}',
        "payload_too_large",
    ),
    ("/v1/{site}/f1/sewage/w1", b'{"ts": %(now)d, "values": {"pm10": 1}}', "unknown_kind"),
    ("/v1/{site}/f1/air", b'{"ts": %(now)d, "values": {"pm10": 1}}', "bad_topic"),
    ("/v1/{site}/f1/air/a1/x/y", b'{"ts": %(now)d, "values": {"pm10": 1}}', "bad_topic"),
    ("/v1/{site}/f1/status", b"sleeping", "bad_status"),
    # ~2 KB nested 1,000 deep: was an internal_error with a traceback each time
    (
        "/v1/{site}/f1/air/a1",
        b'{"ts": %(now)d, "values": {"pm10": 1}, "x": %(deep_open)s%(deep_close)s}',
        "too_deeply_nested",
    ),
    ("/v1/{site}/f1/power/m1", b'{"readings": []}', "empty_payload"),
    ("/v1/{site}/f1/power/m1", b'{"ts": %(now)d, "values": {"kw": 1e308}}', "value_out_of_range"),
]


async def test_every_bad_input_lands_in_dead_letters_and_the_consumer_survives(
    database_url, make_settings, pool, mqtt_url, topic_root, caplog
):
    from controlcenter.metrics import INGEST_DEAD_LETTERS

    reasons = sorted({reason for _, _, reason in BAD_INPUTS})
    counted = {r: INGEST_DEAD_LETTERS.labels(r)._value.get() for r in reasons}
    site = new_site()
    t = now_ms()
    fill = {
        b"now": t,
        b"future": t + 3_600_000,
        b"pad": b"x" * 5000,
        b"huge": b"0" * 400,
        b"deep_open": b"[" * 1000,
        b"deep_close": b"]" * 1000,
    }
    messages = [
        (topic_root + suffix.format(site=site), payload % fill) for suffix, payload, _ in BAD_INPUTS
    ]
    messages.append((f"{topic_root}/v1/{site}/f1/air/a1", reading(t, pm10=33)))
    settings = make_settings(database_url, ingest={"max_payload_bytes": 4096})
    async with running_service(settings):
        await publish(mqtt_url, messages)
        await eventually(lambda: equals(count_readings(pool, site), 1))

        async def letters():
            rows = await pool.fetch(
                "SELECT topic, reason FROM dead_letters WHERE topic LIKE $1", f"%/{site}/%"
            )
            return rows if len(rows) == len(BAD_INPUTS) else None

        rows = await eventually(letters)
    assert sorted(r["reason"] for r in rows) == sorted(reason for _, _, reason in BAD_INPUTS)
    # Bad payloads are logged in one line each (DEBUG), never with a traceback.
    assert not [
        r for r in caplog.records if r.name.startswith("controlcenter.ingest") and r.exc_info
    ]
    # Each is counted under its reason in Prometheus.
    expected = {r: sum(1 for *_, reason in BAD_INPUTS if reason == r) for r in reasons}
    assert {r: INGEST_DEAD_LETTERS.labels(r)._value.get() - counted[r] for r in reasons} == expected
    raw = await pool.fetchval(
        "SELECT payload FROM dead_letters WHERE topic LIKE $1 AND reason = 'malformed_json'",
        f"%/{site}/%",
    )
    assert bytes(raw) == b"{not json"


async def test_consumer_killed_before_acking_loses_nothing(
    database_url, make_settings, pool, real_broker, topic_root
):
    """SIGKILL the service mid-stream; the broker redelivers what was not acknowledged.

    Mosquitto 2.0 keeps fewer than ``max_queued_messages`` (default 1000) QoS 1 messages for
    an offline session, those it had in flight included, and drops the rest: the unacked
    messages at the kill plus those published while the service is down stay below that,
    or the broker (not the service) would lose them. So 800 messages, paced (about 2,500/s)
    so that the kill lands while the stream goes on.
    """
    mqtt_url = real_broker
    site = new_site()
    settings = make_settings(database_url, ingest={"batch_size": 100, "flush_interval_s": 0.2})
    env = serve_env(settings)
    t0 = now_ms()
    n = 800

    def power(i):  # topics of the power kind for this test
        return topic(topic_root, site, i, "power")

    messages = [(power(i), reading(t0 - i, kw=float(i))) for i in range(n)]

    async def paced():
        for k in range(0, n, 50):
            await publish(mqtt_url, messages[k : k + 50])
            await asyncio.sleep(0.02)

    proc = await start_serve(env)
    try:
        await wait_ingesting(pool, mqtt_url, topic_root)
        publisher = asyncio.create_task(paced())
        await eventually(lambda: _at_least(count_readings(pool, site), 100), timeout=30)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        at_kill = await count_readings(pool, site)
        await publisher
        assert at_kill < n, "the kill came too late to test anything"
        proc = await start_serve(env)
        try:
            await eventually(lambda: equals(count_readings(pool, site), n), timeout=60)
        except AssertionError:
            stored = await count_readings(pool, site)
            raise AssertionError(f"{stored} of {n} stored, {at_kill} at the kill") from None
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_database_outage_loses_nothing(
    database_url, make_settings, pool, mqtt_url, topic_root
):
    site = new_site()
    t0 = now_ms()
    async with TcpProxy(*target_of(database_url, 5432)) as proxy:
        settings = make_settings(
            via_proxy(database_url, proxy), db={"connect_timeout_s": 2, "command_timeout_s": 5}
        )
        async with running_service(settings):
            await publish(
                mqtt_url,
                [(topic(topic_root, site, i), reading(t0 + i, pm25=i)) for i in range(200)],
            )
            await eventually(lambda: equals(count_readings(pool, site), 200))
            proxy.cut()
            await publish(
                mqtt_url,
                [(topic(topic_root, site, i), reading(t0 + i, pm25=i)) for i in range(200, 1200)],
            )
            await asyncio.sleep(2.0)
            assert await count_readings(pool, site) == 200
            proxy.restore()
            await eventually(lambda: equals(count_readings(pool, site), 1200), timeout=30)


async def test_clean_shutdown_flushes_and_acknowledges(
    database_url, make_settings, pool, real_broker, topic_root
):
    mqtt_url = real_broker
    site = new_site()
    settings = make_settings(
        database_url, ingest={"batch_size": 100_000, "flush_interval_s": 60, "flush_idle_s": 0}
    )
    t0 = now_ms()
    async with running_service(settings):
        await publish(
            mqtt_url,
            [(topic(topic_root, site, i), reading(t0 + i, humidity=50)) for i in range(150)],
        )
        await asyncio.sleep(1.0)
        assert await count_readings(pool, site) == 0  # still batched: the interval is 60 s
    assert await count_readings(pool, site) == 150  # the shutdown flushed
    # And acknowledged: the broker has nothing to redeliver to our session.
    host, port = target_of(mqtt_url, 1883)
    async with aiomqtt.Client(
        host,
        port,
        identifier=settings.mqtt.client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
    ) as client:
        redelivered = []

        async def drain():
            async for message in client.messages:
                redelivered.append(message)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await drain()
        assert redelivered == []


async def test_gateway_last_will_marks_the_factory_offline(
    database_url, make_settings, pool, mqtt_url, topic_root
):
    site = new_site()
    host, port = target_of(mqtt_url, 1883)
    status = f"{topic_root}/v1/{site}/gw1/status"
    async with running_service(make_settings(database_url)), TcpProxy(host, port) as proxy:
        will = aiomqtt.Will(status, b"offline", qos=1, retain=True)
        gateway = aiomqtt.Client("127.0.0.1", proxy.port, will=will)
        async with gateway:
            await gateway.publish(status, b"online", qos=1, retain=True)
            await eventually(lambda: _factory_status(pool, site, "online"))
            proxy.cut()  # the gateway dies without DISCONNECT: the broker fires its will
            await eventually(lambda: _factory_status(pool, site, "offline"), timeout=60)
            proxy.restore()
    await publish(mqtt_url, [(status, b"")], qos=1)  # clear the retained status


# -- helpers -------------------------------------------------------------------------------


async def _at_least(awaitable, expected):
    return (await awaitable) >= expected


async def _factory_status(pool, site, status):
    got = await pool.fetchval(
        "SELECT gateway_status FROM factories f JOIN sites s USING (site_id) WHERE s.code = $1",
        site,
    )
    return got == status


async def test_intake_pauses_when_too_much_is_unacknowledged_and_loses_nothing(
    database_url, make_settings, pool, real_broker, topic_root
):
    mqtt_url = real_broker
    from controlcenter.metrics import INGEST_MQTT_PAUSES

    site = new_site()
    t0 = now_ms()
    pauses_before = INGEST_MQTT_PAUSES._value.get()
    settings = make_settings(database_url, ingest={"max_unacked_messages": 50, "batch_size": 20})
    async with running_service(settings):
        # The writer waits on a lock while the messages arrive, so the unacknowledged ones
        # reach the bound whatever the machine's speed (a fast writer never let them).
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE readings IN EXCLUSIVE MODE")
            await publish(
                mqtt_url,
                [(topic(topic_root, site, i), reading(t0 + i, voc=i)) for i in range(3000)],
            )

            async def paused():
                return INGEST_MQTT_PAUSES._value.get() > pauses_before

            await eventually(paused)
        await eventually(lambda: equals(count_readings(pool, site), 3000), timeout=60)


async def test_stop_while_the_writer_holds_queued_batches_writes_them_all_first(
    database_url, make_settings, pool, mqtt_url, topic_root
):
    """The writer waits on a lock with batches queued behind it when the service is told to
    stop: it must write every queued batch before it returns (it is stopped once the
    consumer has drained, never cancelled), and the service stops cleanly."""
    site = new_site()
    t0 = now_ms()
    from controlcenter.metrics import INGEST_MQTT_UNACKED

    # Room for every batch in the writer's inbox: all 200 messages are received and held.
    settings = make_settings(database_url, ingest={"batch_size": 20, "queue_max_batches": 20})
    conn = await pool.acquire()
    released = asyncio.Event()

    async def release_later():
        await asyncio.sleep(1.0)
        await lock.rollback()
        released.set()

    try:
        async with running_service(settings):
            lock = conn.transaction()
            await lock.start()
            await conn.execute("LOCK TABLE readings IN EXCLUSIVE MODE")
            await publish(
                mqtt_url,
                [(topic(topic_root, site, i), reading(t0 + i, humidity=i)) for i in range(200)],
            )

            async def all_held():  # received, batched, queued for the writer: not acked
                return INGEST_MQTT_UNACKED._value.get() >= 200

            await eventually(all_held, timeout=20)
            await asyncio.sleep(0.3)  # the last partial batch is flushed to the inbox
            assert await count_readings(pool, site) == 0
            releaser = asyncio.create_task(release_later())
        # The block's end set stop and awaited the service: it returned without an error.
        await releaser
        assert released.is_set()
        assert await count_readings(pool, site) == 200
    finally:
        await pool.release(conn)


async def test_intake_stays_bounded_while_the_database_is_down(
    database_url, make_settings, pool, real_broker, topic_root
):
    """The writer waits for the database; paho must stop reading, not fill aiomqtt's queue."""
    mqtt_url = real_broker
    from controlcenter.metrics import INGEST_MQTT_PAUSES, INGEST_MQTT_UNACKED

    site = new_site()
    t0 = now_ms()
    bound = 100
    pauses_before = INGEST_MQTT_PAUSES._value.get()
    async with TcpProxy(*target_of(database_url, 5432)) as proxy:
        settings = make_settings(
            via_proxy(database_url, proxy),
            db={"connect_timeout_s": 2, "command_timeout_s": 5},
            ingest={"max_unacked_messages": bound, "queue_max_batches": 1},
        )
        async with running_service(settings):
            proxy.cut()
            messages = [
                (topic(topic_root, site, i), reading(t0 + i, co2=400 + i)) for i in range(900)
            ]
            await publish(mqtt_url, messages)
            await asyncio.sleep(1.5)
            held = INGEST_MQTT_UNACKED._value.get()
            assert 0 < held <= bound, f"{held} messages held with a bound of {bound}"
            assert INGEST_MQTT_PAUSES._value.get() > pauses_before
            proxy.restore()
            await eventually(lambda: equals(count_readings(pool, site), 900), timeout=60)


async def test_new_series_beyond_a_factorys_hourly_cap_become_dead_letters(
    database_url, make_settings, pool, mqtt_url, topic_root
):
    """A gateway may not create series without bound under its own factory."""
    from controlcenter.metrics import INGEST_DEAD_LETTERS

    site = new_site()
    t0 = now_ms()
    counted = INGEST_DEAD_LETTERS.labels("series_limit")._value.get()
    settings = make_settings(database_url, ingest={"max_new_series_per_factory_per_hour": 5})
    flood = [(f"{topic_root}/v1/{site}/fa/air/s{i}", reading(t0 + i, pm10=i)) for i in range(8)]
    other = [(f"{topic_root}/v1/{site}/fb/air/s{i}", reading(t0 + i, pm10=i)) for i in range(2)]
    async with running_service(settings):
        await publish(mqtt_url, flood + other)

        async def letters():
            rows = await pool.fetch(
                "SELECT topic, payload, detail FROM dead_letters"
                " WHERE reason = 'series_limit' AND topic LIKE $1 ORDER BY id",
                f"%/{site}/%",
            )
            return rows if len(rows) == 3 else None

        rows = await eventually(letters)
        await eventually(lambda: equals(count_readings(pool, site), 7))
    assert {r["topic"]: bytes(r["payload"]) for r in rows} == {
        t: p for t, p in flood if t in {r["topic"] for r in rows}
    }
    assert all(r["detail"].startswith("1 values refused, 0 kept") for r in rows)
    assert INGEST_DEAD_LETTERS.labels("series_limit")._value.get() - counted == 3
    per_factory = await pool.fetch(
        "SELECT f.code, count(*) AS n FROM series se JOIN sensors s USING (sensor_id)"
        " JOIN factories f USING (factory_id) JOIN sites si USING (site_id)"
        " WHERE si.code = $1 GROUP BY 1 ORDER BY 1",
        site,
    )
    assert [(r["code"], r["n"]) for r in per_factory] == [("fa", 5), ("fb", 2)]


def test_refused_readings_make_one_dead_letter_per_message_with_its_payload():
    from controlcenter.domain import SensorKey
    from controlcenter.ingest import Batcher
    from controlcenter.wire.payload import Decoded

    batcher = Batcher()
    for i, metrics in enumerate((["pm10"], ["pm10", "pm25"], ["co2"])):
        decoded = Decoded(metrics, [1] * len(metrics), [1.0] * len(metrics))
        batcher.add(SensorKey("s", "f", "air", f"a{i}"), decoded, f"t{i}", b"p%d" % i)
    batcher.add(SensorKey("s", "f", "air", "x"), Decoded(), "t3", b"p3")  # all rejected
    item = batcher.take(lambda acks: lambda: None)
    letters = item.refused(np.array([False, True, False, True]), "series_limit", "why")
    assert [(d.topic, d.payload, d.detail) for d in letters] == [
        ("t1", b"p1", "1 values refused, 1 kept: why"),
        ("t2", b"p2", "1 values refused, 0 kept: why"),
    ]

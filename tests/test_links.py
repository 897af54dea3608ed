"""Both links under adversity: /ready tells the truth about each, and a database outage
never costs the MQTT connection."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import httpx

from controlcenter.metrics import INGEST_MQTT_PAUSES, INGEST_RECONNECTS
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _messages(root: str, site: str, n: int) -> list[tuple[str, bytes]]:
    t0 = now_ms()
    return [
        (f"{root}/v1/{site}/f{i % 5}/air/a{i % 7}", reading(t0 + i, co2=400 + i)) for i in range(n)
    ]


async def _ready(http: httpx.AsyncClient, port: int) -> tuple[int, dict[str, str]]:
    r = await http.get(f"http://127.0.0.1:{port}/ready")
    return r.status_code, r.json()


async def test_a_database_outage_keeps_the_mqtt_link_and_ready_says_which_link_is_down(
    database_url, make_settings, pool, real_broker, topic_root
):
    """Intake pauses the socket while the writer waits for the database. The broker's
    PINGRESPs then wait unread, and paho used to drop the link after two keep-alives
    (~42 s with the default 30 s) while /ready still said "broker": "ok". Now the link
    stays up for an outage of any length, and /ready names the database as the cause."""
    mqtt_url = real_broker
    site = f"site{uuid.uuid4().hex[:8]}"
    api_port = _free_port()
    pauses, reconnects = INGEST_MQTT_PAUSES._value.get(), INGEST_RECONNECTS._value.get()
    async with TcpProxy(*target_of(database_url, 5432)) as proxy, httpx.AsyncClient() as http:
        settings = make_settings(
            via_proxy(database_url, proxy),
            mqtt={"keepalive_s": 5},  # paho dropped the link after 5 + 5 s paused
            db={"connect_timeout_s": 1, "command_timeout_s": 2},
            ingest={"max_unacked_messages": 100, "queue_max_batches": 1},
            api={"port": api_port, "ready_timeout_s": 1},
        )
        async with running_service(settings):
            assert await _ready(http, api_port) == (
                200,
                {"status": "ready", "mode": "in-process", "database": "ok", "broker": "ok"},
            )
            proxy.cut()
            await publish(mqtt_url, _messages(topic_root, site, 900))
            await eventually(lambda: _gt(INGEST_MQTT_PAUSES._value.get(), pauses), timeout=10)
            deadline = time.monotonic() + 14  # beyond two keep-alives of paused reading
            while time.monotonic() < deadline:
                status, body = await _ready(http, api_port)
                assert status == 503
                assert body["database"].startswith("unavailable"), body
                assert body["broker"] == "ok", body
                await asyncio.sleep(1.0)
            assert INGEST_RECONNECTS._value.get() == reconnects, "the MQTT link was dropped"
            proxy.restore()
            await eventually(lambda: _equals(count_readings(pool, site), 900), timeout=60)
            status, body = await _ready(http, api_port)
            assert (status, body["database"], body["broker"]) == (200, "ok", "ok")
    assert INGEST_RECONNECTS._value.get() == reconnects


async def test_ready_reports_a_lost_broker_link_while_the_writer_waits_for_the_database(
    database_url, make_settings, pool, real_broker, topic_root
):
    """The reader waits on the full writer queue (database down) when the broker link
    drops: nothing reads the messages iterator that would raise, but /ready must still
    say the broker is disconnected, and everything arrives once both links are back."""
    mqtt_url = real_broker
    site = f"site{uuid.uuid4().hex[:8]}"
    api_port = _free_port()
    async with (
        TcpProxy(*target_of(database_url, 5432)) as db_proxy,
        TcpProxy(*target_of(mqtt_url, 1883)) as mqtt_proxy,
        httpx.AsyncClient() as http,
    ):
        settings = make_settings(
            via_proxy(database_url, db_proxy),
            mqtt_url=via_proxy(mqtt_url, mqtt_proxy),
            db={"connect_timeout_s": 1, "command_timeout_s": 2},
            ingest={"batch_size": 10, "queue_max_batches": 1},
            api={"port": api_port, "ready_timeout_s": 1},
        )
        async with running_service(settings):
            db_proxy.cut()
            await publish(mqtt_url, _messages(topic_root, site, 100))
            await asyncio.sleep(1.0)  # writer retrying, its queue full, the reader waiting
            assert (await _ready(http, api_port))[1]["broker"] == "ok"
            mqtt_proxy.cut()

            async def broker_down():
                return (await _ready(http, api_port))[1]["broker"] == "disconnected"

            await eventually(broker_down, timeout=10)
            mqtt_proxy.restore()
            db_proxy.restore()
            await eventually(lambda: _equals(count_readings(pool, site), 100), timeout=60)
            await eventually(lambda: _ready_ok(http, api_port), timeout=30)


async def _equals(awaitable, expected):
    return (await awaitable) == expected


async def _gt(value, than):
    return value > than


async def _ready_ok(http, port):
    return (await _ready(http, port))[0] == 200

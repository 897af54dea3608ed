"""The service itself on the deployment's Mosquitto while a gateway forges its client ids.

Issue 13 measured this on the single-listener configuration: a gateway account that
connected with the service's client id pushed the service off 27 times, and 977 of 3,000
acknowledged readings were lost. Here the real service (ingest, scoring, alerts published
over MQTT) and an API replica run on the service listener with the deployment's accounts;
one gateway publishes 3,000 readings while another gateway's account keeps connecting with
every client id the service uses. Every reading is stored once, the service is never pushed
off, its alert reaches the replica's alert websocket and the replica's live feed shows the
readings.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import aiomqtt
import asyncpg
import orjson
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from websockets.asyncio.client import ClientConnection, connect

from controlcenter.api.auth import ApiKeys, Role
from controlcenter.api.server import run_replica
from controlcenter.config import Settings
from controlcenter.embedded._port import free_port
from tests._support import count_readings, eventually, now_ms, reading, running_service
from tests.alerts._helpers import add_rules
from tests.deploy._mosquitto import Broker, deploy_broker

SITE = f"acl{uuid.uuid4().hex[:8]}"
GATEWAY, FORGER = f"{SITE}/f1", f"{SITE}/f2"
SENSORS = 30
MESSAGES = 3_000
WORKER_ID = "controlcenter-ingest-1"
REPLICA_ID = "controlcenter-replica-1"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with deploy_broker(tmp_path_factory.mktemp("mosquitto"), [GATEWAY, FORGER]) as b:
        yield b


def gateway_client(
    broker: Broker, user: str, *, port: int | None = None, **kwargs: Any
) -> aiomqtt.Client:
    """A gateway's account, on the gateways' listener unless ``port``."""
    return aiomqtt.Client(
        "127.0.0.1",
        broker.port if port is None else port,
        username=user,
        password=broker.passwords[user],
        protocol=aiomqtt.ProtocolVersion.V5,
        **kwargs,
    )


async def forge(broker: Broker, stop: asyncio.Event) -> int:
    """Connect again and again with the service's client ids, as a gateway; count tries."""
    victims = [WORKER_ID, f"{WORKER_ID}-alerts", f"{REPLICA_ID}-api-00000000"]
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    tries = 0
    while not stop.is_set():
        for victim in victims:
            for port in (broker.port, broker.service_port):
                client = gateway_client(
                    broker,
                    FORGER,
                    port=port,
                    identifier=victim,
                    clean_start=False,
                    properties=props,
                )
                tries += 1
                with contextlib.suppress(aiomqtt.MqttError):
                    async with client:
                        await asyncio.sleep(0.02)
        await asyncio.sleep(0.01)
    return tries


async def recv(ws: ClientConnection, kind: str, timeout: float) -> dict[str, Any] | None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                msg = orjson.loads(await ws.recv())
                if msg["type"] == kind:
                    return msg  # type: ignore[no-any-return]
    return None


async def test_a_gateway_forging_the_services_client_ids_loses_no_reading(
    broker: Broker,
    database_url: str,
    pool: asyncpg.Pool,
    make_settings: Callable[..., Settings],
) -> None:
    url = (
        f"mqtt://controlcenter:{broker.passwords['controlcenter']}@127.0.0.1:{broker.service_port}"
    )
    rule = f"r{uuid.uuid4().hex[:10]}"
    await add_rules(
        pool,
        {
            "name": rule,
            "scope": {"site": SITE},
            "conditions": [{"metric": "co2", "raise_at": 1500, "clear_at": 1200}],
        },
    )
    _, key = await ApiKeys(pool).create(Role.VIEWER)
    mqtt = {"topic_root": "cc", "protocol": "5"}  # the ACL's root
    worker = make_settings(
        database_url,
        mqtt_url=url,
        mqtt={**mqtt, "client_id": WORKER_ID},
        alerts={"publish_mqtt": True, "group_window_s": 0},
        api={"enabled": False},
    )
    port = free_port()
    replica = make_settings(
        database_url,
        mqtt_url=url,
        mqtt={**mqtt, "client_id": REPLICA_ID},
        api={"port": port, "catalog_refresh_s": 0.3},
    )
    t0 = now_ms() - MESSAGES * 1000
    messages = [
        (
            f"cc/v1/{GATEWAY}/air/a{i % SENSORS}",
            # a0 ends above the rule's threshold: the alert opens.
            reading(t0 + i * 1000, co2=2000.0 if i >= MESSAGES - SENSORS else 400.0 + i % 7),
        )
        for i in range(MESSAGES)
    ]
    stop_replica, replica_ready, stop_forger = asyncio.Event(), asyncio.Event(), asyncio.Event()
    async with running_service(worker), asyncio.TaskGroup() as tg:
        replica_task = tg.create_task(run_replica(replica, stop_replica, replica_ready))
        try:
            async with asyncio.timeout(20):
                await replica_ready.wait()
            base = f"ws://127.0.0.1:{port}/api/v1"
            async with (
                connect(f"{base}/live?key={key}") as live,
                connect(f"{base}/alerts/live?key={key}") as alerts,
            ):
                await live.send(orjson.dumps({"type": "subscribe", "site": SITE}))
                forger = tg.create_task(forge(broker, stop_forger))
                async with gateway_client(broker, GATEWAY, max_inflight_messages=100) as gw:
                    for topic, payload in messages:
                        await gw.publish(topic, payload, qos=1)

                    async def stored() -> bool:
                        return await count_readings(pool, SITE) >= MESSAGES

                    await eventually(stored, timeout=60)
                    stop_forger.set()
                    tries = await forger

                    async def opened() -> bool:
                        msg = await recv(alerts, "alert", 0.5)
                        return bool(msg) and msg["alert"]["rule_name"] == rule  # type: ignore[index]

                    await eventually(opened, timeout=20)

                    async def shown() -> bool:  # the replica's catalog learns the series
                        await gw.publish(messages[0][0], reading(now_ms(), co2=777.0), qos=1)
                        frame = await recv(live, "readings", 0.5)
                        return bool(frame) and 777.0 in frame["value"]  # type: ignore[index]

                    await eventually(shown, timeout=20)
        finally:
            stop_replica.set()
        await replica_task
    assert await count_readings(pool, SITE) >= MESSAGES
    stored_first = await pool.fetchval(
        """
        SELECT count(*) FROM readings r JOIN series se USING (series_id)
        JOIN sensors s USING (sensor_id) JOIN factories f USING (factory_id)
        JOIN sites si USING (site_id) WHERE si.code = $1 AND r.time < to_timestamp($2)
        """,
        SITE,
        (t0 + MESSAGES * 1000) / 1000,
    )
    assert stored_first == MESSAGES  # every one of the stream, once
    assert tries >= 6
    # Mosquitto logs every session it hands over; none of the service's changed hands.
    log = broker.log.read_text()
    taken = re.findall(r"Client (\S+) already connected, closing old connection", log)
    assert [c for c in taken if c.startswith("controlcenter-")] == []
    assert f"as {WORKER_ID} " in log  # the check above would see it

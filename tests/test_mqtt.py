"""mqtt.py: one decision on a broker's refusal for every client of the service.

A real Mosquitto that admits nobody (``allow_anonymous false``, no accounts) refuses every
connection with "not authorised" (MQTT 5: 0x87; MQTT 3.1.1: 5, which paho 2 reports as
0x87 too): each stage fails fast with a permanent ``BrokerError``, the pager's MQTT channel
rejects the page (no retry), and no stage retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlcenter.alerts.delivery.publisher import AlertPublisher
from controlcenter.api.live.feed import ReplicaFeed
from controlcenter.api.live.hub import LiveHub
from controlcenter.api.live.index import SeriesIndex
from controlcenter.embedded._port import free_port
from controlcenter.errors import BrokerError
from controlcenter.ingest.consumer import Consumer
from controlcenter.metrics import INGEST_RECONNECTS
from controlcenter.paging import Contact, MqttChannel, PageRejectedError
from controlcenter.paging.message import Page
from controlcenter.relay import LiveRelay
from controlcenter.store import Catalog


@pytest.fixture(scope="module")
def refusing_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Mosquitto of this machine that refuses everyone (or skip without one)."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        pytest.skip("mosquitto is not installed")
    port = free_port()
    conf = tmp_path_factory.mktemp("refusing") / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npersistence false\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            time.sleep(0.05)
        yield f"mqtt://someone:not-the-password@127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


async def _nothing(*_: object) -> None:
    return None


def _stages(settings, pool):
    catalog = Catalog(pool)
    return {
        "consumer": Consumer(settings, _nothing, _nothing),
        "alert publisher": AlertPublisher(settings),
        "live relay": LiveRelay(settings, "w1"),
        "live feed": ReplicaFeed(settings, LiveHub(settings.api, SeriesIndex(catalog)), catalog),
    }


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
@pytest.mark.parametrize("stage", ["consumer", "alert publisher", "live relay", "live feed"])
async def test_every_mqtt_stage_fails_fast_when_the_broker_refuses_its_credentials(
    database_url, refusing_broker, make_settings, pool, stage, protocol
):
    settings = make_settings(
        database_url,
        mqtt_url=refusing_broker,
        # A retry would wait this long: failing within it means no retry was made.
        mqtt={"protocol": protocol, "reconnect_initial_s": 30, "reconnect_max_s": 30},
    )
    reconnects = INGEST_RECONNECTS._value.get()
    caught: list[BaseException] = []
    try:  # the consumer's error comes out of its task group
        await asyncio.wait_for(_stages(settings, pool)[stage].run(asyncio.Event()), 10)
    except* BrokerError as group:
        caught.extend(group.exceptions)
    (error,) = caught
    assert isinstance(error, BrokerError)
    assert error.permanent
    name = "ingest" if stage == "consumer" else stage
    assert f"{name}: the broker refused us for good" in str(error)
    assert INGEST_RECONNECTS._value.get() == reconnects  # a refusal is not a lost link


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_the_pagers_mqtt_channel_rejects_a_page_the_broker_refuses(
    database_url, refusing_broker, make_settings, protocol
):
    settings = make_settings(database_url, mqtt_url=refusing_broker, mqtt={"protocol": protocol})
    page = Page("opened", "pm10", "s1", "warning", ({"alert_id": 3, "value": 9.0},), 1)
    with pytest.raises(PageRejectedError, match="refused the pager"):
        await MqttChannel(settings, 5).send(page, Contact(id=7, name="Kim", channels=("mqtt",)))

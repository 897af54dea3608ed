"""The live relay of a sharing worker: committed batches to the broker, decoded by nobody."""

from __future__ import annotations

import asyncio
import contextlib

import aiomqtt
import numpy as np

from controlcenter.domain import Batch
from controlcenter.metrics import INGEST_RELAY_DROPPED
from controlcenter.mqtt import make_client
from controlcenter.relay import LiveRelay
from controlcenter.wire import decode_batch, relay_subscription
from tests._support import eventually


async def _true(value: bool) -> bool:
    return value


async def test_the_relay_publishes_committed_batches_and_what_is_pending_at_stop(make_settings):
    settings = make_settings("postgresql://unused/none")
    relay = LiveRelay(settings, "w1")
    received: list[tuple[str, Batch]] = []
    async with make_client(settings, f"{settings.mqtt.client_id}-spy") as spy:
        await spy.subscribe(relay_subscription(settings.mqtt.topic_root))

        async def read() -> None:
            async for message in spy.messages:
                assert isinstance(message.payload, bytes)
                received.append((message.topic.value, decode_batch(message.payload)))

        reader = asyncio.create_task(read())
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        try:
            await asyncio.wait_for(relay.connected.wait(), 10)
            first = Batch.from_lists([3, 1], [20, 10], [2.0, 1.0]).deduplicated()
            await relay.offer(first)
            await relay.offer(Batch.empty())  # nothing to say: nothing sent
            await eventually(lambda: _true(relay.published >= 1), timeout=10)
            last = Batch.from_lists([7], [30], [3.0]).deduplicated()
            await relay.offer(last)
            stop.set()  # what was offered before the stop still goes out
            await asyncio.wait_for(task, 10)
            await eventually(lambda: _true(len(received) >= 2), timeout=10)
        finally:
            stop.set()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader
    assert [t for t, _ in received] == [relay.topic, relay.topic]
    assert received[0][1].series.tolist() == [1, 3]
    assert received[0][1].by_series
    assert np.array_equal(received[1][1].value, last.value)
    assert relay.published == 2


async def test_an_unreachable_broker_costs_the_oldest_batches_not_the_pipeline(make_settings):
    settings = make_settings("postgresql://unused/none", mqtt_url="mqtt://127.0.0.1:1")
    relay = LiveRelay(settings, "w2")
    before = INGEST_RELAY_DROPPED._value.get()
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        for i in range(100):  # offer never waits, connected or not
            await asyncio.wait_for(relay.offer(Batch.from_lists([i], [i], [1.0])), 0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)  # a reconnect wait ends at the stop
    assert INGEST_RELAY_DROPPED._value.get() - before == 100 - 64
    assert relay.published == 0

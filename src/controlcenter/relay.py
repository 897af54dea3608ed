"""The live relay of a worker that shares the stream: its committed batches to the broker.

With ``mqtt.shared_group`` each worker stores only its share of the stream; the live hubs
of the others (the API beside each worker) still show every reading. Rather than have
every hub subscribe to the gateways' topics and decode every payload a second time, each
worker republishes what it committed, already decoded and deduplicated, in columns
(:mod:`controlcenter.wire.relay`), and hubs read the relay: a payload is decoded once, by
the worker that stored it. A pipeline sink; runs as ``run(stop)``.

Full-queue policy: :meth:`LiveRelay.offer` never waits (the pipeline must not slow down
for live views); at most ``_MAX_PENDING`` batches wait for the broker, then the oldest is
dropped and counted (``controlcenter_ingest_relay_dropped_batches_total``). Live views lose
intermediate values only: the next reading of a series restores its latest value. QoS 0,
not retained, like the hubs' other broker feeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

import aiomqtt

from controlcenter.backoff import Backoff
from controlcenter.config import Settings
from controlcenter.domain import Batch
from controlcenter.metrics import INGEST_RELAY_DROPPED
from controlcenter.mqtt import make_client, reconnecting
from controlcenter.stage import any_set
from controlcenter.wire import encode_batch, relay_topic

__all__ = ["LiveRelay"]

logger = logging.getLogger(__name__)

_MAX_PENDING = 64


class LiveRelay:
    """Publishes committed batches on ``{root}/relay/v1/{origin}`` until stopped.

    Args:
        settings: the service settings (broker, topic root, client id).
        origin: this process's name on the relay (its own hub skips it).
    """

    def __init__(self, settings: Settings, origin: str) -> None:
        self._settings = settings
        self.origin = origin
        self.topic = relay_topic(settings.mqtt.topic_root, origin)
        self._pending: deque[Batch] = deque()
        self._wakeup = asyncio.Event()
        self.connected = asyncio.Event()
        self.published = 0  #: batches handed to the broker

    async def offer(self, batch: Batch) -> None:
        """A pipeline sink: queue ``batch`` (never waits; drops the oldest when full)."""
        if not len(batch):
            return
        if len(self._pending) >= _MAX_PENDING:
            self._pending.popleft()
            INGEST_RELAY_DROPPED.inc()
        self._pending.append(batch)
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Connect and publish until ``stop`` is set, reconnecting with capped, jittered
        backoff; what is pending when ``stop`` comes is published first (if connected)."""
        await reconnecting(self._settings, stop, lambda b: self._session(stop, b), "live relay")

    async def _session(self, stop: asyncio.Event, backoff: Backoff) -> None:
        s = self._settings
        async with make_client(s, f"{s.mqtt.client_id}-relay") as client:
            self.connected.set()
            backoff.reset()
            logger.info("live relay publishing on %s", self.topic)
            try:
                await self._publish(client, stop)
            finally:
                self.connected.clear()

    async def _publish(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        timeout = self._settings.mqtt.connect_timeout_s
        lost: asyncio.Future[None] = client._disconnected  # no public signal in aiomqtt
        lost.add_done_callback(lambda _: self._wakeup.set())
        while True:
            if lost.done():
                why = None if lost.cancelled() else lost.exception()
                raise aiomqtt.MqttError(f"live relay disconnected: {why}")
            if not self._pending:
                if stop.is_set():
                    return
                self._wakeup.clear()
                await any_set(self._wakeup, stop)
                continue
            batch = self._pending.popleft()
            async with asyncio.timeout(timeout):
                for message in encode_batch(batch):
                    await client.publish(self.topic, message, qos=0)
            self.published += 1

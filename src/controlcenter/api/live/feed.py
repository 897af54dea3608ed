"""The live hub's broker feed: replicas, and the API beside a worker that shares the stream.

Replicas are stateless: they do not consume for storage (ingest does, with its persistent
session); they listen at QoS 0 with a clean session and a unique client id, decode with
the same :class:`~controlcenter.wire.PayloadDecoder`, resolve keys through the catalog
read-only (unknown keys trigger a rate-limited reload; their readings are skipped until
then) and feed the hub every ``_FLUSH_S``. Alert transitions published by the service on
``{root}/v1/alerts/...`` go to the alert clients.

Beside a worker of a shared subscription (``relay_origin`` given) the feed decodes no
gateway payload: the worker's own share reaches the hub from its pipeline, and the other
workers' committed batches arrive already decoded on the live relay
(:mod:`controlcenter.wire.relay`; the feed skips its own ``origin``). So each payload is
decoded once per process, by the consumer that stores it. Series ids the catalog does not
know yet (another worker registered them) trigger the same reload; the hub keeps their
readings meanwhile.

Full-queue policy: aiomqtt's incoming queue is bounded (``_MAX_QUEUED``); when a replica
cannot keep up, the client drops the newest messages. Live views lose intermediate values
only: the next reading of a series restores its latest value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiomqtt
import orjson

from controlcenter.api.live.hub import LiveHub
from controlcenter.backoff import Backoff
from controlcenter.config import Settings
from controlcenter.domain import Batch, SensorKey, SeriesKey
from controlcenter.errors import PayloadError, StorageError
from controlcenter.kinds import Registry, packaged
from controlcenter.mqtt import make_client, reconnecting
from controlcenter.stage import any_set
from controlcenter.store import Catalog
from controlcenter.wire import (
    ALERTS_SEGMENT,
    PayloadDecoder,
    TopicParser,
    decode_batch,
    relay_subscription,
    relay_topic,
)

__all__ = ["ReplicaFeed"]

logger = logging.getLogger(__name__)

_FLUSH_S = 0.02
_MAX_QUEUED = 100_000
_RELOAD_MIN_S = 5.0


class ReplicaFeed:
    """Feeds a hub from the broker until stopped; ``connected`` while subscribed.

    ``relay_origin``: the live relay's name of this process (a sharing worker's); the feed
    then reads the relay and the alert transitions instead of the gateways' topics.
    """

    def __init__(
        self,
        settings: Settings,
        hub: LiveHub,
        catalog: Catalog,
        registry: Callable[[], Registry] = packaged,
        relay_origin: str | None = None,
    ) -> None:
        self._settings = settings
        self._hub = hub
        self._catalog = catalog
        # The current sensor-kind registry (the process's KindBook): kinds added at run time.
        self._parser = TopicParser(settings.mqtt.topic_root, registry)
        self._decoder = PayloadDecoder(settings.ingest, registry)
        root = settings.mqtt.topic_root
        self._alerts_prefix = f"{root}/v1/{ALERTS_SEGMENT}/"
        self.relayed = relay_origin is not None
        self._own_relay = relay_topic(root, relay_origin or "")
        if self.relayed:
            self.subscriptions = [relay_subscription(root), f"{self._alerts_prefix}#"]
        else:
            self.subscriptions = [self._parser.subscription]
        self._series: list[int] = []
        self._time: list[int] = []
        self._value: list[float] = []
        self._unknown = False
        self._reload = asyncio.Event()
        self.connected = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe and feed until ``stop``, reconnecting with capped, jittered backoff (a
        SUBACK that does not come in time is a lost link too).

        Raises:
            BrokerError: when the broker refuses us for good (credentials, client id).
        """
        await reconnecting(self._settings, stop, lambda b: self._session(stop, b), "live feed")

    async def _session(self, stop: asyncio.Event, backoff: Backoff) -> None:
        s = self._settings
        identifier = f"{s.mqtt.client_id}-api-{uuid.uuid4().hex[:8]}"
        client = make_client(s, identifier, max_queued_incoming_messages=_MAX_QUEUED)
        async with client:
            async with asyncio.timeout(s.mqtt.connect_timeout_s):
                for topic in self.subscriptions:
                    await client.subscribe(topic, qos=0)
            logger.info("live feed subscribed to %s", ", ".join(self.subscriptions))
            self.connected.set()
            backoff.reset()
            # Owned here: all three are cancelled and awaited before leaving.
            tasks = [
                asyncio.create_task(self._read(client)),
                asyncio.create_task(stop.wait()),
                asyncio.create_task(self._flush_loop()),
            ]
            try:
                await asyncio.wait(tasks[:2], return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.connected.clear()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            reader = tasks[0]
            if not reader.cancelled() and (exc := reader.exception()) is not None:
                raise exc

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            raw = payload if isinstance(payload, bytes) else str(payload).encode()
            self.handle(message.topic.value, raw)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(_FLUSH_S)
            self.flush()

    def handle(self, topic: str, raw: bytes) -> None:
        """Decode one message into the pending batch (or pass an alert on)."""
        if topic.startswith(self._alerts_prefix):
            self._alert(raw)
            return
        if self.relayed:
            if topic != self._own_relay:  # our own share came from our pipeline
                self._relay(topic, raw)
            return
        try:
            target = self._parser.parse(topic)
            if not isinstance(target, SensorKey):
                return
            decoded = self._decoder.decode(target.kind, raw, time.time_ns() // 1000)
        except PayloadError:
            return  # ingest records it as a dead letter; live feeds skip it
        except Exception:  # a decoder bug must not stop the live feed
            logger.exception("cannot decode a message on %s; skipped", topic)
            return
        id_of = self._catalog.id_of
        for metric, t, v in zip(decoded.metrics, decoded.times, decoded.values, strict=True):
            sid = id_of(SeriesKey(target, metric))
            if sid is None:
                self._unknown = True
                continue
            self._series.append(sid)
            self._time.append(t)
            self._value.append(v)

    def _relay(self, topic: str, raw: bytes) -> None:
        try:
            batch = decode_batch(raw)
        except PayloadError as exc:
            logger.warning("skipped a message on %s: %s", topic, exc)
            return
        if not len(batch):
            return
        valid = self._catalog.columns.valid
        s = batch.series
        inside = s < len(valid)
        if not (inside.all() and valid[s].all()):
            self._unknown = True  # series another worker registered: reload the catalog
        self._hub.update(batch)

    def flush(self) -> None:
        """Hand the pending readings to the hub."""
        if self._unknown:
            self._unknown = False
            self._reload.set()
        if not self._series:
            return
        batch = Batch.from_lists(self._series, self._time, self._value)
        self._series, self._time, self._value = [], [], []
        self._hub.update(batch)

    def _alert(self, raw: bytes) -> None:
        try:
            doc: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        if isinstance(doc, dict):
            self._hub.publish_alert(doc)

    async def refresh_catalog(self, stop: asyncio.Event) -> None:
        """Reload the catalog every ``api.catalog_refresh_s``, or soon after unknown keys."""
        every = self._settings.api.catalog_refresh_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await any_set(self._reload, stop)
            if stop.is_set():
                return
            self._reload.clear()
            try:
                async with asyncio.timeout(self._settings.api.query_timeout_s):
                    await self._catalog.load()
            except (StorageError, TimeoutError) as exc:  # keep serving with the cached catalog
                logger.warning("cannot reload the catalog: %s", exc)
            await asyncio.sleep(min(_RELOAD_MIN_S, every))

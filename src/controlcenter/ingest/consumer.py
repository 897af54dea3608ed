"""The MQTT consumer: subscribes to the v1 contract, decodes, batches, acknowledges late.

Acknowledgement: aiomqtt does not expose manual acks, so we switch its paho client to
manual mode (``manual_ack_set(True)``) before connecting and call paho's ``ack(mid, qos)``
only when the batch holding the message is committed (or dead-lettered). A message that
was never acknowledged is redelivered by the broker from our persistent session (fixed
client id, ``clean_start=False``, a session expiry), so a crash loses nothing and the
idempotent writer drops the duplicates.

Flow control: we send an MQTT 5 Receive Maximum, but measured Mosquitto 2.0.11 exceeds it
once acks flow (a Receive Maximum of 100 saw ~2,000 unacknowledged messages), and aiomqtt
silently discards messages when its queue is full. So aiomqtt's queue is unbounded and we
bound it ourselves, counting each message as paho hands it to aiomqtt (not when we take it
from the queue: while the writer makes us wait, paho goes on reading): when
``ingest.max_unacked_messages`` are received but not yet acked, we stop reading the socket
(TCP backpressure: the broker keeps the rest) and flush as soon as the queue is drained;
reading resumes when commits have acknowledged half of them.

A pause must never cost the connection, however long the writer or the scoring warm start
makes it (a database outage, thousands of series to warm-start after a restart): the
broker's PINGRESP and our SUBACK then wait unread behind the messages we hold back. So
while paused, paho keeps sending PINGREQs (the broker's keep-alive) but does not count the
silence against the link, and the SUBACK's timeout counts only time spent reading. A
timeout there is a reconnect, never fatal. ``connected`` follows the link itself, also
while the reader waits for the writer.

Acks from a previous connection are skipped: the broker redelivers those messages anyway.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from controlcenter.backoff import Backoff
from controlcenter.config import Settings
from controlcenter.domain import DeadLetter, GatewayStatus
from controlcenter.errors import BrokerError, PayloadError
from controlcenter.ingest import _paho
from controlcenter.ingest.batch import Batcher, IngestBatch
from controlcenter.kinds import Registry, packaged
from controlcenter.metrics import (
    INGEST_MESSAGES,
    INGEST_MQTT_CONNECTED,
    INGEST_MQTT_PAUSES,
    INGEST_MQTT_QUEUE,
    INGEST_MQTT_UNACKED,
    INGEST_RECONNECTS,
)
from controlcenter.mqtt import make_client, reconnecting
from controlcenter.wire.payload import PayloadDecoder
from controlcenter.wire.topic import StatusTopic, TopicParser

__all__ = ["Consumer"]

logger = logging.getLogger(__name__)

_STATUSES = {"online", "offline"}
_SUBACK_TICK_S = 0.1  # how often the SUBACK wait looks whether we are reading
_MSG_OK = INGEST_MESSAGES.labels("ok")
_MSG_PARTIAL = INGEST_MESSAGES.labels("partial")
_MSG_REJECTED = INGEST_MESSAGES.labels("rejected")
_MSG_STATUS = INGEST_MESSAGES.labels("status")
_MSG_IGNORED = INGEST_MESSAGES.labels("ignored")


class Consumer:
    """Consumes the broker into ``sink`` until ``stop`` is set (``run(stop)``, the stage
    protocol of :mod:`controlcenter.stage`); then drains and acknowledges.

    Args:
        settings: the service settings.
        sink: awaits room for a batch (the writer's bounded queue: backpressure).
        drained: returns once every batch handed to ``sink`` is committed and acknowledged.
        registry: the current sensor-kind registry (``KindBook.current``; default: the
            packaged kinds).
    """

    def __init__(
        self,
        settings: Settings,
        sink: Callable[[IngestBatch], Awaitable[None]],
        drained: Callable[[], Awaitable[None]],
        registry: Callable[[], Registry] = packaged,
    ) -> None:
        self._settings = settings
        self._sink = sink
        self._drained = drained
        self._parser = TopicParser(settings.mqtt.topic_root, registry)
        self._decoder = PayloadDecoder(settings.ingest, registry)
        self._batcher = Batcher()
        self._batch_size = settings.ingest.batch_size
        self._flush_interval = settings.ingest.flush_interval_s
        self._flush_lock = asyncio.Lock()
        self._batch_started = 0.0
        self._last_message = 0.0
        self._flush_idle = settings.ingest.flush_idle_s
        self._client: aiomqtt.Client | None = None
        self._generation = 0
        self._unacked = 0
        self._paused = False
        self._max_unacked = settings.ingest.max_unacked_messages
        #: Set while subscribed; for readiness checks and tests.
        self.connected = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, reconnecting with capped, jittered backoff; then
        stop intake, flush, wait for the commits, acknowledge and return.

        Raises:
            BrokerError: on a permanent refusal (credentials, authorisation, client id).
        """
        async with asyncio.TaskGroup() as tg:
            timer = tg.create_task(self._flush_timer())
            try:
                await reconnecting(
                    self._settings,
                    stop,
                    lambda backoff: self._session(stop, backoff),
                    "ingest",
                    lost=lambda _: INGEST_RECONNECTS.inc(),
                    errors=(aiomqtt.MqttError,),  # a drain that takes too long is an error
                )
            finally:
                timer.cancel()

    def _make_client(self) -> aiomqtt.Client:
        _paho.install()  # cheaper MQTT 5 property decoding (see ingest/_paho.py)
        s = self._settings
        mq = s.mqtt
        v5 = mq.protocol == "5"
        props = None
        if v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = mq.session_expiry_s
            props.ReceiveMaximum = mq.receive_maximum
        client = make_client(
            s,
            mq.client_id,
            clean_session=None if v5 else False,
            clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
            # Unbounded on purpose: aiomqtt drops on overflow. We bound it by pausing reads.
            max_queued_incoming_messages=0,
        )
        # Before connecting: a persistent session may deliver the moment CONNACK arrives.
        client._client.manual_ack_set(True)  # see the module docstring
        self._unacked = 0  # a new session: the broker redelivers what we never acked
        INGEST_MQTT_UNACKED.set(0)
        self._paused = False
        self._flow_control(client)
        return client

    def _flow_control(self, client: aiomqtt.Client) -> None:
        """Count QoS 1 messages as paho delivers them and pause the socket at the bound;
        keep the keep-alive from holding the pause against the link."""
        paho = client._client  # flow control: see the module docstring
        deliver = paho.on_message  # aiomqtt's: converts the message and queues it
        if deliver is None:
            raise BrokerError("aiomqtt set no on_message callback", permanent=True)

        def on_message(c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            deliver(c, userdata, message)
            if message.qos:
                self._unacked += 1
                INGEST_MQTT_UNACKED.inc()
                if not self._paused and self._unacked >= self._max_unacked:
                    self._pause(client)

        paho.on_message = on_message
        loop_misc = paho.loop_misc  # aiomqtt calls it every second; it checks the keep-alive

        def misc() -> MQTTErrorCode:
            if self._paused:
                # Not reading on purpose: the PINGRESP waits unread behind what we hold
                # back, so paho must not count our silence against the link. It still sends
                # PINGREQs, which keep the broker's side of the keep-alive.
                paho._last_bytes_received = mqtt.time_func()  # paho's keep-alive clock
            return loop_misc()

        paho.loop_misc = misc  # type: ignore[method-assign]

    async def _session(self, stop: asyncio.Event, backoff: Backoff) -> None:
        client = self._make_client()
        async with client:
            self._client = client
            self._generation += 1
            topic = self._parser.subscription
            if self._settings.mqtt.shared_group:
                topic = f"$share/{self._settings.mqtt.shared_group}/{topic}"
            # Read before subscribing: a resumed session delivers its backlog right after
            # CONNACK, and once max_unacked of it arrive we stop reading the socket; the
            # SUBACK queued behind it would then never be read unless batches (and their
            # acks) flow meanwhile.
            reader = asyncio.create_task(self._read(client))
            try:
                await self._subscribe(client, topic, reader)
            except BaseException:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                raise
            logger.info("subscribed to %s (generation %d)", topic, self._generation)
            INGEST_MQTT_CONNECTED.set(1)
            self.connected.set()
            # The reader may be waiting for the writer when the link drops: say so at once.
            client._disconnected.add_done_callback(self._link_lost)
            backoff.reset()
            try:
                await self._consume_until_stopped(stop, reader)
                # Stop requested: hand over what we hold and wait for its commit, so the
                # acks go out on this connection before we leave it.
                await self._flush()
                async with asyncio.timeout(self._settings.ingest.shutdown_timeout_s):
                    await self._drained()
            finally:
                self.connected.clear()
                INGEST_MQTT_CONNECTED.set(0)
                self._client = None
        logger.info("disconnected from the broker")

    async def _subscribe(
        self, client: aiomqtt.Client, topic: str, reader: asyncio.Task[None]
    ) -> None:
        """Subscribe, waiting for the SUBACK as long as it takes while we hold the socket
        back, and up to ``mqtt.connect_timeout_s`` of reading otherwise.

        Raises:
            aiomqtt.MqttError: no SUBACK in time, or the link dropped (a reconnect).
        """
        loop = asyncio.get_running_loop()
        limit = self._settings.mqtt.connect_timeout_s
        suback = asyncio.ensure_future(client.subscribe(topic, qos=1, timeout=math.inf))
        reading_s = 0.0
        try:
            while not suback.done():
                started, paused = loop.time(), self._paused
                await asyncio.wait({suback, reader}, timeout=_SUBACK_TICK_S)
                if reader.done():
                    reader.result()  # the link dropped (raises), or the reader ended
                    raise aiomqtt.MqttError("the reader stopped before the SUBACK")
                if not (paused or self._paused):
                    reading_s += loop.time() - started
                if reading_s > limit and not suback.done():
                    raise aiomqtt.MqttError(f"no SUBACK after {reading_s:.1f} s of reading")
            suback.result()
        finally:
            suback.cancel()
            await asyncio.gather(suback, return_exceptions=True)

    def _link_lost(self, _: object) -> None:
        self.connected.clear()
        INGEST_MQTT_CONNECTED.set(0)

    async def _consume_until_stopped(self, stop: asyncio.Event, reader: asyncio.Task[None]) -> None:
        # Owned here: both tasks are cancelled and awaited before this returns.
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, stopper):
                task.cancel()
            await asyncio.gather(reader, stopper, return_exceptions=True)
        if not reader.cancelled() and (exc := reader.exception()) is not None:
            # Connection lost: still hand over what we hold (its acks will be skipped).
            await self._flush()
            raise exc

    async def _read(self, client: aiomqtt.Client) -> None:
        loop = asyncio.get_running_loop()
        batcher = self._batcher
        async for message in client.messages:
            now = loop.time()
            if batcher.messages == 0:
                self._batch_started = now
            self._last_message = now
            self._handle(message)
            if (
                # Paused with nothing left queued: hand over what we hold so acks can flow.
                (self._paused and not len(client.messages))
                or batcher.readings >= self._batch_size
                or batcher.messages >= self._batch_size
            ):
                INGEST_MQTT_QUEUE.set(len(client.messages))
                await self._flush()

    def _handle(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload
        raw = payload if isinstance(payload, bytes) else str(payload).encode()
        batcher = self._batcher
        try:
            target = self._parser.parse(topic)
            if target is None:
                _MSG_IGNORED.inc()
            elif isinstance(target, StatusTopic):
                self._status(target, raw)
            else:
                decoded = self._decoder.decode(target.kind, raw, time.time_ns() // 1000)
                batcher.add(target, decoded, topic, raw)
                if decoded.rejects:
                    _MSG_PARTIAL.inc()
                    batcher.add_dead(
                        _partial_letter(topic, raw, decoded.rejects, len(decoded.values))
                    )
                else:
                    _MSG_OK.inc()
        except PayloadError as exc:
            _MSG_REJECTED.inc()
            logger.debug("rejected message on %s: %s", topic, exc)
            batcher.add_dead(
                DeadLetter(
                    topic, raw[: self._settings.ingest.max_payload_bytes], exc.reason, exc.detail
                )
            )
        except Exception as exc:  # a decoder bug must not stop ingest
            # Redelivered after every restart, such a message would stop the service for
            # good: keep it as a dead letter and go on (and log the bug).
            _MSG_REJECTED.inc()
            logger.exception("cannot decode a message on %s; kept as a dead letter", topic)
            limit = self._settings.ingest.max_payload_bytes
            detail = f"{type(exc).__name__}: {str(exc)[:200]}"
            batcher.add_dead(DeadLetter(topic, raw[:limit], "internal_error", detail))
        batcher.add_ack(message.mid, message.qos)

    def _status(self, target: StatusTopic, raw: bytes) -> None:
        status = raw.decode("utf-8", "replace").strip().lower()
        if status not in _STATUSES:
            raise PayloadError("bad_status", f"{status[:40]!r} is not online or offline")
        _MSG_STATUS.inc()
        self._batcher.add_status(
            GatewayStatus(target.site, target.factory, status, time.time_ns() // 1000)
        )
        logger.info("gateway %s/%s is %s", target.site, target.factory, status)

    async def _flush(self) -> None:
        # The lock keeps batches in arrival order: MQTT wants acks in that order too.
        async with self._flush_lock:
            if self._batcher.messages == 0:
                return
            batch = self._batcher.take(self._make_ack)
            await self._sink(batch)

    async def _flush_timer(self) -> None:
        # A batch goes at flush_interval_s of age, or as soon as the stream pauses for
        # flush_idle_s (a gateway's burst is over): low latency for bursty or light
        # traffic, full batches under a steady flood.
        loop = asyncio.get_running_loop()
        idle = self._flush_idle
        tick = min(self._flush_interval / 4, idle / 2) if idle > 0 else self._flush_interval / 4
        while True:
            await asyncio.sleep(tick)
            if not self._batcher.messages:
                continue
            now = loop.time()
            if now - self._batch_started >= self._flush_interval or (
                idle > 0 and now - self._last_message >= idle
            ):
                await self._flush()

    def _make_ack(self, acks: list[tuple[int, int]]) -> Callable[[], None]:
        generation, client = self._generation, self._client

        def ack() -> None:
            if client is None or generation != self._generation or client is not self._client:
                return  # that connection is gone; the broker redelivers, the writer dedups
            paho = client._client  # manual acks: see the module docstring
            for mid, qos in acks:
                paho.ack(mid, qos)
            self._unacked -= len(acks)
            INGEST_MQTT_UNACKED.dec(len(acks))
            if self._paused and self._unacked <= self._max_unacked // 2:
                self._resume(client)

        return ack

    def _pause(self, client: aiomqtt.Client) -> None:
        sock = client._client.socket()  # see the module docstring: flow control
        if sock is None:
            return
        asyncio.get_running_loop().remove_reader(sock.fileno())
        self._paused = True
        INGEST_MQTT_PAUSES.inc()
        logger.debug("paused reading: %d messages unacknowledged", self._unacked)

    def _resume(self, client: aiomqtt.Client) -> None:
        self._paused = False
        paho = client._client
        sock = paho.socket()
        if sock is None:
            return
        # The same callback aiomqtt registers when the socket opens.
        asyncio.get_running_loop().add_reader(sock.fileno(), paho.loop_read)
        logger.debug("resumed reading: %d messages unacknowledged", self._unacked)


def _partial_letter(
    topic: str, raw: bytes, rejects: list[tuple[str, str]], kept: int
) -> DeadLetter:
    reason, detail = rejects[0]
    more = f" (+{len(rejects) - 1} more)" if len(rejects) > 1 else ""
    return DeadLetter(topic, raw, reason, f"{detail}{more}; {kept} values kept")

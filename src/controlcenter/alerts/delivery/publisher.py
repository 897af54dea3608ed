"""MQTT delivery: every transition as JSON on ``{root}/v1/alerts/{site}/{factory}/{rule}``.

QoS 1 (``alerts.mqtt_qos``), not retained. A grouped notification uses ``_site`` for the
factory level. The publisher has its own client (not the ingest consumer's) and its own
bounded queue; full-queue policy: drop the oldest and count it (crews' devices can always
read the current state over REST). Connection losses are retried with capped, jittered
backoff; the notification being published when the link dropped is retried first.

Shutdown (``run(stop)``): once ``stop`` is set the publisher publishes what is queued, for
at most ``alerts.shutdown_timeout_s``, then leaves the broker; what it could not publish by
then (the link down, the time up) is counted as dropped and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

import aiomqtt

from controlcenter.alerts.delivery.notify import Notification
from controlcenter.backoff import Backoff
from controlcenter.config import Settings
from controlcenter.metrics import ALERTS_DELIVERIES, ALERTS_DROPPED
from controlcenter.mqtt import make_client, reconnecting
from controlcenter.stage import any_set

__all__ = ["AlertPublisher", "alert_topic"]

logger = logging.getLogger(__name__)


def alert_topic(root: str, note: Notification) -> str:
    """The topic of ``note``.

    >>> alert_topic("cc", Notification("opened", "namdong", "f7", "pm10-grade", "warning", {}))
    'cc/v1/alerts/namdong/f7/pm10-grade'
    """
    return f"{root}/v1/alerts/{note.site}/{note.factory or '_site'}/{note.rule}"


class AlertPublisher:
    """Publishes notifications to the broker from a bounded queue; ``run(stop)``.

    Once ``stop`` is set it publishes what is queued, leaves the broker gracefully and
    returns (the service sets it rather than cancelling: aiomqtt's exit path can turn a
    cancellation into an MqttError).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._queue: deque[Notification] = deque()
        self._max = settings.alerts.queue_max_notifications
        self._wakeup = asyncio.Event()
        self.connected = asyncio.Event()
        self.published = 0

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, note: Notification) -> None:
        """Queue ``note`` (never blocks; drops the oldest when full)."""
        if len(self._queue) >= self._max:
            self._queue.popleft()
            ALERTS_DROPPED.labels("mqtt").inc()
        self._queue.append(note)
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, publish, reconnect, until ``stop`` is set.

        Raises:
            BrokerError: when the broker refuses our credentials for good.
        """
        await reconnecting(
            self._settings, stop, lambda b: self._session(stop, b), "alert publisher"
        )
        if self._queue:
            ALERTS_DROPPED.labels("mqtt").inc(len(self._queue))
            logger.warning("alert publisher: %d notification(s) not published", len(self._queue))
            self._queue.clear()

    def _check(self, lost: asyncio.Future[None]) -> None:
        """Raise MqttError if the link is lost (and retrieve the future's exception)."""
        if lost.done():
            exc = None if lost.cancelled() else lost.exception()
            raise aiomqtt.MqttError(f"alert publisher disconnected: {exc}")

    def _client(self) -> aiomqtt.Client:
        return make_client(self._settings, f"{self._settings.mqtt.client_id}-alerts")

    async def _session(self, stop: asyncio.Event, backoff: Backoff) -> None:
        async with self._client() as client:
            self.connected.set()
            backoff.reset()
            logger.info("alert publisher connected")
            try:
                await self._publish(client, stop)
            finally:
                self.connected.clear()

    async def _publish(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        root = self._settings.mqtt.topic_root
        a = self._settings.alerts
        # aiomqtt has no public signal for a lost link; its own message iterator waits
        # on this future too. Waiting on it while idle notices the loss at once (and
        # retrieves its exception, which aiomqtt's __aexit__ leaves unretrieved).
        lost: asyncio.Future[None] = client._disconnected
        lost.add_done_callback(lambda _: self._wakeup.set())
        deadline: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            self._check(lost)
            if stop.is_set():
                if not self._queue:
                    return
                if deadline is None:
                    deadline = loop.time() + a.shutdown_timeout_s
                elif loop.time() >= deadline:
                    return
            elif not self._queue:
                self._wakeup.clear()
                await any_set(self._wakeup, stop)
                continue
            note = self._queue[0]
            limit = loop.time() + a.mqtt_timeout_s
            async with asyncio.timeout_at(limit if deadline is None else min(limit, deadline)):
                await client.publish(alert_topic(root, note), note.encoded(), qos=a.mqtt_qos)
            # Removed only once the broker has it: a lost link retries it first.
            with contextlib.suppress(IndexError):
                if self._queue[0] is note:
                    self._queue.popleft()
            self.published += 1
            ALERTS_DELIVERIES.labels("mqtt", "ok").inc()

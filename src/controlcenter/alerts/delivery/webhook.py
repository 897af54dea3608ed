"""Webhook delivery: JSON POSTs that Slack/Teams-style incoming webhooks accept.

Each endpoint has its own worker and bounded queue. Full-queue policy: the oldest waiting
notification is dropped, counted and recorded as a dead letter (nothing disappears without
a trace). A delivery is retried with capped, jittered backoff on network errors, timeouts,
408/429 and 5xx; after ``webhook_max_attempts`` (or at once on another 4xx) it becomes a
dead letter in ``alert_dead_letters``. A dead receiver only ever delays its own queue.

Shutdown (``run(stop)``): once ``stop`` is set the notifier delivers what is queued, with
retries, for at most ``alerts.shutdown_timeout_s``; what is then still queued or being
retried becomes a dead letter too ("shutdown before delivery").
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from controlcenter.alerts.delivery.notify import Notification
from controlcenter.backoff import Backoff
from controlcenter.config import AlertSettings
from controlcenter.errors import AlertDeliveryError
from controlcenter.metrics import ALERTS_DEAD_LETTERS, ALERTS_DELIVERIES, ALERTS_DROPPED
from controlcenter.stage import any_set, sleep_or_stop

__all__ = ["DeadLetterSink", "WebhookNotifier"]

logger = logging.getLogger(__name__)

#: Records an undeliverable notification: (channel, target, payload, attempts, error).
DeadLetterSink = Callable[[str, str, dict[str, Any], int, str], Awaitable[None]]

_RETRY_STATUS = {408, 425, 429}


class _RejectedError(AlertDeliveryError):
    """The receiver refused the notification for good (a 4xx other than 408/425/429)."""


class WebhookNotifier:
    """Delivers notifications to one URL from its own bounded queue; ``run(stop)``."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        settings: AlertSettings,
        dead_letter: DeadLetterSink,
        *,
        min_severity: int = 0,
    ) -> None:
        self.url = url
        self._client = client
        self._settings = settings
        self._dead_letter = dead_letter
        self.min_severity = min_severity
        self._queue: deque[Notification] = deque()
        self._overflow: deque[Notification] = deque(maxlen=settings.queue_max_notifications)
        self._wakeup = asyncio.Event()
        self._deadline: float | None = None  # loop time: the end of the shutdown budget
        self.delivered = 0
        self.dead = 0

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, note: Notification) -> None:
        """Queue ``note`` (never blocks; see the module docstring for a full queue)."""
        if len(self._queue) >= self._settings.queue_max_notifications:
            self._overflow.append(self._queue.popleft())
            ALERTS_DROPPED.labels("webhook").inc()
        self._queue.append(note)
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then what is queued; return when none is left.

        Once ``stop`` is set, deliveries (retries included) have ``shutdown_timeout_s``;
        what is still queued or being retried then is dead-lettered with the reason, so a
        shutdown loses no notification without a trace.
        """
        while True:
            while self._overflow:
                note = self._overflow.popleft()
                await self._bury(note, 0, "queue full: dropped before delivery")
            if not self._queue:
                if stop.is_set():
                    return
                self._wakeup.clear()
                await any_set(self._wakeup, stop)
                continue
            await self._deliver(self._queue.popleft(), stop)

    def _out_of_time(self, stop: asyncio.Event, delay: float = 0.0) -> bool:
        """Whether ``delay`` from now ends past the shutdown budget (which starts at the
        first call after ``stop``; before it, never)."""
        if not stop.is_set():
            return False
        now = asyncio.get_running_loop().time()
        if self._deadline is None:
            self._deadline = now + self._settings.shutdown_timeout_s
        return now + delay >= self._deadline

    async def _deliver(self, note: Notification, stop: asyncio.Event) -> None:
        s = self._settings
        backoff = Backoff(s.retry_initial_s, s.retry_max_s)
        error = ""
        for attempt in range(1, s.webhook_max_attempts + 1):
            if self._out_of_time(stop):
                await self._bury(note, attempt - 1, f"shutdown before delivery {error}".strip())
                return
            try:
                await self._post(note)
            except _RejectedError as exc:
                await self._bury(note, attempt, str(exc))
                return
            except AlertDeliveryError as exc:
                error = str(exc)
                ALERTS_DELIVERIES.labels("webhook", "retry").inc()
                if attempt < s.webhook_max_attempts:
                    delay = backoff.next()
                    logger.debug("webhook %s failed (%s); retry in %.2f s", self.url, exc, delay)
                    await self._pause(delay, stop)
                continue
            ALERTS_DELIVERIES.labels("webhook", "ok").inc()
            self.delivered += 1
            return
        await self._bury(note, s.webhook_max_attempts, error)

    async def _pause(self, delay: float, stop: asyncio.Event) -> None:
        """The retry delay; once ``stop`` is set, only while it fits the shutdown budget
        (a stop during the delay ends it: the retry comes at once)."""
        if not stop.is_set():
            await sleep_or_stop(stop, delay)
        elif not self._out_of_time(stop, delay):
            await asyncio.sleep(delay)

    async def _post(self, note: Notification) -> None:
        body = note.encoded()
        try:
            async with asyncio.timeout(self._settings.webhook_timeout_s):
                resp = await self._client.post(
                    self.url, content=body, headers={"content-type": "application/json"}
                )
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            raise AlertDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code < 300:
            return
        if resp.status_code >= 500 or resp.status_code in _RETRY_STATUS:
            raise AlertDeliveryError(f"HTTP {resp.status_code}")
        raise _RejectedError(f"HTTP {resp.status_code}")

    async def _bury(self, note: Notification, attempts: int, error: str) -> None:
        ALERTS_DELIVERIES.labels("webhook", "failed").inc()
        ALERTS_DEAD_LETTERS.labels("webhook").inc()
        self.dead += 1
        logger.warning("webhook %s: notification dead-lettered (%s)", self.url, error)
        try:
            await self._dead_letter("webhook", self.url, note.payload, attempts, error)
        except Exception:
            # The database is down too: the log line above is the last trace.
            logger.exception("cannot record the webhook dead letter")

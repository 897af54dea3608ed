"""The one place that builds MQTT clients (as aiomqtt keeps its paho wiring in one module).

Every client of the service (ingest's consumer, the live relay, the API's broker feed,
the alert publisher) connects to the same broker with the same endpoint, credentials, TLS,
protocol, keep-alive and connect timeout, from ``settings.mqtt``; each adds only its own
options (session, queue bound). Each runs its sessions in the one reconnect loop,
:func:`reconnecting` (capped, jittered backoff; waits end when ``stop`` is set).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt

from controlcenter.backoff import Backoff
from controlcenter.config import Settings
from controlcenter.stage import sleep_or_stop

__all__ = ["make_client", "reconnecting"]

logger = logging.getLogger(__name__)


def _go_on(exc: Exception) -> None:
    """The default of :func:`reconnecting`'s ``lost``: every loss is worth a retry."""


def make_client(settings: Settings, identifier: str, **options: Any) -> aiomqtt.Client:
    """A client for the broker of ``settings``, as ``identifier``; ``options`` are passed
    to :class:`aiomqtt.Client` (e.g. ``max_queued_incoming_messages``)."""
    mq = settings.mqtt
    ep = settings.mqtt_endpoint()
    v5 = mq.protocol == "5"
    return aiomqtt.Client(
        ep.host,
        ep.port,
        username=ep.username,
        password=ep.password,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
        keepalive=mq.keepalive_s,
        timeout=mq.connect_timeout_s,
        tls_params=aiomqtt.TLSParameters() if ep.tls else None,
        **options,
    )


async def reconnecting(
    settings: Settings,
    stop: asyncio.Event,
    session: Callable[[Backoff], Awaitable[None]],
    what: str,
    *,
    lost: Callable[[Exception], None] = _go_on,
    errors: tuple[type[Exception], ...] = (aiomqtt.MqttError, TimeoutError),
) -> None:
    """Run ``session(backoff)`` until ``stop`` is set, again after every lost link.

    A session returns once ``stop`` is set, or raises one of ``errors`` when the link is
    lost (it resets ``backoff`` once connected). Then, unless ``stop`` is set meanwhile
    (the loop ends quietly), ``lost`` sees the error first (it may raise instead, e.g. for
    a permanent refusal) and the loop waits ``backoff.next()`` (less if ``stop`` comes).
    A cancellation that aiomqtt's exit turned into an ``MqttError`` is re-raised as such.
    """
    mq = settings.mqtt
    backoff = Backoff(mq.reconnect_initial_s, mq.reconnect_max_s)
    while not stop.is_set():
        try:
            await session(backoff)
        except errors as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from exc  # never swallow a cancellation
            if stop.is_set():
                return
            lost(exc)
            delay = backoff.next()
            logger.warning("%s lost the broker (%s); retrying in %.1f s", what, exc, delay)
            await sleep_or_stop(stop, delay)

"""The one place that builds MQTT clients (as aiomqtt keeps its paho wiring in one module).

Every client of the service (ingest's consumer, the live relay, the API's broker feed,
the alert publisher) connects to the same broker with the same endpoint, credentials, TLS,
protocol, keep-alive and connect timeout, from ``settings.mqtt``; each adds only its own
options (session, queue bound). Each runs its sessions in the one reconnect loop,
:func:`reconnecting` (capped, jittered backoff; waits end when ``stop`` is set).

A broker's refusal is permanent when no retry can fix it (:data:`PERMANENT_REFUSALS`: the
protocol version, the client id, the credentials, the authorisation, the authentication
method: configuration), and every client treats it alike (:func:`refusal`): the reconnect
loop raises :class:`~controlcenter.errors.BrokerError` (``permanent``) at once, the pager's
MQTT channel records the page as rejected. Every other loss (a TCP connection refused, a
timeout, a server unavailable or busy, a quota) is transient: retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.reasoncodes import ReasonCode

from controlcenter.backoff import Backoff
from controlcenter.config import Settings
from controlcenter.errors import BrokerError
from controlcenter.stage import sleep_or_stop

__all__ = ["PERMANENT_REFUSALS", "make_client", "reconnecting", "refusal"]

logger = logging.getLogger(__name__)

#: CONNACK codes that no retry fixes. MQTT 3.1.1's return codes: 1 unacceptable protocol
#: version, 2 identifier rejected, 4 bad user name or password, 5 not authorised; MQTT 5's
#: reason codes: 0x84 unsupported protocol version, 0x85 client identifier not valid, 0x86
#: bad user name or password, 0x87 not authorised, 0x8C bad authentication method. (paho 2
#: reports a 3.1.1 refusal by its MQTT 5 reason code: 5 arrives as 0x87.)
PERMANENT_REFUSALS = frozenset({1, 2, 4, 5, 0x84, 0x85, 0x86, 0x87, 0x8C})


def refusal(exc: BaseException) -> int | None:
    """The CONNACK code of ``exc`` when it is a permanent refusal by the broker, else None.

    >>> from paho.mqtt.packettypes import PacketTypes
    >>> from paho.mqtt.reasoncodes import ReasonCode
    >>> refusal(aiomqtt.MqttCodeError(ReasonCode(PacketTypes.CONNACK, "Not authorized")))
    >>> refusal(MqttConnectError(ReasonCode(PacketTypes.CONNACK, "Not authorized")))
    135
    >>> refusal(MqttConnectError(5))
    5
    >>> refusal(MqttConnectError(ReasonCode(PacketTypes.CONNACK, "Server busy")))
    """
    if not isinstance(exc, MqttConnectError):
        return None  # only a CONNACK refuses; other codes are a lost link's
    code = exc.rc.value if isinstance(exc.rc, ReasonCode) else exc.rc
    return code if isinstance(code, int) and code in PERMANENT_REFUSALS else None


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
    (the loop ends quietly), a permanent refusal (:func:`refusal`) ends the loop with
    :class:`~controlcenter.errors.BrokerError`; any other loss goes to ``lost`` (e.g. to
    count it) and the loop waits ``backoff.next()`` (less if ``stop`` comes).
    A cancellation that aiomqtt's exit turned into an ``MqttError`` is re-raised as such.

    Raises:
        BrokerError: ``permanent``, when the broker refused ``what`` for good.
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
            if refusal(exc) is not None:
                raise BrokerError(
                    f"{what}: the broker refused us for good: {exc}", permanent=True
                ) from exc
            lost(exc)
            delay = backoff.next()
            logger.warning("%s lost the broker (%s); retrying in %.1f s", what, exc, delay)
            await sleep_or_stop(stop, delay)

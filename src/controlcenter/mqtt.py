"""The one place that builds MQTT clients (as aiomqtt keeps its paho wiring in one module).

Every client of the service (ingest's consumer, the live relay, the API's broker feed,
the alert publisher) connects to the same broker with the same endpoint, credentials, TLS,
protocol, keep-alive and connect timeout, from ``settings.mqtt``; each adds only its own
options (session, queue bound). Each owner keeps its reconnect loop, backing off with
:class:`controlcenter.backoff.Backoff` and waiting with :func:`controlcenter.stage.sleep_or_stop`.
"""

from __future__ import annotations

from typing import Any

import aiomqtt

from controlcenter.config import Settings

__all__ = ["make_client"]


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

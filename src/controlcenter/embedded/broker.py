"""An embedded MQTT broker: amqtt, in-process, on the loopback interface.

What amqtt 0.12 gives us, measured (see README-notes.md): MQTT 3.1.1 only (an MQTT 5
CONNECT is refused), persistent sessions that queue QoS 1 messages while the client is
offline if and only if it logged in with a username, retained messages and wills. It does
not redeliver a QoS 1 message that was sent but not acknowledged: after a reconnect, or 5 s
without PUBACK, the message is gone. It has no in-flight window either (all pending
messages are sent at once), and sessions live in memory only (lost when the broker stops).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from amqtt.broker import Broker
from amqtt.errors import AMQTTError, PluginError, PluginLoadError
from amqtt.errors import BrokerError as AmqttBrokerError

from controlcenter.embedded._port import LOOPBACK, free_port
from controlcenter.errors import BrokerError

__all__ = ["BROKER_USERNAME", "embedded_broker"]

logger = logging.getLogger(__name__)

BROKER_USERNAME = "controlcenter"
LOGIN_FILE = "broker-password"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
# Tries with a fresh free port when the one we picked was taken before we bound it.
PORT_ATTEMPTS = 3
# amqtt keeps an offline session (and its queued messages) this long after the disconnect.
SESSION_EXPIRY_S = 24 * 3600
# amqtt's exceptions share no base class.
_AMQTT_ERRORS = (AMQTTError, AmqttBrokerError, PluginError, PluginLoadError)
_AUTH_PLUGIN = "controlcenter.embedded._auth.PasswordAuthPlugin"


@asynccontextmanager
async def embedded_broker(
    data_dir: Path, *, port: int | None = None, allow_anonymous: bool = True
) -> AsyncIterator[str]:
    """Run an amqtt broker in this event loop for the duration of the block.

    Clients log in as ``controlcenter`` with the password kept in
    ``data_dir/broker-password`` (created on first use, mode 0600). Use MQTT 3.1.1, and
    log in with the username for a persistent session: amqtt drops messages queued for
    an anonymous offline session.

    Args:
        data_dir: directory for the password file (created if missing).
        port: TCP port on 127.0.0.1; a free one when ``None``.
        allow_anonymous: also accept clients that send no username (simulators).

    Yields:
        ``mqtt://controlcenter:PASSWORD@127.0.0.1:PORT``.

    Raises:
        BrokerError: the broker could not start (port taken, bad config) in time.

    Example::

        async with embedded_broker(Path("data/mqtt")) as url:
            ...  # aiomqtt.Client(host, port, username=..., password=..., protocol=V311)
    """
    password = await asyncio.to_thread(_password, data_dir)
    broker, port = await _start(password, port, allow_anonymous=allow_anonymous)
    logger.info("embedded MQTT broker listening on %s:%d", LOOPBACK, port)
    try:
        yield f"mqtt://{BROKER_USERNAME}:{password}@{LOOPBACK}:{port}"
    finally:
        logger.info("stopping embedded MQTT broker")
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await broker.shutdown()
        except TimeoutError:
            logger.warning("embedded MQTT broker did not stop within %.0f s", STOP_TIMEOUT_S)
        else:
            logger.info("embedded MQTT broker stopped")


async def _start(password: str, port: int | None, *, allow_anonymous: bool) -> tuple[Any, int]:
    """Start the broker; retry a free port taken meanwhile. Returns amqtt's Broker, port."""
    attempts = 1 if port else PORT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        chosen = port or free_port()
        try:
            broker = Broker(_config(chosen, password, allow_anonymous=allow_anonymous))
            async with asyncio.timeout(START_TIMEOUT_S):
                await broker.start()
        except (*_AMQTT_ERRORS, OSError, TimeoutError) as exc:
            if attempt < attempts and "address already in use" in str(exc):
                logger.warning("port %d was taken meanwhile; trying another", chosen)
                continue
            raise BrokerError(
                f"embedded MQTT broker did not start on port {chosen}: {exc!r}"
            ) from exc
        return broker, chosen
    raise AssertionError("unreachable: the last attempt returns or raises")


def _config(port: int, password: str, *, allow_anonymous: bool) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{port}"}},
        "session_expiry_interval": SESSION_EXPIRY_S,
        # Only our auth plugin: no $SYS publisher, no per-packet logging.
        "plugins": {
            _AUTH_PLUGIN: {
                "username": BROKER_USERNAME,
                "password": password,
                "allow_anonymous": allow_anonymous,
            },
        },
    }


def _password(data_dir: Path) -> str:
    """Read the broker password from ``data_dir``, creating it on first use. Blocking."""
    path = data_dir / LOGIN_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    password = secrets.token_urlsafe(18)  # URL-safe: goes into the userinfo as is
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    logger.info("created the embedded broker password in %s", path)
    return password

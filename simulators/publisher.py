"""MQTT connections of simulated gateways (paho-mqtt, driven from the publishing thread).

Dedicated mode (``links=0``): one connection per factory gateway with its last will
``offline`` (retained, QoS 1) on ``{root}/v1/{site}/{factory}/status``; taking a gateway
offline closes its TCP socket without DISCONNECT, so the broker itself publishes the will.
Pooled mode (``links=N``): factories share N connections (thousands of gateways on one
machine); a connection has only one will, so gateway_offline is emulated by publishing the
retained ``offline`` status the will would have published.

Backpressure: each connection keeps at most ``window`` messages unacknowledged (QoS 1) or
unwritten (QoS 0) and waits for the oldest before publishing more, so a slow broker slows the
simulator instead of growing memory.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import socket
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulators.payload import Message, status_topic

__all__ = ["GatewayPool", "Link", "LinkError"]

logger = logging.getLogger(__name__)
ONLINE, OFFLINE = b"online", b"offline"


class LinkError(ConnectionError):
    """A connection to the broker could not be made or was refused."""


def broker_address(url: str) -> tuple[str, int, str | None, str | None]:
    """``(host, port, username, password)`` of ``mqtt://[user:password@]host[:port]``."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp", ""):
        raise LinkError(f"unsupported broker URL scheme {parts.scheme!r} (use mqtt://host:port)")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname or "127.0.0.1", parts.port or 1883, user, password


class Link:
    """One MQTT connection, driven from the publishing thread (no paho network thread).

    paho writes a message inline when it is published, and ``service`` reads
    acknowledgements and sends keepalives. Keeping every socket in one thread avoids handing
    each message to a network thread, which on CPython costs more than encoding it.

    Args:
        url: Broker URL ``mqtt://host:port``.
        client_id: MQTT client id.
        will_topic: Topic of the last will (``offline``, retained, QoS 1), or None.
        window: Messages in flight before ``publish`` waits.
        timeout_s: Connect and publish-wait timeout.
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        will_topic: str | None = None,
        window: int = 1000,
        timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port, username, password = broker_address(url)
        self.client_id = client_id
        self.window = window
        self.timeout_s = timeout_s
        self.lost = 0
        self.dropped = False
        self._connected = False
        self._refused: str | None = None
        self._pending: deque[mqtt.MQTTMessageInfo] = deque()
        self._last_misc = 0.0
        self._will_topic = will_topic
        self._connects = 0
        self._resuming = False
        self._backoff_s = 0.0
        self._retry_at = 0.0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            self.client.username_pw_set(username, password)
        if will_topic is not None:
            self.client.will_set(will_topic, OFFLINE, qos=1, retain=True)
        self.client.max_inflight_messages_set(max(20, window))
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if rc.is_failure:
            self._refused = str(rc)
            return
        self._connected = True
        self._connects += 1
        self._backoff_s = 0.0
        if self._will_topic is not None and self._connects > 1 and not self._resuming:
            # Back after an unplanned loss: the broker has published our will, undo it.
            client.publish(self._will_topic, ONLINE, qos=1, retain=True)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        self._connected = False
        if rc.is_failure and not self.dropped:
            logger.warning("connection %s lost: %s", self.client_id, rc)

    def socket(self) -> socket.socket | None:
        """The TCP socket, or None while not connected."""
        sock = self.client.socket()
        return sock if isinstance(sock, socket.socket) else None

    def start(self) -> None:
        """Open the TCP connection and send CONNECT (see ``wait_connected``)."""
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise LinkError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc

    def wait_connected(self) -> None:
        """Service the socket until CONNACK; raise LinkError on refusal or timeout."""
        deadline = time.monotonic() + self.timeout_s
        while not self._connected and self._refused is None:
            if time.monotonic() > deadline:
                raise LinkError(f"no CONNACK from {self.host}:{self.port} in time")
            self.service(0.05)
        if self._refused is not None:
            raise LinkError(f"broker refused {self.client_id}: {self._refused}")

    def service(self, timeout: float = 0.0) -> None:
        """Read what arrived, write what is queued, keep the connection alive."""
        if self.dropped:
            return
        sock = self.socket()
        if sock is None:
            self._reconnect()
            time.sleep(timeout)
            return
        want = [sock] if self.client.want_write() else []
        try:
            readable, writable, _ = select.select([sock], want, [], timeout)
        except (OSError, ValueError):
            self._reconnect()
            return
        rc = mqtt.MQTT_ERR_SUCCESS
        if readable:
            rc = self.client.loop_read(max_packets=1000)
        if writable and rc == mqtt.MQTT_ERR_SUCCESS:
            rc = self.client.loop_write()
        now = time.monotonic()
        if now - self._last_misc > 1.0:
            self._last_misc = now
            rc = rc or self.client.loop_misc()
        if rc != mqtt.MQTT_ERR_SUCCESS:
            self._reconnect()

    def _reconnect(self) -> None:
        """A lost connection: try again when the backoff allows (exponential, jittered)."""
        if self.dropped:
            return
        self._connected = False
        now = time.monotonic()
        if now < self._retry_at:
            return
        self._backoff_s = min(self._backoff_s * 2, 5.0) if self._backoff_s else 0.1
        self._retry_at = now + self._backoff_s * random.uniform(0.5, 1.0)  # noqa: S311 -- jitter
        try:
            self.client.reconnect()
        except OSError as exc:
            logger.warning("reconnect of %s failed: %s", self.client_id, exc)

    def publish(self, topic: str, payload: bytes, qos: int, *, retain: bool = False) -> None:
        """Publish one message, waiting first while ``window`` messages are in flight."""
        if self.dropped:
            self.lost += 1
            return
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos and info.rc == mqtt.MQTT_ERR_NO_CONN:
            # paho keeps a QoS 1 message published while disconnected and sends it on
            # reconnect, but its info keeps the error, which would make is_published raise.
            info.rc = mqtt.MQTT_ERR_SUCCESS
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.lost += 1
            return
        self._pending.append(info)
        if len(self._pending) > self.window:
            self._drain(self.window // 2)

    def _drain(self, keep: int) -> None:
        deadline = time.monotonic() + self.timeout_s
        while self._pending and len(self._pending) > keep:
            if self._pending[0].is_published():
                self._pending.popleft()
                continue
            if time.monotonic() > deadline or self.dropped:
                self.lost += len(self._pending) - keep
                while len(self._pending) > keep:
                    self._pending.popleft()
                return
            self.service(0.05)

    def flush(self) -> None:
        """Wait until every queued message is written (QoS 0) or acknowledged (QoS 1)."""
        self._drain(0)

    def drop(self) -> None:
        """Cut the connection without DISCONNECT, as a gateway losing power would.

        What was published before is delivered first: the outage starts after it. A QoS 1
        message acknowledged by the broker proves that everything before it arrived (MQTT
        keeps order on a connection), so the gateway restates ``online`` and waits for the ack.
        """
        if self._will_topic is not None:
            self.publish(self._will_topic, ONLINE, 1, retain=True)
        self.flush()
        self.service(0.0)  # read what is left, so closing sends FIN rather than RST
        self.dropped = True
        self._connected = False
        sock = self.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.lost += len(self._pending)
        self._pending.clear()

    def resume(self) -> None:
        """Reconnect after ``drop``."""
        self.dropped = False
        self._refused = None
        self._resuming = True
        try:
            self.client.reconnect()
            self.wait_connected()
        except OSError as exc:
            raise LinkError(f"reconnect to {self.host}:{self.port} failed: {exc}") from exc
        finally:
            self._resuming = False

    def close(self) -> None:
        """Flush, then DISCONNECT cleanly."""
        if self.dropped:
            return
        try:
            self.flush()
        finally:
            self.client.disconnect()
            deadline = time.monotonic() + 2.0
            while self.client.want_write() and time.monotonic() < deadline:
                self.service(0.05)
            sock = self.socket()
            if sock is not None:
                sock.close()


class GatewayPool:
    """The MQTT side of the gateways of a simulation.

    Args:
        url: Broker URL.
        root: Topic root.
        gateways: ``site/factory`` of each factory index this process simulates.
        qos: QoS of readings (status messages always use QoS 1).
        links: 0 for one connection per gateway with a real last will, N for N shared ones.
        client_prefix: Prefix of MQTT client ids (unique per process).
        window: Messages in flight per connection.
    """

    def __init__(
        self,
        url: str,
        root: str,
        gateways: Mapping[int, str],
        *,
        qos: int = 1,
        links: int = 0,
        client_prefix: str = "ccsim",
        window: int = 1000,
    ) -> None:
        self.url = url
        self.root = root
        self.gateways = dict(gateways)
        self.qos = qos
        self.dedicated = links <= 0
        self.client_prefix = client_prefix
        self.window = window
        self.messages = 0
        self.readings = 0
        self.bytes = 0
        self._links: list[Link] = []
        self._link_of: dict[int, Link] = {}
        self._offline: set[int] = set()
        self._last_misc = 0.0
        count = len(self.gateways) if self.dedicated else links
        factories: Sequence[int] = sorted(self.gateways)
        for i in range(count):
            will = status_topic(root, self.gateways[factories[i]]) if self.dedicated else None
            link = Link(url, f"{client_prefix}-{i}", will_topic=will, window=window)
            self._links.append(link)
        for j, f in enumerate(factories):
            self._link_of[f] = self._links[j % len(self._links)]

    @property
    def lost(self) -> int:
        """Messages that could not be published."""
        return sum(link.lost for link in self._links)

    def open(self) -> None:
        """Connect every link and publish each gateway's retained ``online`` status."""
        for link in self._links:
            link.start()
        for link in self._links:
            link.wait_connected()
        for f, gateway in self.gateways.items():
            self._link_of[f].publish(status_topic(self.root, gateway), ONLINE, 1, retain=True)
        logger.info("%d gateways online over %d connections", len(self.gateways), len(self._links))

    def publish(self, message: Message) -> bool:
        """Publish one message on its gateway's connection.

        Returns:
            False (and nothing is sent) while that gateway is offline.
        """
        if message.factory in self._offline:
            return False
        self._link_of[message.factory].publish(message.topic, message.payload, self.qos)
        self.messages += 1
        self.readings += message.readings
        self.bytes += len(message.payload)
        return True

    def go_offline(self, factory: int) -> None:
        """Take a gateway offline: the broker fires its last will (emulated when pooled)."""
        if factory in self._offline or factory not in self.gateways:
            return
        self._offline.add(factory)
        link = self._link_of[factory]
        if self.dedicated:
            link.drop()
        else:
            link.publish(status_topic(self.root, self.gateways[factory]), OFFLINE, 1, retain=True)
        logger.info("gateway %s offline", self.gateways[factory])

    def go_online(self, factory: int) -> None:
        """Bring a gateway back and publish its retained ``online`` status."""
        if factory not in self._offline:
            return
        self._offline.discard(factory)
        link = self._link_of[factory]
        if self.dedicated:
            link.resume()
        link.publish(status_topic(self.root, self.gateways[factory]), ONLINE, 1, retain=True)
        logger.info("gateway %s online", self.gateways[factory])

    def service(self, timeout: float = 0.0) -> None:
        """Wait up to ``timeout`` seconds for network events and handle them on every link."""
        poller = select.poll()
        by_fd: dict[int, Link] = {}
        for link in self._links:
            sock = link.socket()
            if sock is None or link.dropped:
                continue
            by_fd[sock.fileno()] = link
            events = select.POLLIN | (select.POLLOUT if link.client.want_write() else 0)
            poller.register(sock, events)
        if not by_fd:
            time.sleep(timeout)
            return
        for fd, _ in poller.poll(timeout * 1000):
            by_fd[fd].service(0.0)
        now = time.monotonic()
        if now - self._last_misc > 1.0:
            # Keepalives and reconnects of links that had nothing to say.
            self._last_misc = now
            for link in self._links:
                link.service(0.0)

    def flush(self) -> None:
        """Wait until every connection has written or delivered what it queued."""
        for link in self._links:
            link.flush()

    def close(self, *, clear_status: bool = False) -> None:
        """Publish ``offline`` for every gateway, flush and disconnect cleanly.

        Args:
            clear_status: Remove the retained status instead (an empty retained message), so
                benchmarks and tests leave nothing behind on a shared broker.
        """
        for f, gateway in self.gateways.items():
            if f in self._offline:
                if not clear_status:
                    continue  # its will (or the emulated one) already said offline
                self.go_online(f)
            body = b"" if clear_status else OFFLINE
            self._link_of[f].publish(status_topic(self.root, gateway), body, 1, retain=True)
        # A dropped dedicated link is already closed, and its will already said offline.
        dropped = {id(self._link_of[f]) for f in self._offline} if self.dedicated else set()
        for link in self._links:
            if id(link) not in dropped:
                link.close()

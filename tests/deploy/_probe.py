"""A synchronous MQTT client for the deployment-broker tests: it records what it gets.

Ordering makes "never received" exact: Mosquitto delivers one publisher's messages in order,
so once a marker published *after* some messages arrives, they would have too.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.deploy._mosquitto import Broker

NOT_AUTHORIZED = 0x87
TIMEOUT = 10.0


class Probe:
    """A paho client driven in this thread (no loop thread) that records what it gets.

    Args:
        persistent: clean start (MQTT 5) / clean session (3.1.1) off, and with MQTT 5 a
            session expiry of an hour: the broker keeps the session while it is away.
        manual_ack: QoS 1 messages stay unacknowledged until :meth:`ack_all`.
    """

    def __init__(
        self,
        port: int,
        user: str | None,
        password: str | None,
        *,
        v5: bool = True,
        client_id: str | None = None,
        persistent: bool = False,
        manual_ack: bool = False,
    ) -> None:
        self.port = port
        self.v5 = v5
        self.persistent = persistent
        self.client_id = client_id or f"acl-{uuid.uuid4().hex[:8]}"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else not persistent,
            manual_ack=manual_ack,
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        self.connack: ReasonCode | None = None
        self.disconnects: list[ReasonCode] = []
        self.messages: list[tuple[str, bytes]] = []
        self.received: list[mqtt.MQTTMessage] = []
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.pubacks: dict[int, ReasonCode] = {}
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish

    def _on_connect(self, client, userdata, flags, rc, props) -> None:  # type: ignore[no-untyped-def]
        self.connack = rc

    def _on_disconnect(self, client, userdata, flags, rc, props) -> None:  # type: ignore[no-untyped-def]
        self.disconnects.append(rc)

    def _on_message(self, client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        self.messages.append((msg.topic, msg.payload))
        self.received.append(msg)

    def _on_subscribe(self, client, userdata, mid, codes, props) -> None:  # type: ignore[no-untyped-def]
        self.subacks[mid] = list(codes)

    def _on_publish(self, client, userdata, mid, rc, props) -> None:  # type: ignore[no-untyped-def]
        self.pubacks[mid] = rc

    def pump(self, done: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
        """Run the client's network loop until ``done()``."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"no {what} within {timeout} s"
            self.client.loop(timeout=0.01)

    def connect(self) -> ReasonCode:
        """Connect; return the CONNACK's code (a refusal is returned, not raised)."""
        props = None
        clean_start: bool | int = mqtt.MQTT_CLEAN_START_FIRST_ONLY
        if self.v5:
            props = Properties(mqtt.PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            if self.persistent:
                props.SessionExpiryInterval = 3600
                clean_start = False
        self.connack = None
        self.client.connect(
            "127.0.0.1", self.port, keepalive=30, clean_start=clean_start, properties=props
        )
        self.pump(lambda: self.connack is not None, "CONNACK")
        assert self.connack is not None
        return self.connack

    @property
    def connected(self) -> bool:
        return self.client.is_connected()

    def close(self) -> None:
        """Disconnect cleanly (a clean DISCONNECT: no will)."""
        with contextlib.suppress(OSError):
            self.client.disconnect()
            self.client.loop(timeout=0.01)

    def die(self) -> None:
        """Drop the TCP connection without DISCONNECT: the broker publishes the will."""
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def subscribe(self, topic: str) -> int:
        """Subscribe at QoS 1; return the SUBACK's code."""
        _, mid = self.client.subscribe(topic, qos=1)
        self.pump(lambda: mid in self.subacks, "SUBACK")
        return int(self.subacks[mid][0].value)

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1; return the PUBACK's code (always 0 with MQTT 3.1.1)."""
        return self.publish_many([topic], payload)[topic]

    def publish_many(self, topics: list[str], payload: bytes) -> dict[str, int]:
        """Publish to every topic at QoS 1; return each PUBACK's code."""
        infos = {topic: self.client.publish(topic, payload, qos=1) for topic in topics}
        self.pump(lambda: all(i.mid in self.pubacks for i in infos.values()), "PUBACK")
        return {t: int(self.pubacks[i.mid].value) for t, i in infos.items()}

    def ack_all(self) -> None:
        """Acknowledge every message received so far (with ``manual_ack``)."""
        for msg in self.received:
            self.client.ack(msg.mid, msg.qos)
        self.client.loop(timeout=0.01)

    def wait_for(self, payload: bytes) -> list[tuple[str, bytes]]:
        """Every message received until ``payload`` arrives."""
        self.pump(lambda: any(p == payload for _, p in self.messages), repr(payload))
        return list(self.messages)

    def linger(self, seconds: float) -> None:
        """Keep receiving for ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.client.loop(timeout=0.01)


def probe(
    broker: Broker,
    user: str | None,
    *,
    v5: bool = True,
    port: int | None = None,
    client_id: str | None = None,
    persistent: bool = False,
    manual_ack: bool = False,
) -> Probe:
    """A connected probe as ``user`` (on the gateways' listener unless ``port``)."""
    p = Probe(
        broker.port if port is None else port,
        user,
        broker.passwords.get(user) if user else None,
        v5=v5,
        client_id=client_id,
        persistent=persistent,
        manual_ack=manual_ack,
    )
    rc = p.connect()
    assert not rc.is_failure, f"{user} refused: {rc}"
    return p


def service_probe(
    broker: Broker,
    *,
    client_id: str | None = None,
    persistent: bool = False,
    manual_ack: bool = False,
) -> Probe:
    """The service's account on the service listener."""
    return probe(
        broker,
        "controlcenter",
        port=broker.service_port,
        client_id=client_id,
        persistent=persistent,
        manual_ack=manual_ack,
    )


def forge(broker: Broker, user: str, topics: list[str], payload: bytes, *, v5: bool) -> list[int]:
    """Publish to each topic on a connection of its own; return the PUBACK codes.

    One connection each because Mosquitto 2.0.11, after refusing a publish, answers the
    next ones pipelined on that connection only after about a second each. The broker has
    dispatched (or dropped) a message before it acknowledges it, so everything published
    after these returned reaches a subscriber after them.
    """
    codes = []
    port = broker.service_port if user == "controlcenter" else broker.port
    for topic in topics:
        p = probe(broker, user, v5=v5, port=port)
        try:
            codes.append(p.publish(topic, payload))
        finally:
            p.close()
    return codes


def marker() -> bytes:
    return f"marker-{uuid.uuid4().hex}".encode()

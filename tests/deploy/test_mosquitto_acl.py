"""The deployment's Mosquitto ACL and password file, enforced by the Mosquitto that runs here.

A gateway (account ``<site>/<factory>``) publishes under its own factory only; the service
reads everything and writes alerts only; anonymous clients and wrong passwords are refused.
Ordering makes "never received" exact: Mosquitto delivers one publisher's messages in order,
so once the marker published *after* the refused messages arrives, they would have too.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.deploy._mosquitto import ROOT, Broker, deploy_broker

NOT_AUTHORIZED = 0x87
GATEWAYS = ["namdong-1/f0001", "namdong-1/f0002", "namdong-2/f0001"]
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with deploy_broker(tmp_path_factory.mktemp("mosquitto"), GATEWAYS) as b:
        yield b


class Probe:
    """A paho client driven in this thread (no loop thread) that records what it gets."""

    def __init__(
        self, port: int, user: str | None, password: str | None, *, v5: bool = True
    ) -> None:
        self.port = port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"acl-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        self.connack: ReasonCode | None = None
        self.messages: list[tuple[str, bytes]] = []
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.pubacks: dict[int, ReasonCode] = {}
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish

    def _on_connect(self, client, userdata, flags, rc, props) -> None:  # type: ignore[no-untyped-def]
        self.connack = rc

    def _on_message(self, client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        self.messages.append((msg.topic, msg.payload))

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
        props = None
        if self.client.protocol == mqtt.MQTTv5:
            props = Properties(mqtt.PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        self.client.connect("127.0.0.1", self.port, keepalive=30, properties=props)
        self.pump(lambda: self.connack is not None, "CONNACK")
        assert self.connack is not None
        return self.connack

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.client.disconnect()
            self.client.loop(timeout=0.01)

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

    def wait_for(self, payload: bytes) -> list[tuple[str, bytes]]:
        """Every message received until ``payload`` arrives."""
        self.pump(lambda: any(p == payload for _, p in self.messages), repr(payload))
        return list(self.messages)

    def linger(self, seconds: float) -> None:
        """Keep receiving for ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.client.loop(timeout=0.01)


def probe(broker: Broker, user: str | None, *, v5: bool = True) -> Probe:
    p = Probe(broker.port, user, broker.passwords.get(user) if user else None, v5=v5)
    rc = p.connect()
    assert not rc.is_failure, f"{user} refused: {rc}"
    return p


def forge(broker: Broker, user: str, topics: list[str], payload: bytes, *, v5: bool) -> list[int]:
    """Publish to each topic on a connection of its own; return the PUBACK codes.

    One connection each because Mosquitto 2.0.11, after refusing a publish, answers the
    next ones pipelined on that connection only after about a second each. The broker has
    dispatched (or dropped) a message before it acknowledges it, so everything published
    after these returned reaches a subscriber after them.
    """
    codes = []
    for topic in topics:
        p = probe(broker, user, v5=v5)
        try:
            codes.append(p.publish(topic, payload))
        finally:
            p.close()
    return codes


@pytest.fixture
def service(broker: Broker) -> Iterator[Probe]:
    """The service's account subscribed to the whole tree, as a shared-subscription member."""
    p = probe(broker, "controlcenter")
    assert p.subscribe("$share/ingest/cc/v1/#") == 1
    yield p
    p.close()


def marker() -> bytes:
    return f"marker-{uuid.uuid4().hex}".encode()


def test_gateway_publishes_readings_and_status_under_its_own_factory(
    broker: Broker, service: Probe
) -> None:
    gw = probe(broker, "namdong-1/f0001")
    try:
        for topic in (
            "cc/v1/namdong-1/f0001/air/st-01",
            "cc/v1/namdong-1/f0001/power/m-01",
            "cc/v1/namdong-1/f0001/parking/p-01",
            "cc/v1/namdong-1/f0001/status",
        ):
            assert gw.publish(topic, topic.encode()) == 0
        received = service.wait_for(b"cc/v1/namdong-1/f0001/status")
    finally:
        gw.close()
    assert {t for t, _ in received} >= {
        "cc/v1/namdong-1/f0001/air/st-01",
        "cc/v1/namdong-1/f0001/power/m-01",
        "cc/v1/namdong-1/f0001/parking/p-01",
        "cc/v1/namdong-1/f0001/status",
    }


FOREIGN = [
    "cc/v1/namdong-1/f0002/air/st-01",  # a neighbour in the same site
    "cc/v1/namdong-2/f0001/power/m-01",  # the same factory code in another site
    "cc/v1/namdong-1/f0002/status",  # another gateway's status
    "cc/v1/alerts/namdong-1/f0001/opened",  # the service's alerts
    "cc/v1/namdong-1/f0001/air/st-01/extra",  # deeper than the contract
    "cc/v1/namdong-1/f0001/water/w-01",  # not a kind
    "cc/v2/namdong-1/f0001/air/st-01",  # another contract version
]


def test_gateway_cannot_publish_under_another_factory_mqtt5(broker: Broker, service: Probe) -> None:
    codes = forge(broker, "namdong-1/f0001", FOREIGN, b"forged", v5=True)
    gw = probe(broker, "namdong-1/f0001")
    try:
        end = marker()
        assert gw.publish("cc/v1/namdong-1/f0001/air/st-01", end) == 0
    finally:
        gw.close()
    assert codes == [NOT_AUTHORIZED] * len(FOREIGN)
    received = service.wait_for(end)
    assert [t for t, p in received if p == b"forged"] == []


def test_gateway_cannot_publish_under_another_factory_mqtt311(
    broker: Broker, service: Probe
) -> None:
    # MQTT 3.1.1 has no reason codes: Mosquitto acknowledges and drops the message.
    assert forge(broker, "namdong-1/f0001", FOREIGN, b"forged-311", v5=False) == [0] * len(FOREIGN)
    gw = probe(broker, "namdong-1/f0001", v5=False)
    try:
        end = marker()
        gw.publish("cc/v1/namdong-1/f0001/air/st-01", end)
    finally:
        gw.close()
    received = service.wait_for(end)
    assert [t for t, p in received if p == b"forged-311"] == []


def test_gateway_cannot_read_any_topic(broker: Broker, service: Probe) -> None:
    # Mosquitto 2.0.11 grants the SUBACK but checks the read ACL on every delivery.
    gw = probe(broker, "namdong-1/f0001")
    spy = probe(broker, "namdong-1/f0002")
    try:
        for topic in (
            "cc/v1/#",
            "$share/steal/cc/v1/#",
            "cc/v1/namdong-1/f0001/#",
            "cc/v1/alerts/#",
            "cc/v1/namdong-1/f0002/#",  # not even its own: gateways only publish
        ):
            spy.subscribe(topic)
        end = marker()
        assert gw.publish("cc/v1/namdong-1/f0001/air/st-01", end) == 0
        assert spy.publish("cc/v1/namdong-1/f0002/status", b"spy-own") == 0
        service.wait_for(b"spy-own")
        spy.linger(0.5)  # the broker dispatches to every subscriber at once; a margin
        assert spy.messages == []
    finally:
        gw.close()
        spy.close()


def test_gateway_will_is_delivered_only_for_its_own_factory(broker: Broker, service: Probe) -> None:
    gw = Probe(broker.port, "namdong-1/f0002", broker.passwords["namdong-1/f0002"])
    gw.client.will_set("cc/v1/namdong-1/f0002/status", b"offline", qos=1, retain=False)
    assert not gw.connect().is_failure
    gw.client.socket().close()  # die without DISCONNECT: the broker publishes the will
    received = service.wait_for(b"offline")
    assert ("cc/v1/namdong-1/f0002/status", b"offline") in received


def test_service_reads_everything_and_writes_alerts_only(broker: Broker, service: Probe) -> None:
    forged = forge(
        broker, "controlcenter", ["cc/v1/namdong-1/f0001/air/st-01"], b"forged-by-service", v5=True
    )
    assert forged == [NOT_AUTHORIZED]
    svc = probe(broker, "controlcenter")
    try:
        end = marker()
        assert svc.publish("cc/v1/alerts/namdong-1/f0001/opened", end) == 0
    finally:
        svc.close()
    received = service.wait_for(end)
    assert [t for t, p in received if p == b"forged-by-service"] == []


def test_simulator_account_publishes_any_factory_but_no_alerts(
    broker: Broker, service: Probe
) -> None:
    forged = forge(broker, "simulator", ["cc/v1/alerts/x/y/opened"], b"forged-by-sim", v5=True)
    assert forged == [NOT_AUTHORIZED]
    sim = probe(broker, "simulator")
    try:
        assert sim.publish("cc/v1/namdong-2/f0001/status", b"sim-status") == 0
        end = marker()
        assert sim.publish("cc/v1/anywhere/f9/air/st-01", end) == 0
    finally:
        sim.close()
    received = service.wait_for(end)
    assert ("cc/v1/namdong-2/f0001/status", b"sim-status") in received
    assert [t for t, p in received if p == b"forged-by-sim"] == []


@pytest.mark.parametrize(
    ("user", "password"),
    [(None, None), ("namdong-1/f0001", "wrong"), ("nobody", "x"), ("namdong-1", "x")],
)
def test_anonymous_and_wrong_credentials_are_refused(
    broker: Broker, user: str | None, password: str | None
) -> None:
    for v5 in (True, False):
        p = Probe(broker.port, user, password, v5=v5)
        try:
            rc = p.connect()
        finally:
            p.close()
        assert rc.is_failure, (user, v5, rc)


def test_compose_healthcheck_command_works(broker: Broker) -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    kind, command = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    # Compose turns "$$" into "$"; the container's port is 1883.
    command = command.replace("$$", "$").replace("-p 1883", f"-p {broker.port}")
    env = {**os.environ, "MQTT_HEALTHCHECK_PASSWORD": broker.passwords["healthcheck"]}
    ok = subprocess.run(["sh", "-c", command], env=env, timeout=15, check=False)
    assert ok.returncode == 0
    env["MQTT_HEALTHCHECK_PASSWORD"] = "wrong"  # noqa: S105 - a deliberately wrong one
    bad = subprocess.run(["sh", "-c", command], env=env, timeout=15, check=False)
    assert bad.returncode != 0


def test_password_file_holds_hashes_only(broker: Broker, tmp_path: Path) -> None:
    passwd = (broker.log.parent / "secrets" / "passwd").read_text()
    users = dict(line.split(":", 1) for line in passwd.splitlines())
    assert set(users) == {"controlcenter", "healthcheck", "simulator", *GATEWAYS}
    for user, hashed in users.items():
        assert hashed.startswith("$7$"), user  # PBKDF2-SHA512
        assert broker.passwords[user] not in hashed

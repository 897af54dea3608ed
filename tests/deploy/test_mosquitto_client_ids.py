"""Client ids on the deployment's Mosquitto: an account can use only its own.

Mosquitto hands a client id's session to whoever connects with it next, so a gateway's
password must not reach the service's id (or another gateway's): that pushes the service off,
takes its unacknowledged messages (lost: the gateway may read nothing) and fires the other
gateway's ``offline`` will. The gateways' listener replaces every client id with the
account's name (``use_username_as_clientid``); the service has a listener of its own that
only its account can log in to (test_mosquitto_acl.py checks the credentials).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.deploy._mosquitto import Broker, deploy_broker
from tests.deploy._probe import TIMEOUT, Probe, marker, probe, service_probe

GATEWAYS = ["namdong-1/f0001", "namdong-1/f0002", "namdong-2/f0001"]
OWN = "cc/v1/namdong-1/f0001/air/st-01"  # a topic of gateway namdong-1/f0001


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with deploy_broker(tmp_path_factory.mktemp("mosquitto"), GATEWAYS) as b:
        yield b


def pump_all(probes: list[Probe], done: Callable[[], bool], what: str) -> None:
    """Run every probe's network loop until ``done()``."""
    deadline = time.monotonic() + TIMEOUT
    while not done():
        assert time.monotonic() < deadline, f"no {what} within {TIMEOUT} s"
        for p in probes:
            p.client.loop(timeout=0.005)


def payloads(p: Probe, prefix: bytes) -> list[bytes]:
    return [body for _, body in p.messages if body.startswith(prefix)]


def forgers(broker: Broker, client_id: str) -> list[Probe]:
    """Every account but the service's, with ``client_id`` and a persistent session."""
    made = []
    for user in ("namdong-1/f0002", "simulator", "healthcheck"):
        for v5 in (True, False):
            made.append(
                Probe(
                    broker.port,
                    user,
                    broker.passwords[user],
                    v5=v5,
                    client_id=client_id,
                    persistent=True,
                )
            )
    # A gateway's password on the service listener, where client ids are not replaced.
    made.append(
        Probe(
            broker.service_port,
            "namdong-1/f0002",
            broker.passwords["namdong-1/f0002"],
            client_id=client_id,
            persistent=True,
        )
    )
    return made


def test_a_forged_service_client_id_takes_no_session_and_loses_nothing(broker: Broker) -> None:
    svc_id = f"controlcenter-ingest-{uuid.uuid4().hex[:6]}"
    prefix = f"r-{svc_id}-".encode()
    sent = [prefix + str(i).encode() for i in range(200)]
    service = service_probe(broker, client_id=svc_id, persistent=True, manual_ack=True)
    assert service.subscribe("cc/v1/namdong-1/f0001/#") == 1
    gw = probe(broker, "namdong-1/f0001")
    try:
        for body in sent:
            assert gw.publish(OWN, body) == 0
        # Delivered, and not acknowledged: the broker keeps them in the service's session.
        service.pump(lambda: len(payloads(service, prefix)) == len(sent), "the readings")
        for forger in forgers(broker, svc_id):
            try:
                forger.connect()  # refused, or accepted under the account's own id
                if forger.connected:
                    forger.subscribe("cc/v1/#")
                    forger.linger(0.1)
                    assert forger.messages == []
            finally:
                forger.close()
        service.linger(0.2)
        pushed_off = list(service.disconnects)
        still_connected = service.connected
        # The service dies without acknowledging anything: its session gives all back.
        service.die()
        again = service_probe(broker, client_id=svc_id, persistent=True)
        try:
            end = prefix + marker()  # after every redelivery (in-flight ones are resent first)
            assert gw.publish(OWN, end) == 0
            again.pump(lambda: end in payloads(again, prefix), "the marker")
            redelivered = set(payloads(again, prefix))
        finally:
            again.close()
    finally:
        gw.close()
    assert sorted(set(sent) - redelivered) == []
    assert pushed_off == []
    assert still_connected


def test_a_forged_gateway_client_id_fires_no_will_and_pushes_no_gateway_off(
    broker: Broker,
) -> None:
    watcher = service_probe(broker)
    assert watcher.subscribe("cc/v1/namdong-1/+/status") == 1
    victim = Probe(
        broker.port,
        "namdong-1/f0002",
        broker.passwords["namdong-1/f0002"],
        client_id="namdong-1/f0002",
    )
    victim.client.will_set("cc/v1/namdong-1/f0002/status", b"offline", qos=1, retain=False)
    try:
        assert not victim.connect().is_failure
        for v5 in (True, False):
            forger = probe(broker, "namdong-1/f0001", v5=v5, client_id="namdong-1/f0002")
            forger.close()
        # The will would have been published before the forger's CONNACK, so before this.
        end = marker()
        gw = probe(broker, "namdong-1/f0001")
        assert gw.publish("cc/v1/namdong-1/f0001/status", end) == 0
        gw.close()
        received = watcher.wait_for(end)
        assert ("cc/v1/namdong-1/f0002/status", b"offline") not in received
        victim.linger(0.2)
        assert victim.disconnects == []
        assert victim.publish("cc/v1/namdong-1/f0002/status", b"still-online") == 0
        watcher.wait_for(b"still-online")
    finally:
        victim.close()
        watcher.close()


def test_a_will_on_another_factorys_status_is_never_delivered(broker: Broker) -> None:
    watcher = service_probe(broker)
    assert watcher.subscribe("cc/v1/namdong-1/+/status") == 1
    forger = Probe(broker.port, "namdong-1/f0001", broker.passwords["namdong-1/f0001"])
    forger.client.will_set("cc/v1/namdong-1/f0002/status", b"forged-will", qos=1)
    try:
        if not forger.connect().is_failure:  # Mosquitto 2.0.11 accepts and drops it later
            forger.die()
        end = marker()
        gw = probe(broker, "namdong-1/f0001")
        gw.linger(0.2)  # the broker notices the dropped socket and handles the will first
        assert gw.publish("cc/v1/namdong-1/f0001/status", end) == 0
        gw.close()
        received = watcher.wait_for(end)
        assert [t for t, p in received if p == b"forged-will"] == []
    finally:
        watcher.close()


def test_a_gateway_account_has_one_connection(broker: Broker) -> None:
    # The client id is the account: a second connection replaces the first, whatever id
    # either sent (a gateway that restarts takes its own session back).
    first = probe(broker, "namdong-2/f0001", client_id="gw-a")
    second = probe(broker, "namdong-2/f0001", client_id="gw-b")
    try:
        first.pump(lambda: bool(first.disconnects), "the first connection's end")
        assert second.publish("cc/v1/namdong-2/f0001/status", b"online") == 0
        second.linger(0.2)
        assert second.disconnects == []
    finally:
        second.close()
        first.close()


def test_the_services_connections_coexist_on_its_listener(broker: Broker) -> None:
    # One account, one client id per connection: two shared-subscription workers, the
    # alert publisher (<client_id>-alerts) and two API replicas' feeds (random suffixes).
    workers = [service_probe(broker, client_id=f"controlcenter-ingest-{i}") for i in (1, 2)]
    alerts = service_probe(broker, client_id="controlcenter-ingest-1-alerts")
    feeds = [
        service_probe(broker, client_id=f"controlcenter-ingest-1-api-{uuid.uuid4().hex[:8]}")
        for _ in range(2)
    ]
    everyone = [*workers, alerts, *feeds]
    try:
        for w in workers:
            assert w.subscribe("$share/ingest/cc/v1/namdong-2/#") == 1
        for f in feeds:
            assert f.subscribe("cc/v1/#") == 1
        gw = probe(broker, "namdong-2/f0001")
        sent = [f"share-{i}".encode() for i in range(20)]
        for body in sent:
            gw.publish("cc/v1/namdong-2/f0001/power/m-01", body)
        gw.close()
        alert = marker()
        alerts.publish("cc/v1/alerts/namdong-2/f0001/opened", alert)

        def all_in() -> bool:
            shared = sorted(b for w in workers for b in payloads(w, b"share-"))
            return shared == sorted(sent) and all(
                len(payloads(f, b"share-")) == len(sent) and alert in payloads(f, b"marker-")
                for f in feeds
            )

        pump_all(everyone, all_in, "every message")
        assert all(payloads(w, b"share-") for w in workers)  # both workers took part
        assert [p.disconnects for p in everyone] == [[] for _ in everyone]
    finally:
        for p in everyone:
            p.close()


def test_the_services_session_survives_a_broker_restart(broker: Broker) -> None:
    svc_id = f"controlcenter-ingest-{uuid.uuid4().hex[:6]}"
    prefix = f"away-{svc_id}-".encode()
    service = service_probe(broker, client_id=svc_id, persistent=True)
    assert service.subscribe("cc/v1/namdong-1/f0001/#") == 1
    service.close()  # gone, but its session (MQTT 5 session expiry) stays
    broker.restart()  # saved and restored with the listener it belongs to
    gw = probe(broker, "namdong-1/f0001")
    sent = [prefix + str(i).encode() for i in range(50)]
    for body in sent:
        assert gw.publish(OWN, body) == 0
    gw.close()
    back = service_probe(broker, client_id=svc_id, persistent=True)
    try:
        back.pump(lambda: len(payloads(back, prefix)) == len(sent), "the queued messages")
        assert payloads(back, prefix) == sent
    finally:
        back.close()

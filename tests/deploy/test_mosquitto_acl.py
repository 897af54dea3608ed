"""The deployment's Mosquitto ACLs and password files, enforced by the Mosquitto that runs here.

A gateway (account ``<site>/<factory>``, on the gateways' listener) publishes under its own
factory only; the service (on its own listener) reads everything and writes alerts (and
its workers' live relay) only;
anonymous clients and wrong passwords are refused. Client ids: test_mosquitto_client_ids.py.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml

from tests.deploy._mosquitto import ROOT, Broker, deploy_broker, passwd_users
from tests.deploy._probe import (
    NOT_AUTHORIZED,
    Probe,
    forge,
    marker,
    probe,
    service_probe,
)

GATEWAYS = ["namdong-1/f0001", "namdong-1/f0002", "namdong-2/f0001"]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with deploy_broker(tmp_path_factory.mktemp("mosquitto"), GATEWAYS) as b:
        yield b


@pytest.fixture
def service(broker: Broker) -> Iterator[Probe]:
    """The service's account subscribed to the whole tree, as a shared-subscription member."""
    p = service_probe(broker)
    assert p.subscribe("$share/ingest/cc/v1/#") == 1
    yield p
    p.close()


def test_gateway_publishes_readings_and_status_under_its_own_factory(
    broker: Broker, service: Probe
) -> None:
    gw = probe(broker, "namdong-1/f0001")
    try:
        for topic in (
            "cc/v1/namdong-1/f0001/air/st-01",
            "cc/v1/namdong-1/f0001/power/m-01",
            "cc/v1/namdong-1/f0001/parking/p-01",
            "cc/v1/namdong-1/f0001/gas/gd-01",
            "cc/v1/namdong-1/f0001/fire/fd-01",
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
        "cc/v1/namdong-1/f0001/gas/gd-01",
        "cc/v1/namdong-1/f0001/fire/fd-01",
        "cc/v1/namdong-1/f0001/status",
    }


FOREIGN = [
    "cc/v1/namdong-1/f0002/air/st-01",  # a neighbour in the same site
    "cc/v1/namdong-2/f0001/power/m-01",  # the same factory code in another site
    "cc/v1/namdong-1/f0002/gas/gd-01",  # a neighbour's gas detector
    "cc/v1/namdong-1/f0002/status",  # another gateway's status
    "cc/v1/alerts/namdong-1/f0001/opened",  # the service's alerts
    "cc/v1/namdong-1/f0001/air/st-01/extra",  # deeper than the contract
    "cc/v1/namdong-1/f0001/air",  # shallower
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
    svc = service_probe(broker)
    try:
        end = marker()
        assert svc.publish("cc/v1/alerts/namdong-1/f0001/opened", end) == 0
    finally:
        svc.close()
    received = service.wait_for(end)
    assert [t for t, p in received if p == b"forged-by-service"] == []


def test_only_the_service_writes_and_reads_the_live_relay(broker: Broker) -> None:
    # The relay carries catalog ids that hubs trust: no gateway or simulator may forge it.
    relay = "cc/relay/v1/worker-a"
    reader = service_probe(broker)
    spy = probe(broker, "namdong-1/f0001")
    writer = service_probe(broker)
    try:
        assert reader.subscribe("cc/relay/v1/+") == 1
        spy.subscribe("cc/relay/v1/+")
        for user in ("namdong-1/f0001", "simulator"):
            assert forge(broker, user, [relay], b"forged-relay", v5=True) == [NOT_AUTHORIZED]
        end = marker()
        assert writer.publish(relay, end) == 0
        received = reader.wait_for(end)
        spy.linger(0.5)
        assert spy.messages == []
    finally:
        for p in (reader, spy, writer):
            p.close()
    assert [t for t, p in received if p == b"forged-relay"] == []
    assert (relay, end) in received


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
    for port in (broker.port, broker.service_port):
        for v5 in (True, False):
            p = Probe(port, user, password, v5=v5)
            try:
                rc = p.connect()
            finally:
                p.close()
            assert rc.is_failure, (user, port, v5, rc)


def test_each_listener_knows_only_its_own_accounts(broker: Broker) -> None:
    # The service's account exists only on the service listener, every other account only
    # on the gateways' one: a gateway's password opens nothing where client ids are free.
    for port, user in [
        (broker.port, "controlcenter"),
        (broker.service_port, "namdong-1/f0001"),
        (broker.service_port, "simulator"),
        (broker.service_port, "healthcheck"),
    ]:
        for v5 in (True, False):
            p = Probe(port, user, broker.passwords[user], v5=v5, client_id="controlcenter-ingest-1")
            try:
                rc = p.connect()
            finally:
                p.close()
            assert rc.is_failure, (user, port, v5, rc)


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


def test_compose_simulator_command_publishes_over_its_one_connection(
    broker: Broker, service: Probe
) -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    argv = shlex.split(compose["services"]["simulator"]["command"][0].replace("$$", "$"))
    url = f"mqtt://simulator:{broker.passwords['simulator']}@127.0.0.1:{broker.port}"
    argv[argv.index("--url") + 1] = url
    assert argv[:3] == ["exec", "controlcenter-sim", "run"]
    # The compose command as it is, stopped after 400 readings.
    done = subprocess.run(
        [sys.executable, "-m", "simulators", *argv[2:], "--count", "400"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["readings"] >= 400
    assert summary["lost"] == 0
    assert "lost" not in done.stderr  # no connection pushed another off
    end = marker()
    sim = probe(broker, "simulator")
    try:
        assert sim.publish("cc/v1/anywhere/f9/status", end) == 0
    finally:
        sim.close()
    received = service.wait_for(end)
    readings = [t for t, _ in received if "/status" not in t]
    assert len(readings) == summary["messages"]


def test_password_files_hold_hashes_only(broker: Broker) -> None:
    secrets = broker.log.parent / "secrets"
    gateway_side = passwd_users(secrets / "passwd")
    assert gateway_side == {"healthcheck", "simulator", *GATEWAYS}
    assert passwd_users(secrets / "passwd-service") == {"controlcenter"}
    for name in ("passwd", "passwd-service"):
        for line in (secrets / name).read_text().splitlines():
            user, hashed = line.split(":", 1)
            assert hashed.startswith("$7$"), user  # PBKDF2-SHA512
            assert broker.passwords[user] not in hashed


def test_any_sensor_kind_may_be_published_without_touching_the_acl(
    broker: Broker, service: Probe
) -> None:
    # Kinds are data: every packaged kind and one an admin might add later ("noise") pass
    # the broker as they are; the service, not the broker, decides which kinds it knows.
    from controlcenter.kinds import packaged

    topics = [f"cc/v1/namdong-1/f0001/{kind}/s-01" for kind in (*packaged(), "noise")]
    gw = probe(broker, "namdong-1/f0001")
    sim = probe(broker, "simulator")
    try:
        for topic in topics:
            assert gw.publish(topic, b"from-gateway") == 0, topic
            assert sim.publish(topic.replace("namdong-1", "namdong-9"), b"from-sim") == 0, topic
        ends = marker(), marker()
        assert gw.publish("cc/v1/namdong-1/f0001/noise/s-01", ends[0]) == 0
        assert sim.publish("cc/v1/namdong-9/f0001/noise/s-01", ends[1]) == 0
    finally:
        gw.close()
        sim.close()
    service.wait_for(ends[0])
    received = service.wait_for(ends[1])
    assert {t for t, p in received if p == b"from-gateway"} == set(topics)
    assert len({t for t, p in received if p == b"from-sim"}) == len(topics)

"""Fixtures of the simulator tests: generated directories and an MQTT collector."""

from __future__ import annotations

import itertools
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from simulators.engine import Simulation
from simulators.files import generate

from tests.simulators._helpers import HOURS, Collector, Data, small_scenario

_ROOTS = itertools.count()


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(with anomalies, clean)`` directories of the same complex and seed, six hours."""
    out = []
    for name, anomalies in (("anomalous", True), ("clean", False)):
        sc = small_scenario(anomalies=anomalies)
        path = tmp_path_factory.mktemp(name)
        generate(Simulation(sc, start_ms=sc.start_ms), path, HOURS * 3600)
        out.append(path)
    return out[0], out[1]


@pytest.fixture(scope="session")
def data(generated: tuple[Path, Path]) -> tuple[Data, Data]:
    """The anomalous and the clean run, loaded."""
    return Data(generated[0]), Data(generated[1])


@pytest.fixture
def collector(mqtt_url: str, run_id: str):
    """A collector on a topic root unique to this test."""
    root = f"simtest{run_id}x{next(_ROOTS)}"
    c = Collector(mqtt_url, root)
    c.root = root  # type: ignore[attr-defined]
    yield c
    c.close()
    # Leave no retained status behind on the shared broker.
    cleaner = mqtt.Client(CallbackAPIVersion.VERSION2)
    parts = urlsplit(mqtt_url)
    cleaner.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    cleaner.loop_start()
    for topic in {t for t, _, retained in c.snapshot() if t.endswith("/status")}:
        cleaner.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    cleaner.disconnect()
    cleaner.loop_stop()

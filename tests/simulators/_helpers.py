"""Helpers of the simulator tests: small complexes, loaded directories, an MQTT collector."""

from __future__ import annotations

import csv
import threading
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from simulators.scenario import Scenario, load_scenario

# Every anomaly type often enough to appear in six simulated hours of a small complex.
BUSY_ANOMALIES = {
    "spike": {"per_series_day": 1.0},
    "level_shift": {"per_series_day": 0.3, "duration_s": [600, 1800]},
    "drift": {"per_series_day": 0.2, "duration_s": [1800, 3600]},
    "stuck": {"per_series_day": 0.3, "duration_s": [900, 1800]},
    "impossible": {"per_series_day": 0.3, "duration_s": [0, 60]},
    "dropout": {"per_sensor_day": 1.0, "duration_s": [300, 900]},
    "gateway_offline": {"per_factory_day": 1.0, "duration_s": [300, 900]},
    "dust_event": {"per_day": 6.0, "duration_s": [3600, 7200], "pm10": [200, 400]},
}
HOURS = 6


def small_scenario(seed: int = 7, factories: int = 12, anomalies: bool = True) -> Scenario:
    """A small complex with busy anomalies (or none)."""
    base = load_scenario().with_overrides(seed=seed, factories=factories)
    data = dict(base.data)
    data["anomalies"] = BUSY_ANOMALIES if anomalies else {}
    return Scenario(data)


class Data:
    """A generated directory loaded per series: ``times[key]``, ``values[key]``."""

    def __init__(self, path: Path) -> None:
        self.series = {r["series"]: r for r in csv.DictReader((path / "series.csv").open())}
        self.labels = list(csv.DictReader((path / "labels.csv").open()))
        t: dict[str, list[int]] = defaultdict(list)
        v: dict[str, list[float]] = defaultdict(list)
        with (path / "readings.csv").open() as fh:
            self.header = fh.readline().strip()
            self.all_times = []
            for line in fh:
                ts, key, value = line.rstrip("\n").split(",")
                t[key].append(int(ts))
                v[key].append(float(value))
                self.all_times.append(int(ts))
        self.times = {k: np.array(x, dtype=np.int64) for k, x in t.items()}
        self.values = {k: np.array(x) for k, x in v.items()}

    def labelled(self, key: str, kinds: set[str] | None = None) -> np.ndarray:
        """Mask of the readings of ``key`` inside any label that covers the series."""
        times = self.times.get(key, np.empty(0, dtype=np.int64))
        mask = np.zeros(len(times), dtype=bool)
        for lab in self.labels:
            if kinds is not None and lab["type"] not in kinds:
                continue
            if covers(lab["series"], key):
                mask |= (times >= int(lab["start_ms"])) & (times <= int(lab["end_ms"]))
        return mask


def covers(pattern: str, key: str) -> bool:
    """Whether a label's series pattern (``*`` = one level, trailing ``*`` = the rest) hits key."""
    if pattern == "*":
        return True
    p, k = pattern.split("/"), key.split("/")
    if p[-1] == "*" and len(p) < len(k):
        p = p[:-1] + ["*"] * (len(k) - len(p) + 1)
    return len(p) == len(k) and all(a in ("*", b) for a, b in zip(p, k, strict=True))


class Collector:
    """Subscribes to ``{root}/#`` on the broker and keeps every message."""

    def __init__(self, url: str, root: str) -> None:
        parts = urlsplit(url)
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{root}/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.client.loop_start()
        assert self.subscribed.wait(10), "subscription not acknowledged"

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self.lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

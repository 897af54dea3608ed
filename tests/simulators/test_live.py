"""End to end against the real broker: what the simulator publishes obeys the MQTT contract.

Runs are paced or batched: Mosquitto drops messages beyond its per-client queue (1000 by
default) when the Python subscriber of a test lags behind a burst, which is not a loss of the
simulator's.
"""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from simulators.engine import Simulation
from simulators.files import generate
from simulators.publisher import GatewayPool

from controlcenter.config import IngestSettings
from controlcenter.kinds import packaged
from controlcenter.wire.payload import PayloadDecoder
from tests.simulators._helpers import Collector, small_scenario

DECODER = PayloadDecoder(IngestSettings())
MIN_MS = 1_500_000_000_000  # 2017: anything earlier is an absurd timestamp


def _cli(*args: str, timeout: float = 30) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "simulators", *args, "--log-level", "WARNING"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ts_ms(ts: object) -> int:
    if isinstance(ts, int):
        return ts
    assert isinstance(ts, str)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", ts), ts
    return round(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def check_contract(messages: list[tuple[str, bytes, bool]], root: str) -> tuple[int, dict]:
    """Validate every message; returns (readings, statuses per gateway in arrival order)."""
    reading_topic = re.compile(rf"{root}/v1/([^/+#]+)/([^/+#]+)/([a-z_]+)/([^/+#]+)")
    status_topic = re.compile(rf"{root}/v1/([^/+#]+)/([^/+#]+)/status")
    readings = 0
    statuses: dict[str, list[str]] = {}
    for topic, payload, _ in messages:
        if m := status_topic.fullmatch(topic):
            if payload:  # an empty retained message is the fixture's cleanup
                assert payload in (b"online", b"offline")
                statuses.setdefault(f"{m[1]}/{m[2]}", []).append(payload.decode())
            continue
        m = reading_topic.fullmatch(topic)
        assert m, topic
        body = json.loads(payload)
        batch = body.get("readings", [body])
        assert batch, topic
        for reading in batch:
            assert set(reading) <= {"ts", "seq", "values"}
            assert _ts_ms(reading["ts"]) > MIN_MS
            assert isinstance(reading.get("seq", 0), int)
            values = reading["values"]
            assert set(values) == set(packaged().units(m[3])), values
            for v in values.values():
                assert isinstance(v, int | float)
                assert math.isfinite(v)
        readings += len(batch)
        # The service's own decoder accepts every reading and rejects nothing.
        decoded = DECODER.decode(m[3], payload, time.time_ns() // 1000)
        assert not decoded.rejects, decoded.rejects
        assert len(decoded.values) == len(batch) * len(packaged().units(m[3]))
    return readings, statuses


def _changes(history: list[str]) -> list[str]:
    """A status history without repeats (a restated status is no change)."""
    return [s for i, s in enumerate(history) if i == 0 or history[i - 1] != s]


def _wait_for(collector: Collector, root: str, readings: int, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        got, statuses = check_contract(collector.snapshot(), root)
        if got >= readings or time.monotonic() > deadline:
            return got, statuses
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("batch", "ts_format", "qos"), [(1, "ms", 1), (7, "rfc3339", 1), (20, "ms", 0)]
)
def test_run_publishes_contract_messages_and_every_reading_arrives(
    collector, mqtt_url, batch, ts_format, qos
):
    root = collector.root
    summary = _cli(
        "run", "--url", mqtt_url, "--topic-root", root, "--factories", "4",
        "--rate", "3000", "--count", "1500", "--batch", str(batch),
        "--ts-format", ts_format, "--qos", str(qos),
    )  # fmt: skip
    assert summary["readings"] == 1500
    got, statuses = _wait_for(collector, root, 1500)
    assert got == 1500
    assert len(statuses) == 4
    for history in statuses.values():
        assert history[0] == "online"
        assert history[-1] == "offline"


def test_sigterm_ends_a_forever_run_cleanly(collector, mqtt_url):
    root = collector.root
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators", "run", "--url", mqtt_url, "--topic-root", root,
         "--factories", "2", "--rate", "100", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(2.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert 50 < summary["readings"] < 400
    got, _ = _wait_for(collector, root, summary["readings"])
    assert got == summary["readings"]


def test_gateway_offline_fires_the_last_will(collector, mqtt_url):
    root = collector.root
    pool = GatewayPool(mqtt_url, root, {0: "site-a/f-1", 1: "site-a/f-2"}, links=0)
    pool.open()
    try:
        pool.go_offline(0)  # TCP closed without DISCONNECT: the broker publishes the will
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, statuses = check_contract(collector.snapshot(), root)
            if statuses.get("site-a/f-1", [])[-1:] == ["offline"]:
                break
            time.sleep(0.05)
        # Before the cut the gateway restates "online" and waits for its ack (see Link.drop).
        assert _changes(statuses["site-a/f-1"]) == ["online", "offline"]
        assert statuses["site-a/f-2"] == ["online"]
        pool.go_online(0)
        time.sleep(0.3)
        _, statuses = check_contract(collector.snapshot(), root)
        assert _changes(statuses["site-a/f-1"]) == ["online", "offline", "online"]
    finally:
        pool.close()


def test_replay_publishes_a_generated_directory(collector, mqtt_url, tmp_path: Path):
    sc = small_scenario(factories=3)
    generate(Simulation(sc, start_ms=sc.start_ms), tmp_path, 900)
    lines = (tmp_path / "readings.csv").read_text().splitlines()[1:]
    expected = len({(t, key.rsplit("/", 1)[0]) for t, key, _ in (x.split(",") for x in lines)})
    root = collector.root
    summary = _cli(
        "replay", str(tmp_path), "--url", mqtt_url, "--topic-root", root, "--batch", "10",
    )  # fmt: skip
    assert summary["readings"] == expected
    got, _ = _wait_for(collector, root, expected)
    assert got == expected


def test_generate_command_writes_the_fixed_file_format(tmp_path: Path):
    summary = _cli("generate", "--out", str(tmp_path), "--factories", "3", "--duration", "600")
    assert summary["rows"] > 0
    heads = {p.name: p.read_text().splitlines()[0] for p in tmp_path.glob("*.csv")}
    assert heads == {
        "series.csv": "series,site,factory,kind,sensor,metric,unit,capacity",
        "readings.csv": "time_ms,series,value",
        "labels.csv": "series,start_ms,end_ms,type",
    }
    assert (tmp_path / "scenario.yaml").exists()
    times = [int(x.split(",")[0]) for x in (tmp_path / "readings.csv").read_text().splitlines()[1:]]
    assert times == sorted(times)


def test_rate_sets_the_readings_per_second(collector, mqtt_url):
    summary = _cli(
        "run", "--url", mqtt_url, "--topic-root", collector.root, "--factories", "3",
        "--rate", "300", "--duration", "2", "--batch", "3",
    )  # fmt: skip
    assert 450 <= summary["readings"] <= 700, summary


def test_live_run_appends_labels_as_anomalies_start(collector, mqtt_url, tmp_path: Path):
    labels = tmp_path / "labels.csv"
    summary = _cli(
        "run", "--url", mqtt_url, "--topic-root", collector.root, "--factories", "5",
        "--speed", "0", "--count", "16000", "--batch", "50", "--qos", "0",
        "--anomaly-scale", "20", "--labels", str(labels),
    )  # fmt: skip
    rows = labels.read_text().splitlines()
    assert rows[0] == "series,start_ms,end_ms,type"
    assert summary["labels"] == len(rows) - 1 > 0
    got, statuses = _wait_for(collector, collector.root, summary["readings"])
    assert got == summary["readings"]
    assert len(statuses) == 5
    # Silent windows are silent on the wire too, and a gateway's outage shows as its will.
    received = [
        (topic.split("/", 2)[2], r["ts"])
        for topic, payload, _ in collector.snapshot()
        if not topic.endswith("/status")
        for r in json.loads(payload)["readings"]
    ]
    silent = [r.split(",") for r in rows[1:] if r.endswith((",dropout", ",gateway_offline"))]
    assert any(kind == "gateway_offline" for *_, kind in silent)
    for series, start, end, _ in silent:
        prefix = series.rstrip("*").rsplit("/", 1)[0] + "/"
        hits = [ts for path, ts in received if (path + "/").startswith(prefix)]
        assert not [ts for ts in hits if int(start) <= ts <= int(end)], series
    offline = [g for g, history in statuses.items() if "offline" in history[:-1]]
    assert offline, "a gateway_offline window fired a will"


async def test_gateways_reconnect_and_say_online_after_the_broker_link_breaks(collector, mqtt_url):
    import asyncio
    import threading

    from simulators.live import RunOptions, run_live
    from simulators.payload import PayloadEncoder

    from tests._support import TcpProxy, target_of, via_proxy

    root = collector.root
    sc = small_scenario(factories=2, anomalies=False)
    sim = Simulation(sc, start_ms=int(time.time() * 1000) - 3_600_000)
    gateways = {int(f): sim.layout.gateway(int(f)) for f in sim.factories}
    async with TcpProxy(*target_of(mqtt_url, 1883)) as proxy:
        pool = GatewayPool(via_proxy(mqtt_url, proxy), root, gateways, qos=1, links=0)
        await asyncio.to_thread(pool.open)
        stop = threading.Event()
        options = RunOptions(speed=600, duration_s=4.0)
        encoder = PayloadEncoder(sim.layout, root, batch=2)
        run = asyncio.create_task(asyncio.to_thread(run_live, sim, encoder, pool, options, stop))
        await asyncio.sleep(1.0)
        proxy.cut()  # both sides see a reset: the broker fires both wills
        await asyncio.sleep(1.0)
        proxy.restore()
        stats = await asyncio.wait_for(run, 30)
        await asyncio.to_thread(pool.close)
    _got, statuses = _wait_for(collector, root, stats.readings)
    unique = {
        (topic, r["ts"])
        for topic, payload, _ in collector.snapshot()
        if not topic.endswith("/status")
        for r in json.loads(payload).get("readings", [])
    }
    assert len(unique) == stats.readings, "QoS 1: nothing lost (duplicates are allowed)"
    for history in statuses.values():
        assert _changes(history)[:3] == ["online", "offline", "online"], history


def test_an_unreachable_broker_ends_the_run_with_an_error():
    done = subprocess.run(
        [sys.executable, "-m", "simulators", "run", "--url", "mqtt://127.0.0.1:1",
         "--factories", "1", "--duration", "1"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "cannot connect" in done.stderr

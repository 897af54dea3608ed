"""Benchmark of controlcenter-sim: readings per second generated, encoded and offered to MQTT.

Reproduce (the local Mosquitto at 127.0.0.1:1883):

    .venv/bin/python bench/simulator.py                       # all figures, 10 s per run
    .venv/bin/python bench/simulator.py --seconds 20 --series 100000 --url mqtt://host:1883

Each MQTT figure is one ``controlcenter-sim run --speed 0`` process (as fast as it can) over
100,000 series; the exact command is printed beside its figure. A reading is one sensor at
one timestamp (4-6 metric values); "offered" counts readings written to the socket (QoS 0) or
acknowledged by the broker (QoS 1).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _offline(series: int, seconds: float) -> None:
    """Generation and JSON encoding alone, no broker: the ceiling of one process."""
    from simulators.engine import Simulation
    from simulators.payload import PayloadEncoder
    from simulators.scenario import load_scenario

    sc = load_scenario().with_overrides(series=series)
    sim = Simulation(sc, start_ms=sc.start_ms)
    began, readings = time.perf_counter(), 0
    while time.perf_counter() - began < seconds / 2:
        for kind in sim.kinds:
            readings += sim.next_frame(kind).n_readings
    gen = readings / (time.perf_counter() - began)
    print(f"generate (numpy, no output)        {gen:>12,.0f} readings/s")
    for batch in (1, 50):
        enc = PayloadEncoder(sim.layout, "cc", batch=batch)
        began, readings = time.perf_counter(), 0
        while time.perf_counter() - began < seconds / 4:
            frame = sim.next_frame(sim.kinds[1])
            readings += sum(m.readings for m in enc.messages(frame))
        rate = readings / (time.perf_counter() - began)
        print(f"generate + encode JSON, batch {batch:<3}  {rate:>12,.0f} readings/s")


def _live(url: str, series: int, seconds: float, batch: int, qos: int) -> None:
    cmd = [
        sys.executable, "-m", "simulators", "run", "--url", url, "--topic-root", "ccbench",
        "--series", str(series), "--speed", "0", "--batch", str(batch), "--qos", str(qos),
        "--duration", str(seconds), "--clear-status", "--log-level", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        print(f"FAILED {' '.join(cmd)}\n{done.stderr}")
        return
    s = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"mqtt batch {batch:<3} qos {qos}  {s['readings_per_s']:>12,.0f} readings/s"
        f"  {s['messages'] / s['seconds']:>9,.0f} msg/s  lost {s['lost']}"
        f"\n    $ controlcenter-sim {' '.join(cmd[3:])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"controlcenter-sim benchmark: {args.series:,} series, {os.cpu_count()} CPUs")
    _offline(args.series, args.seconds)
    for batch, qos in ((50, 0), (50, 1), (1, 0), (1, 1)):
        _live(args.url, args.series, args.seconds, batch, qos)


if __name__ == "__main__":
    main()

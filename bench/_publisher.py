"""Benchmark publisher (a separate process): N readings as fast as the broker takes them.

Usage: python bench/_publisher.py HOST PORT ROOT N BATCH [SERIES]
Prints one JSON line: readings, messages, seconds.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time

import paho.mqtt.client as mqtt


def _kw(series: int, i: int) -> float:
    """A plausible, smooth load: a level per meter, a slow swing, a little noise."""
    return (
        80.0 + series % 50 + 5.0 * math.sin(i / 60.0) + ((series * 7919 + i * 104729) % 100) / 200.0
    )


def main() -> None:
    host, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    n, batch = int(sys.argv[4]), int(sys.argv[5])
    series = int(sys.argv[6]) if len(sys.argv) > 6 else 1000
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.time_ns()}")
    client.max_inflight_messages_set(1000)
    done = threading.Semaphore(0)
    outstanding = threading.BoundedSemaphore(20_000)

    def on_publish(*_: object) -> None:
        outstanding.release()
        done.release()

    client.on_publish = on_publish
    client.connect(host, port, keepalive=60)
    client.loop_start()
    # One reading per series per second, ending before now: inside the age and skew limits.
    per_series = -(-n // series)
    t0 = int(time.time() * 1000) - (per_series + 60) * 1000
    topics = [f"{root}/v1/bench/f{s % 100:03d}/power/m{s}" for s in range(series)]
    messages = n // batch
    started = time.perf_counter()
    for k in range(messages):
        s, rnd = k % series, k // series
        if batch == 1:
            payload = b'{"ts":%d,"values":{"kw":%.2f}}' % (t0 + rnd * 1000, _kw(s, rnd))
        else:
            # A gateway's buffer: one meter's last `batch` seconds.
            base = rnd * batch
            payload = json.dumps(
                {
                    "readings": [
                        {"ts": t0 + (base + j) * 1000, "values": {"kw": round(_kw(s, base + j), 2)}}
                        for j in range(batch)
                    ]
                }
            ).encode()
        outstanding.acquire()
        client.publish(topics[s], payload, qos=1)
    for _ in range(messages):
        done.acquire()
    seconds = time.perf_counter() - started
    client.loop_stop()
    client.disconnect()
    sys.stdout.write(
        json.dumps({"readings": messages * batch, "messages": messages, "seconds": seconds}) + "\n"
    )


if __name__ == "__main__":
    main()

"""Replay a ``generate`` directory to MQTT, as the gateways of its factories would send it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from simulators.files import read_readings, read_series
from simulators.payload import Message, TsFormat
from simulators.publisher import GatewayPool

__all__ = ["ReplayOptions", "replay"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """How to replay.

    Attributes:
        speed: Simulated seconds per wall second; 0 replays as fast as possible.
        batch: Readings per message (per sensor); 1 sends single readings.
        ts_format: ``"ms"`` or ``"rfc3339"``.
        count: Stop after this many readings.
        shift_to_ms: Move timestamps so the first reading lands here (e.g. now), or None.
    """

    speed: float = 0.0
    batch: int = 1
    ts_format: TsFormat = "ms"
    count: int | None = None
    shift_to_ms: int | None = None


class _Readings:
    """Groups long rows ``(time, series, value)`` into readings of one sensor at one time."""

    def __init__(self, directory: Path, root: str) -> None:
        rows = read_series(directory)
        self.directory = directory
        self.metric = {r["series"]: r["metric"] for r in rows}
        self.sensor = {r["series"]: r["series"].rsplit("/", 1)[0] for r in rows}
        gateways = sorted({f"{r['site']}/{r['factory']}" for r in rows})
        self.gateway_index = {g: i for i, g in enumerate(gateways)}
        self.root = root

    def __iter__(self) -> Iterator[tuple[int, str, dict[str, float]]]:
        current: tuple[int, str] | None = None
        values: dict[str, float] = {}
        for times, keys, vals in read_readings(self.directory):
            for t, key, v in zip(times.tolist(), keys, vals.tolist(), strict=True):
                sensor = self.sensor[key]
                if current != (t, sensor):
                    if current is not None:
                        yield current[0], current[1], values
                    current, values = (t, sensor), {}
                values[self.metric[key]] = v
        if current is not None:
            yield current[0], current[1], values


def replay(
    directory: Path,
    url: str,
    root: str,
    options: ReplayOptions,
    stop: threading.Event,
    *,
    qos: int = 1,
    links: int = 0,
    client_prefix: str = "ccsim-replay",
    clear_status: bool = False,
) -> tuple[int, int, float]:
    """Publish the readings of ``directory`` through one gateway per factory.

    Returns:
        ``(readings, messages, seconds)`` published.
    """
    readings = _Readings(directory, root)
    gateways = {i: g for g, i in readings.gateway_index.items()}
    pool = GatewayPool(url, root, gateways, qos=qos, links=links, client_prefix=client_prefix)
    pool.open()
    encode = msgspec.json.Encoder().encode
    pending: dict[str, list[dict[str, object]]] = {}
    seq: dict[str, int] = {}
    first: int | None = None
    wall0 = time.monotonic()
    sent = 0
    try:
        for t, sensor, values in readings:
            if stop.is_set() or (options.count is not None and sent >= options.count):
                break
            first = t if first is None else first
            if options.speed > 0:
                wait = wall0 + (t - first) / 1000.0 / options.speed - time.monotonic()
                if wait > 0 and stop.wait(wait):
                    break
            ts = t if options.shift_to_ms is None else t - first + options.shift_to_ms
            stamp: object = ts
            if options.ts_format == "rfc3339":
                stamp = str(
                    np.datetime_as_string(np.datetime64(ts, "ms"), unit="ms", timezone="UTC")
                )
            n = seq.get(sensor, 0)
            seq[sensor] = n + 1
            batch = pending.setdefault(sensor, [])
            batch.append({"ts": stamp, "seq": n, "values": values})
            sent += 1
            if len(batch) >= options.batch:
                _send(pool, readings, sensor, pending.pop(sensor), encode, options.batch)
        for sensor, batch in pending.items():
            _send(pool, readings, sensor, batch, encode, options.batch)
        pool.flush()
    finally:
        pool.close(clear_status=clear_status)
    return pool.readings, pool.messages, time.monotonic() - wall0


def _send(
    pool: GatewayPool,
    readings: _Readings,
    sensor: str,
    batch: list[dict[str, object]],
    encode: object,
    size: int,
) -> None:
    site, factory = sensor.split("/")[:2]
    factory_index = readings.gateway_index[f"{site}/{factory}"]
    topic = f"{readings.root}/v1/{sensor}"
    body: object = batch[0] if size == 1 else {"readings": batch}
    payload = encode(body)  # type: ignore[operator]
    pool.publish(Message(factory_index, topic, payload, len(batch)))

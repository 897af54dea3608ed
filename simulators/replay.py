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
    """Groups long rows ``(time, series, value)`` into readings of one sensor at one time.

    Rows of one reading are adjacent in readings.csv (sorted by time, then series, and a
    sensor's series are numbered together), so readings start where time or sensor change.
    """

    def __init__(self, directory: Path, root: str) -> None:
        rows = read_series(directory)
        self.directory = directory
        self.metric = {r["series"]: r["metric"] for r in rows}
        sensors = sorted({r["series"].rsplit("/", 1)[0] for r in rows})
        self.sensors = sensors
        self.sensor_index = {s: i for i, s in enumerate(sensors)}
        gateways = sorted({f"{r['site']}/{r['factory']}" for r in rows})
        self.gateway_index = {g: i for i, g in enumerate(gateways)}
        self.root = root

    def __iter__(self) -> Iterator[tuple[int, str, dict[str, float]]]:
        carry: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        for times, keys, vals in read_readings(self.directory):
            uniq, inverse = np.unique(keys, return_inverse=True)
            sensor = np.array([self.sensor_index[k.rsplit("/", 1)[0]] for k in uniq])[inverse]
            metric = np.array([self.metric[k] for k in uniq], dtype=object)[inverse]
            if carry is not None:
                times, sensor, metric, vals = (
                    np.concatenate((a, b))
                    for a, b in zip(carry, (times, sensor, metric, vals), strict=True)
                )
            new = np.ones(len(times), dtype=np.bool_)
            new[1:] = (times[1:] != times[:-1]) | (sensor[1:] != sensor[:-1])
            starts = np.flatnonzero(new)
            # The last reading may go on in the next chunk: keep it for then.
            last = int(starts[-1])
            carry = (times[last:], sensor[last:], metric[last:], vals[last:])
            yield from self._group(
                times[:last], sensor[:last], metric[:last], vals[:last], starts[:-1]
            )
        if carry is not None and len(carry[0]):
            t, s, m, v = carry
            yield from self._group(t, s, m, v, np.zeros(1, dtype=np.intp))

    def _group(
        self,
        times: np.ndarray,
        sensor: np.ndarray,
        metric: np.ndarray,
        vals: np.ndarray,
        starts: np.ndarray,
    ) -> Iterator[tuple[int, str, dict[str, float]]]:
        ends = [*starts[1:].tolist(), len(times)]
        t_list, s_list = times[starts].tolist(), sensor[starts].tolist()
        m_list, v_list = metric.tolist(), vals.tolist()
        for a, b, t, s in zip(starts.tolist(), ends, t_list, s_list, strict=True):
            yield t, self.sensors[s], dict(zip(m_list[a:b], v_list[a:b], strict=True))


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

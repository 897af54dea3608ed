"""MQTT topics and JSON payloads of the public contract (v1), encoded with msgspec.

Topic ``{root}/v1/{site}/{factory}/{kind}/{sensor}``; payload
``{"ts": ..., "seq": n, "values": {...}}`` per reading, or ``{"readings": [...]}`` for a
gateway batch of one sensor. ``ts`` is epoch milliseconds (int) or RFC 3339 UTC with
milliseconds (``2026-03-16T00:00:00.061Z``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import numpy as np

from simulators.frame import Frame
from simulators.kinds import Kind
from simulators.layout import Layout

__all__ = ["Message", "PayloadEncoder", "TsFormat", "status_topic"]

TsFormat = Literal["ms", "rfc3339"]


class _Reading(msgspec.Struct):
    """One reading as the contract spells it (structs encode about twice as fast as dicts)."""

    ts: int | str
    seq: int
    values: Any


class _Batch(msgspec.Struct):
    readings: list[_Reading]


def status_topic(root: str, gateway: str) -> str:
    """``{root}/v1/{site}/{factory}/status``: where a gateway says online/offline."""
    return f"{root}/v1/{gateway}/status"


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message to publish.

    Attributes:
        factory: Factory index (which gateway sends it).
        topic: Full topic.
        payload: JSON bytes.
        readings: Readings inside.
    """

    factory: int
    topic: str
    payload: bytes
    readings: int


class PayloadEncoder:
    """Turns frames into messages.

    Args:
        layout: The complex (for topics).
        root: Topic root, ``cc`` by default in production.
        batch: Readings per message: 1 sends single readings, N > 1 gateway batches.
        ts_format: ``"ms"`` or ``"rfc3339"``.
    """

    def __init__(
        self, layout: Layout, root: str, *, batch: int = 1, ts_format: TsFormat = "ms"
    ) -> None:
        self.batch = max(1, batch)
        self.ts_format = ts_format
        self.root = root
        self._encode = msgspec.json.Encoder().encode
        self._topics = {
            kind: [f"{root}/v1/{layout.sensor_path(kind, i)}" for i in range(len(table))]
            for kind, table in layout.tables.items()
        }
        self._factory = {kind: table.factory.tolist() for kind, table in layout.tables.items()}
        # One struct type per kind whose fields are its metrics, in contract order.
        self._values = {
            kind: msgspec.defstruct(f"{kind.value.title()}Values", [(m, float) for m in metrics])
            for kind, metrics in ((k, t.metrics) for k, t in layout.tables.items())
        }

    def _times(self, frame: Frame) -> list[list[Any]]:
        if self.ts_format == "rfc3339":
            stamps = np.datetime_as_string(
                frame.time_ms.astype("datetime64[ms]"), unit="ms", timezone="UTC"
            )
            out: list[list[Any]] = stamps.tolist()
            return out
        ints: list[list[Any]] = frame.time_ms.tolist()
        return ints

    def messages(self, frame: Frame, limit: int | None = None) -> list[Message]:
        """Messages for every present reading of ``frame``, at most ``limit`` readings.

        With ``batch > 1`` each sensor sends one message per ``batch`` steps of the frame.
        """
        kind: Kind = frame.kind
        topics, factories = self._topics[kind], self._factory[kind]
        times, values = self._times(frame), frame.values.tolist()
        present, seq = frame.present.tolist(), frame.seq.tolist()
        sensors = frame.sensors.tolist()
        budget = limit if limit is not None else -1
        out: list[Message] = []
        steps = len(seq)
        encode = self._encode
        values_type = self._values[kind]
        if self.batch == 1:
            for k in range(steps):
                for i, s in enumerate(sensors):
                    if not present[i][k]:
                        continue
                    if budget == 0:
                        return out
                    body = _Reading(times[i][k], seq[k], values_type(*values[i][k]))
                    out.append(Message(factories[s], topics[s], encode(body), 1))
                    budget -= 1
            return out
        for k0 in range(0, steps, self.batch):
            for i, s in enumerate(sensors):
                ti, vi, pi = times[i], values[i], present[i]
                readings = [
                    _Reading(ti[k], seq[k], values_type(*vi[k]))
                    for k in range(k0, min(k0 + self.batch, steps))
                    if pi[k]
                ]
                if not readings:
                    continue
                if budget == 0:
                    return out
                if 0 < budget < len(readings):
                    readings = readings[:budget]
                if budget > 0:
                    budget -= len(readings)
                payload = encode(_Batch(readings))
                out.append(Message(factories[s], topics[s], payload, len(readings)))
        return out

    def sensor_messages(
        self,
        factory: int,
        topic: str,
        time_ms: np.ndarray,
        seq: list[int],
        values: list[dict[str, float]],
    ) -> list[Message]:
        """Messages of one sensor's readings (``batch`` readings per message), for kinds
        outside the layout's tables (the safety sensors)."""
        stamps: list[Any]
        if self.ts_format == "rfc3339":
            stamps = np.datetime_as_string(
                time_ms.astype("datetime64[ms]"), unit="ms", timezone="UTC"
            ).tolist()
        else:
            stamps = time_ms.tolist()
        readings = [_Reading(t, q, v) for t, q, v in zip(stamps, seq, values, strict=True)]
        if self.batch == 1:
            return [Message(factory, topic, self._encode(r), 1) for r in readings]
        return [
            Message(factory, topic, self._encode(_Batch(part)), len(part))
            for part in (readings[i : i + self.batch] for i in range(0, len(readings), self.batch))
        ]

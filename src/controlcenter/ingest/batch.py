"""Accumulates decoded messages into one columnar batch with its acknowledgement handle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from controlcenter.domain import DeadLetter, GatewayStatus, SensorKey, SeriesKey
from controlcenter.wire.payload import Decoded

__all__ = ["Batcher", "IngestBatch", "Source"]


def _noop() -> None:
    return None


class Source(NamedTuple):
    """The message that brought readings ``start:stop`` of a batch."""

    topic: str
    payload: bytes
    start: int
    stop: int


@dataclass(slots=True)
class IngestBatch:
    """What ingest hands on: readings keyed by (sensor, metric), and how to acknowledge them.

    Attributes:
        keys: the distinct series keys of the batch.
        key_index: ``int32[n]`` index into ``keys`` per reading.
        time: ``int64[n]`` microseconds since the epoch.
        value: ``float64[n]``.
        dead: dead letters to record with the readings.
        statuses: gateway status changes to record.
        messages: how many MQTT messages the batch covers.
        ack: call once everything above is committed; acknowledges the messages.
        sources: the messages the readings came from, in order (for dead letters of
            readings refused after decoding).
    """

    keys: list[SeriesKey]
    key_index: npt.NDArray[np.int32]
    time: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    dead: list[DeadLetter] = field(default_factory=list)
    statuses: list[GatewayStatus] = field(default_factory=list)
    messages: int = 0
    ack: Callable[[], None] = _noop
    sources: list[Source] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.time)

    def refused(self, mask: npt.NDArray[np.bool_], reason: str, why: str) -> list[DeadLetter]:
        """A dead letter for each message with readings refused by ``mask`` (``bool[n]``)."""
        if not self.sources:
            return []
        # The sources tile the readings in order, each with at least one.
        starts = np.fromiter((src.start for src in self.sources), np.intp, len(self.sources))
        refused = np.add.reduceat(mask.astype(np.intp), starts)
        letters = []
        for k in np.flatnonzero(refused).tolist():
            src, n = self.sources[k], int(refused[k])
            detail = f"{n} values refused, {src.stop - src.start - n} kept: {why}"
            letters.append(DeadLetter(src.topic, src.payload, reason, detail))
        return letters


class Batcher:
    """Collects messages until :meth:`take`; cheap per message (list appends only)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._keys: dict[SeriesKey, int] = {}
        self._index: list[int] = []
        self._time: list[int] = []
        self._value: list[float] = []
        self._dead: list[DeadLetter] = []
        self._statuses: list[GatewayStatus] = []
        self._acks: list[tuple[int, int]] = []
        self._sources: list[Source] = []
        self.messages = 0

    @property
    def readings(self) -> int:
        """Readings collected so far."""
        return len(self._time)

    def add(self, sensor: SensorKey, decoded: Decoded, topic: str, payload: bytes) -> None:
        """Add one message's accepted readings."""
        if decoded.values:
            start = len(self._time)
            self._sources.append(Source(topic, payload, start, start + len(decoded.values)))
        keys = self._keys
        lut: dict[str, int] = {}
        for m in dict.fromkeys(decoded.metrics):
            k = SeriesKey(sensor, m)
            i = keys.get(k)
            if i is None:
                i = keys[k] = len(keys)
            lut[m] = i
        self._index.extend([lut[m] for m in decoded.metrics])
        self._time.extend(decoded.times)
        self._value.extend(decoded.values)

    def add_dead(self, letter: DeadLetter) -> None:
        """Add a dead letter."""
        self._dead.append(letter)

    def add_status(self, status: GatewayStatus) -> None:
        """Add a gateway status change."""
        self._statuses.append(status)

    def add_ack(self, mid: int, qos: int) -> None:
        """Count one message and remember how to acknowledge it."""
        self.messages += 1
        if qos > 0:
            self._acks.append((mid, qos))

    def take(self, make_ack: Callable[[list[tuple[int, int]]], Callable[[], None]]) -> IngestBatch:
        """Hand over everything collected as one batch and start afresh."""
        batch = IngestBatch(
            keys=list(self._keys),
            key_index=np.array(self._index, dtype=np.int32),
            time=np.array(self._time, dtype=np.int64),
            value=np.array(self._value, dtype=np.float64),
            dead=self._dead,
            statuses=self._statuses,
            messages=self.messages,
            ack=make_ack(self._acks),
            sources=self._sources,
        )
        self._reset()
        return batch

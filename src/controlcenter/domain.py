"""Domain vocabulary shared by every stage: sensor and series keys and the columnar Batch.

Sensor kinds, their metrics, units and limits are data: ``controlcenter.kinds``.

Times are ``int64`` microseconds since the Unix epoch (UTC) everywhere downstream of ingest:
the resolution PostgreSQL's ``timestamptz`` keeps, and plain integers for numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "US_PER_S",
    "Batch",
    "DeadLetter",
    "GatewayStatus",
    "SensorKey",
    "SeriesKey",
    "datetime_from_us",
]

US_PER_S = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_from_us(us: int) -> datetime:
    """The UTC datetime of ``us`` microseconds since the epoch, exactly (no float rounding).

    >>> datetime_from_us(1_795_425_992_123_457).isoformat()
    '2026-11-23T09:26:32.123457+00:00'
    """
    return _EPOCH + timedelta(microseconds=us)


class SensorKey(NamedTuple):
    """A sensor as the topic names it: ``cc/v1/{site}/{factory}/{kind}/{sensor}``."""

    site: str
    factory: str
    kind: str  #: a kind of the registry (``controlcenter.kinds``)
    sensor: str


class SeriesKey(NamedTuple):
    """One metric of one sensor: the unit the catalog gives a dense ``series_id``."""

    sensor: SensorKey
    metric: str


@dataclass(frozen=True, slots=True)
class Batch:
    """Readings in columns; the one shape every stage after ingest consumes.

    Attributes:
        series: ``int32[n]`` dense series ids (the catalog's ``series_id``).
        time: ``int64[n]`` microseconds since the Unix epoch, UTC.
        value: ``float64[n]`` values in the metric's fixed unit.
        by_series: True when the readings are in (series, time) order with one reading per
            (series, time) (:meth:`deduplicated` made it): later stages skip their sort.

    >>> b = Batch.from_lists([3, 1], [2_000_000, 1_000_000], [1.5, 2.5])
    >>> len(b), b.series.dtype.name, b.time.dtype.name
    (2, 'int32', 'int64')
    >>> b.sorted_by_time().series.tolist()
    [1, 3]
    """

    series: npt.NDArray[np.int32]
    time: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    by_series: bool = False

    def __post_init__(self) -> None:
        n = len(self.series)
        if len(self.time) != n or len(self.value) != n:
            raise ValueError("Batch columns must have the same length")

    def __len__(self) -> int:
        return len(self.series)

    @classmethod
    def empty(cls) -> Batch:
        """A batch of no readings."""
        return cls.from_lists([], [], [])

    @classmethod
    def from_lists(
        cls,
        series: npt.ArrayLike,
        time: npt.ArrayLike,
        value: npt.ArrayLike,
    ) -> Batch:
        """Build a batch from any array-likes, converting to the canonical dtypes."""
        return cls(
            np.asarray(series, dtype=np.int32),
            np.asarray(time, dtype=np.int64),
            np.asarray(value, dtype=np.float64),
        )

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> Batch:
        """The readings at ``index`` (integer positions or a boolean mask)."""
        return Batch(self.series[index], self.time[index], self.value[index])

    def sorted_by_time(self) -> Batch:
        """The same readings in time order (stable, so equal times keep arrival order)."""
        order = np.argsort(self.time, kind="stable")
        return self.take(order)

    def deduplicated(self) -> Batch:
        """One reading per (series, time), the first that arrived wins (like the database),
        in (series, time) order: the batch is sorted once, here, for every later stage.

        >>> b = Batch.from_lists([2, 1, 2], [5, 9, 5], [1.0, 2.0, 3.0]).deduplicated()
        >>> b.series.tolist(), b.value.tolist(), b.by_series
        ([1, 2], [2.0, 1.0], True)
        """
        if self.by_series:
            return self
        if len(self) < 2:
            return Batch(self.series, self.time, self.value, by_series=True)
        order = np.lexsort((self.time, self.series))
        s, t = self.series[order], self.time[order]
        first = np.ones(len(order), dtype=np.bool_)
        first[1:] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])
        # lexsort is stable, so within equal keys the earliest arrival comes first.
        keep = order if first.all() else order[first]
        return Batch(self.series[keep], self.time[keep], self.value[keep], by_series=True)

    def series_ids(self) -> npt.NDArray[np.int32]:
        """The distinct series ids, ascending; without a sort when :attr:`by_series`.

        >>> b = Batch.from_lists([4, 2, 4], [1, 2, 3], [0.0, 0.0, 0.0])
        >>> b.series_ids().tolist(), b.deduplicated().series_ids().tolist()
        ([2, 4], [2, 4])
        """
        s = self.series
        if not self.by_series:
            return np.unique(s)
        first = np.ones(len(s), dtype=np.bool_)
        first[1:] = s[1:] != s[:-1]
        return s[first]

    @staticmethod
    def concat(batches: list[Batch]) -> Batch:
        """Join batches end to end."""
        if not batches:
            return Batch.empty()
        if len(batches) == 1:
            return batches[0]
        return Batch(
            np.concatenate([b.series for b in batches]),
            np.concatenate([b.time for b in batches]),
            np.concatenate([b.value for b in batches]),
        )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be (fully) ingested, kept with its raw payload and reason.

    ``reason`` is a short stable code (a bounded metric label); ``detail`` explains it.
    """

    topic: str
    payload: bytes
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """A gateway's ``online``/``offline`` status message (``offline`` is its last will)."""

    site: str
    factory: str
    status: str
    received_us: int

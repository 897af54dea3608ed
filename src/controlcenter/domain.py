"""Domain vocabulary shared by every stage: sensor kinds, metrics, units and the columnar Batch.

Times are ``int64`` microseconds since the Unix epoch (UTC) everywhere downstream of ingest:
the resolution PostgreSQL's ``timestamptz`` keeps, and plain integers for numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "METRICS",
    "METRIC_LIMITS",
    "US_PER_S",
    "Batch",
    "DeadLetter",
    "GatewayStatus",
    "Kind",
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


class Kind(StrEnum):
    """Sensor kinds of the MQTT contract."""

    AIR = "air"
    POWER = "power"
    PARKING = "parking"


#: Metrics per kind and their fixed units (MQTT contract v1).
METRICS: Mapping[Kind, Mapping[str, str]] = {
    Kind.AIR: {
        "pm10": "ug/m3",
        "pm25": "ug/m3",
        "co2": "ppm",
        "voc": "ppb",
        "temp": "C",
        "humidity": "%",
    },
    Kind.POWER: {"kw": "kW", "kwh": "kWh", "voltage": "V", "current": "A", "pf": ""},
    Kind.PARKING: {"occupied": "spaces", "capacity": "spaces"},
}

#: What ingest accepts per kind and metric, ``(lo, hi)`` inclusive in the metric's unit;
#: other finite values are dead letters (``value_out_of_range``). No sensor of the metric,
#: working or broken, reports beyond these (concentrations past the pure substance, 10 GW,
#: colder than absolute zero), and they keep every sum a rollup or an engine statistic
#: takes finite (|value| <= 1e15: even a billion of them stay far from float overflow;
#: ``kw: 1e308`` twice in a minute stopped every rollup). They are far wider than the
#: anomaly engine's static limits (``anomaly/profile.py``), which flag values that are
#: impossible but reportable (a PM2.5 of 5000): those are stored and raise events.
METRIC_LIMITS: Mapping[Kind, Mapping[str, tuple[float, float]]] = {
    Kind.AIR: {
        "pm10": (-100.0, 1e6),  # ug/m3: 1 g/m3
        "pm25": (-100.0, 1e6),
        "co2": (-100.0, 1e6),  # ppm: pure CO2
        "voc": (-100.0, 1e9),  # ppb: pure
        "temp": (-273.15, 1e4),  # C: absolute zero
        "humidity": (-100.0, 200.0),  # %
    },
    Kind.POWER: {
        "kw": (-1e7, 1e7),  # 10 GW
        "kwh": (-1e15, 1e15),  # a counter
        "voltage": (-1e6, 1e6),
        "current": (-1e6, 1e6),
        "pf": (-10.0, 10.0),  # in [-1, 1]
    },
    Kind.PARKING: {"occupied": (-1e6, 1e6), "capacity": (-1e6, 1e6)},
}


class SensorKey(NamedTuple):
    """A sensor as the topic names it: ``cc/v1/{site}/{factory}/{kind}/{sensor}``."""

    site: str
    factory: str
    kind: Kind
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

    >>> b = Batch.from_lists([3, 1], [2_000_000, 1_000_000], [1.5, 2.5])
    >>> len(b), b.series.dtype.name, b.time.dtype.name
    (2, 'int32', 'int64')
    >>> b.sorted_by_time().series.tolist()
    [1, 3]
    """

    series: npt.NDArray[np.int32]
    time: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]

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
        """One reading per (series, time): the first that arrived wins, like the database."""
        if len(self) < 2:
            return self
        order = np.lexsort((self.time, self.series))
        s, t = self.series[order], self.time[order]
        first = np.ones(len(order), dtype=np.bool_)
        first[1:] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])
        if first.all():
            return self
        # lexsort is stable, so within equal keys the earliest arrival comes first.
        return self.take(np.sort(order[first]))

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

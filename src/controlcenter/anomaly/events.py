"""Anomaly events in columns, detector codes, and the severity-to-score mapping.

>>> ev = Events.from_lists([7], [1_000_000], [Detector.STUCK], [21.5], [0.8])
>>> len(ev), ev.names().tolist()
(1, ['stuck'])
>>> float(severity_to_score(np.array([0.0, 1.0, 2.0]))[1])
0.5
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

__all__ = ["DETECTOR_NAMES", "Detector", "Events", "severity_to_score"]


class Detector(IntEnum):
    """Detector codes as stored in :attr:`Events.detector` (``uint8``).

    >>> Detector.STUCK.value, DETECTOR_NAMES[Detector.STUCK]
    (5, 'stuck')
    """

    LIMIT = 0  #: value outside the metric's physical limits (or above capacity)
    RATE = 1  #: impossible jump between consecutive readings (or a counter going back)
    ROBUST_Z = 2  #: point anomaly: deviation from the EWMA mean in robust (MAD) sigmas
    EWMA_Z = 3  #: point anomaly against an exponentially weighted mean and variance
    SHIFT = 4  #: level shift or drift (two-sided CUSUM on the robust z-score)
    STUCK = 5  #: flatline: the same value for too many readings
    SILENCE = 6  #: no reading for much longer than the series' usual interval
    RELATION = 7  #: the metrics of one sensor broke their usual relation (multivariate)


#: ``DETECTOR_NAMES[code]`` is the detector's name.
DETECTOR_NAMES: tuple[str, ...] = tuple(d.name.lower() for d in Detector)


def severity_to_score(severity: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Map severities ``x >= 0`` (1 = threshold) to scores ``x**2 / (1 + x**2)`` in [0, 1)."""
    x2 = severity * severity
    out: npt.NDArray[np.float64] = x2 / (1.0 + x2)
    return out


@dataclass(frozen=True, slots=True)
class Events:
    """Detector firings, one row per (reading, detector), in columns.

    Attributes:
        series: ``int32[k]`` dense series id.
        time: ``int64[k]`` reading time in microseconds since the epoch (silence: sweep time).
        detector: ``uint8[k]`` :class:`Detector` code.
        value: ``float64[k]`` the reading's value (silence: the last value received).
        score: ``float64[k]`` this detector's score in [0.5, 1].
        start: ``int64[k]`` when the episode the event belongs to began: the onset of a
            statistical detector's episode (an event at its onset, and again only when it
            grows), the reading's own time for limit, rate and stuck (which fire on every
            reading the condition holds), the last reading's time for silence.

    >>> one = Events.from_lists([1], [5], [Detector.RATE], [2.0], [0.7])
    >>> Events.concat([Events.empty(), one]).series.tolist()
    [1]
    """

    series: npt.NDArray[np.int32]
    time: npt.NDArray[np.int64]
    detector: npt.NDArray[np.uint8]
    value: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    start: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.series)

    @classmethod
    def from_lists(
        cls,
        series: npt.ArrayLike,
        time: npt.ArrayLike,
        detector: npt.ArrayLike,
        value: npt.ArrayLike,
        score: npt.ArrayLike,
        start: npt.ArrayLike | None = None,
    ) -> Events:
        """Build from array-likes, converting to the canonical dtypes (``start``: ``time``)."""
        t = np.asarray(time, dtype=np.int64)
        return cls(
            np.asarray(series, dtype=np.int32),
            t,
            np.asarray(detector, dtype=np.uint8),
            np.asarray(value, dtype=np.float64),
            np.asarray(score, dtype=np.float64),
            t.copy() if start is None else np.asarray(start, dtype=np.int64),
        )

    @classmethod
    def empty(cls) -> Events:
        """No events."""
        return cls.from_lists([], [], [], [], [])

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        """Join event tables end to end."""
        if not parts:
            return Events.empty()
        return Events(
            np.concatenate([e.series for e in parts]),
            np.concatenate([e.time for e in parts]),
            np.concatenate([e.detector for e in parts]),
            np.concatenate([e.value for e in parts]),
            np.concatenate([e.score for e in parts]),
            np.concatenate([e.start for e in parts]),
        )

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> Events:
        """The rows at ``index``."""
        return Events(
            self.series[index],
            self.time[index],
            self.detector[index],
            self.value[index],
            self.score[index],
            self.start[index],
        )

    def sorted(self) -> Events:
        """Rows ordered by (time, series, detector)."""
        return self.take(np.lexsort((self.detector, self.series, self.time)))

    def names(self) -> npt.NDArray[np.str_]:
        """``str[k]`` detector names of the rows."""
        return np.asarray(DETECTOR_NAMES, dtype=np.str_)[self.detector]

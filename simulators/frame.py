"""Frames: a block of consecutive sampling steps of many sensors of one kind."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.kinds import Kind

__all__ = ["Frame"]


@dataclass(slots=True)
class Frame:
    """Readings of ``n`` sensors of one kind over ``k`` steps.

    Attributes:
        kind: Sensor kind.
        metrics: Metric names, the last axis of ``values``.
        sensors: ``intp[n]`` sensor indices into the layout's table of ``kind``.
        seq: ``int64[k]`` step numbers (the payload's ``seq``).
        time_ms: ``int64[n, k]`` reading timestamps, epoch milliseconds.
        values: ``float64[n, k, m]`` values in the metrics' units.
        present: ``bool[n, k]`` False where the sensor sent nothing (dropout, offline).

    >>> f = Frame.empty(Kind.PARKING, ("occupied", "capacity"), 2, 3)
    >>> f.values.shape, int(f.present.sum())
    ((2, 3, 2), 6)
    >>> f.slice_steps(1, 3).time_ms.shape
    (2, 2)
    """

    kind: Kind
    metrics: tuple[str, ...]
    sensors: npt.NDArray[np.intp]
    seq: npt.NDArray[np.int64]
    time_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    present: npt.NDArray[np.bool_]

    @classmethod
    def empty(cls, kind: Kind, metrics: tuple[str, ...], n: int, k: int) -> Frame:
        """A frame of zeros with every reading present (a test helper)."""
        return cls(
            kind,
            metrics,
            np.arange(n, dtype=np.intp),
            np.arange(k, dtype=np.int64),
            np.zeros((n, k), dtype=np.int64),
            np.zeros((n, k, len(metrics)), dtype=np.float64),
            np.ones((n, k), dtype=np.bool_),
        )

    @property
    def n_readings(self) -> int:
        """Readings present (one reading = one sensor at one timestamp)."""
        return int(self.present.sum())

    def take(self, rows: npt.NDArray[np.intp]) -> Frame:
        """The frame restricted to sensor rows ``rows`` (positions, not sensor ids)."""
        return Frame(
            self.kind,
            self.metrics,
            self.sensors[rows],
            self.seq,
            self.time_ms[rows],
            self.values[rows],
            self.present[rows],
        )

    def slice_steps(self, start: int, stop: int) -> Frame:
        """The steps ``[start, stop)`` of the frame (views, no copy)."""
        return Frame(
            self.kind,
            self.metrics,
            self.sensors,
            self.seq[start:stop],
            self.time_ms[:, start:stop],
            self.values[:, start:stop],
            self.present[:, start:stop],
        )

    def long(
        self, series_offset: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The present readings in long form: ``(time_ms, series, value)``, one row per metric.

        ``series`` is ``series_offset + sensor * m + metric``, the layout's series numbering.
        """
        m = len(self.metrics)
        n, k = self.present.shape
        series = series_offset + self.sensors[:, None, None] * m + np.arange(m)[None, None, :]
        series = np.broadcast_to(series, (n, k, m))
        time = np.broadcast_to(self.time_ms[:, :, None], (n, k, m))
        mask = np.broadcast_to(self.present[:, :, None], (n, k, m))
        return time[mask], series[mask].astype(np.int64), self.values[mask]

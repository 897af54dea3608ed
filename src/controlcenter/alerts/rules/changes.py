"""What rule evaluation reports: the subject of a cell and the changes of one batch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controlcenter.alerts.rules.rule import Rule
from controlcenter.domain import SensorKey

__all__ = ["Changes", "Subject"]

_I64 = npt.NDArray[np.int64]
_F64 = npt.NDArray[np.float64]
_B = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Subject:
    """What a cell watches: a rule and a series or a sensor."""

    rule: Rule
    sensor: SensorKey
    series_id: int | None
    metric: str | None

    @property
    def key(self) -> str:
        """A stable text key (``site/factory/kind/sensor[/metric]``) for the database."""
        s = self.sensor
        base = f"{s.site}/{s.factory}/{s.kind}/{s.sensor}"
        return f"{base}/{self.metric}" if self.metric else base


@dataclass(frozen=True, slots=True)
class Changes:
    """What one evaluation changed, in columns.

    Attributes:
        cell, time, value, opened: transitions in time order; ``opened`` False is a close.
        active_cell, active_peak, active_level, active_time, active_value: cells that were
            touched and are active after the batch, with their peak value, step level,
            and latest reading.
    """

    cell: _I64
    time: _I64
    value: _F64
    opened: _B
    active_cell: _I64
    active_peak: _F64
    active_level: npt.NDArray[np.int8]
    active_time: _I64
    active_value: _F64

    def merged(self, other: Changes) -> Changes:
        """These changes and ``other``'s (cells of the two are disjoint)."""
        if not len(other.active_cell):
            return self
        return Changes(
            self.cell,
            self.time,
            self.value,
            self.opened,
            np.concatenate([self.active_cell, other.active_cell]),
            np.concatenate([self.active_peak, other.active_peak]),
            np.concatenate([self.active_level, other.active_level]),
            np.concatenate([self.active_time, other.active_time]),
            np.concatenate([self.active_value, other.active_value]),
        )

    @classmethod
    def empty(cls) -> Changes:
        """No change."""
        i, f = np.empty(0, np.int64), np.empty(0, np.float64)
        return cls(i, i, f, np.empty(0, np.bool_), i, f, np.empty(0, np.int8), i, f)

"""The relation detector's per-sensor state (``_relation.py``), rows by a dense sensor row."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly.window import JUDGED_COLUMNS

__all__ = ["MAX_SLOTS", "NO_TIME", "RelationStore"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Idx = npt.NDArray[np.intp]

#: Metrics per sensor the detector watches (the first ones registered).
MAX_SLOTS = 8
#: Pending time of a sensor with no pending vector.
NO_TIME = np.iinfo(np.int64).min

SCALAR_COLUMNS: dict[str, tuple[type[Any], float | int | bool]] = {
    "d": (np.int64, 0),  # metrics in the sensor's vector
    "count": (np.int64, 0),  # complete vectors seen
    "pend_t": (np.int64, NO_TIME),  # time of the pending (latest) vector
    "pend_mask": (np.int64, 0),  # slots present in it
    "pend_e": (np.float64, 0.0),  # largest evidence of its metrics' own detectors
    "pend_u": (np.bool_, False),  # one of its metrics is in a slot with no profile yet
    "has_inv": (np.bool_, False),
    **JUDGED_COLUMNS,
}
_VECTORS = ("pend_r", "pend_x", "z", "mean")
_MATRICES = ("cov", "inv")


class RelationStore:
    """Per-sensor state, rows indexed by a dense sensor row (growing by doubling).

    Vectors and matrices are ``width`` wide: the most metrics any sensor has (at most
    ``MAX_SLOTS``; a sensor with fewer leaves its last slots 0). Whole contiguous rows are
    gathered and scattered, which is several times cheaper than slicing a wider row.

    Memory per sensor: ``width`` residuals, values, ``Z`` and mean, two ``width x width``
    matrices, the slots' series ids and the scalars (614 bytes at 5 slots, 1,458 at 8).
    """

    d: I64
    count: I64
    pend_t: I64
    pend_mask: I64
    pend_e: F64
    pend_u: npt.NDArray[np.bool_]
    has_inv: npt.NDArray[np.bool_]
    cal_mean: F64
    cal_var: F64
    cal_blocks: I64
    cal_bn: F64
    cal_bsum: F64
    cal_bsumsq: F64
    cal_hi: F64
    cal_tail: F64
    cal_bmax: F64
    cal_ltail: F64
    cal_lbmax: F64
    ep_on: npt.NDArray[np.bool_]
    ep_below: I64
    ep_peak: F64
    ep_start: I64
    pend_r: F64
    pend_x: F64
    z: F64
    mean: F64
    cov: F64
    inv: F64
    slot_series: npt.NDArray[np.int32]

    def __init__(self) -> None:
        self.rows: dict[int, int] = {}
        self.capacity = 0
        self.width = 2
        for name, (dt, _) in SCALAR_COLUMNS.items():
            setattr(self, name, np.zeros(0, dtype=dt))
        for name in _VECTORS:
            setattr(self, name, np.zeros((0, self.width)))
        for name in _MATRICES:
            setattr(self, name, np.zeros((0, self.width, self.width)))
        self.slot_series = np.zeros((0, MAX_SLOTS), dtype=np.int32)
        self._grow(16)

    def _grow(self, cap: int) -> None:
        old = self.capacity
        for name, (dt, init) in SCALAR_COLUMNS.items():
            col: npt.NDArray[Any] = np.full(cap, init, dtype=dt)
            col[:old] = getattr(self, name)
            setattr(self, name, col)
        for name in (*_VECTORS, *_MATRICES):
            arr = getattr(self, name)
            new = np.zeros((cap, *arr.shape[1:]))
            new[:old] = arr
            setattr(self, name, new)
        sl = np.full((cap, MAX_SLOTS), -1, dtype=np.int32)
        sl[:old] = self.slot_series
        self.slot_series = sl
        self.capacity = cap

    def widen(self, d: int) -> None:
        """Make room for sensors of ``d`` metrics (zero-padded; nothing learnt changes)."""
        if d <= self.width:
            return
        for name in _VECTORS:
            new = np.zeros((self.capacity, d))
            new[:, : self.width] = getattr(self, name)
            setattr(self, name, new)
        for name in _MATRICES:
            new = np.zeros((self.capacity, d, d))
            new[:, : self.width, : self.width] = getattr(self, name)
            setattr(self, name, new)
        self.width = d

    def row_of(self, sensor: int) -> int:
        """The dense row of a sensor id (a new row for a new sensor)."""
        row = self.rows.get(sensor)
        if row is None:
            row = self.rows[sensor] = len(self.rows)
            if row >= self.capacity:
                self._grow(2 * self.capacity)
        return row

    def reset(self, rows: Idx) -> None:
        """Forget what the detector learnt for ``rows`` (their membership changed)."""
        for name, (_, init) in SCALAR_COLUMNS.items():
            if name != "d":
                getattr(self, name)[rows] = init
        for name in (*_VECTORS, *_MATRICES):
            getattr(self, name)[rows] = 0.0

    def nbytes(self) -> int:
        """Bytes held by all arrays."""
        names = (*SCALAR_COLUMNS, *_VECTORS, *_MATRICES, "slot_series")
        return sum(int(getattr(self, n).nbytes) for n in names)

    def bytes_per_sensor(self) -> int:
        """Bytes of state per sensor row."""
        scal = sum(np.dtype(dt).itemsize for dt, _ in SCALAR_COLUMNS.values())
        w = self.width
        return scal + 8 * w * len(_VECTORS) + 8 * w * w * 2 + 4 * MAX_SLOTS

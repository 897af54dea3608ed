"""Segment-wise numpy helpers for the rule state machines, and the series -> pairs table.

Rows are sorted by segment (a cell, or a series); a segment's state carries over from
``prior`` (the state before the batch) and each event row sets it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Csr", "ffill", "segments", "shift"]

_I64 = npt.NDArray[np.int64]
_B = npt.NDArray[np.bool_]


def ffill(start: _I64, event: _B, value: npt.NDArray[Any], prior: npt.NDArray[Any]) -> Any:
    """Per row: ``value`` at the latest event row of its segment so far, else ``prior``."""
    n = len(event)
    idx = np.where(event, np.arange(n), -1)
    last = np.maximum.accumulate(idx) if n else idx
    ok = last >= start
    return np.where(ok, value[np.maximum(last, 0)], prior)


def segments(cell: _I64) -> tuple[_B, _I64]:
    """``new[i]``: row i starts a segment of equal cells; ``start[i]``: its segment's first row."""
    n = len(cell)
    new = np.ones(n, np.bool_)
    new[1:] = cell[1:] != cell[:-1]
    start = np.maximum.accumulate(np.where(new, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    return new, start


def shift(x: npt.NDArray[Any], new: _B, prior: npt.NDArray[Any]) -> Any:
    """The previous row's ``x`` within the segment, ``prior`` at segment starts."""
    prev = np.empty_like(x)
    prev[1:] = x[:-1]
    return np.where(new, prior, prev)


class Csr:
    """series id -> (slot, cell) pairs."""

    def __init__(self, size: int, series: _I64, slot: _I64, cell: _I64) -> None:
        order = np.argsort(series, kind="stable")
        self.slot = slot[order].astype(np.int32)
        self.cell = cell[order]
        self.ptr = np.zeros(size + 2, np.int64)
        np.cumsum(np.bincount(series, minlength=size)[:size], out=self.ptr[1 : size + 1])
        self.ptr[size + 1] = self.ptr[size]
        self.size = size

    def expand(
        self, series: npt.NDArray[np.int32]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int32], _I64]:
        s = np.minimum(series, self.size)
        start = self.ptr[s]
        cnt = self.ptr[s + 1] - start
        total = int(cnt.sum())
        if total == 0:
            return np.empty(0, np.intp), np.empty(0, np.int32), np.empty(0, np.int64)
        row = np.repeat(np.arange(len(series)), cnt)
        offs = np.repeat(start - (np.cumsum(cnt) - cnt), cnt) + np.arange(total)
        return row, self.slot[offs], self.cell[offs]

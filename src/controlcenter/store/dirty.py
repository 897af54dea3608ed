"""Which time ranges the rollups must recompute: disjoint ranges on a minute grid.

Committed batches mark the minutes they touched. One late reading adds its own minute, not
the whole span back to it: a reading 399 days old next to current ones costs one more
minute of rollup work, not 399 days of every series. The set is bounded: beyond
``max_ranges`` ranges it coarsens its grid (minute, hour, day, week), which merges
neighbours, so a gateway scattering readings over a year costs memory and work of at most
``max_ranges`` ranges.
"""

from __future__ import annotations

import bisect
from typing import Final

import numpy as np
import numpy.typing as npt

from controlcenter.domain import US_PER_S

__all__ = ["HOUR_US", "MINUTE_US", "DirtyRanges", "pieces"]

MINUTE_US: Final = 60 * US_PER_S
HOUR_US: Final = 60 * MINUTE_US
#: Grids the set coarsens to when it holds too many ranges, finest first.
_GRIDS: Final = (MINUTE_US, HOUR_US, 24 * HOUR_US, 7 * 24 * HOUR_US)


class DirtyRanges:
    """Disjoint, sorted ``[lo, hi)`` ranges in µs since the epoch, aligned on a grid.

    >>> d = DirtyRanges()
    >>> d.add_times(np.array([0, 30_000_000, 10 * 86_400 * US_PER_S]))
    >>> [(lo // MINUTE_US, hi // MINUTE_US) for lo, hi in d.take()]
    [(0, 1), (14400, 14401)]
    >>> d.take()
    []
    """

    def __init__(self, max_ranges: int = 1024) -> None:
        self._max = max_ranges
        self._grid_index = 0
        self._ranges: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return len(self._ranges)

    @property
    def grid_us(self) -> int:
        """The current grid (µs): a minute unless the set had to coarsen."""
        return _GRIDS[self._grid_index]

    def add_times(self, time_us: npt.NDArray[np.int64]) -> None:
        """Mark the grid cells holding these times (any order, duplicates allowed)."""
        if time_us.size == 0:
            return
        lo, hi = int(time_us.min()), int(time_us.max())
        grid = self.grid_us
        if hi - lo <= HOUR_US:
            # The usual batch: recent readings within an hour, one range, no sort.
            self.add(lo, hi + 1)
            return
        cells = np.unique(np.floor_divide(time_us, grid))
        breaks = np.flatnonzero(np.diff(cells) != 1) + 1
        starts = cells[np.concatenate(([0], breaks))]
        ends = cells[np.concatenate((breaks - 1, [cells.size - 1]))] + 1
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            self.add(s * grid, e * grid)

    def add(self, lo_us: int, hi_us: int) -> None:
        """Mark ``[lo_us, hi_us)``, widened to the grid, merged with its neighbours."""
        if hi_us <= lo_us:
            return
        grid = self.grid_us
        lo, hi = lo_us // grid * grid, -(-hi_us // grid) * grid
        ranges = self._ranges
        i = bisect.bisect_left(ranges, (lo, lo))
        if i > 0 and ranges[i - 1][1] >= lo:  # touches or overlaps the one before
            i -= 1
            lo = ranges[i][0]
        j = i
        while j < len(ranges) and ranges[j][0] <= hi:
            hi = max(hi, ranges[j][1])
            j += 1
        ranges[i:j] = [(lo, hi)]
        while len(ranges) > self._max and self._grid_index + 1 < len(_GRIDS):
            self._coarsen()

    def ranges(self) -> list[tuple[int, int]]:
        """A copy of the ranges, oldest first."""
        return list(self._ranges)

    def take(self) -> list[tuple[int, int]]:
        """Every range, oldest first; the set is empty (on the minute grid) afterwards."""
        taken, self._ranges, self._grid_index = self._ranges, [], 0
        return taken

    def _coarsen(self) -> None:
        self._grid_index += 1
        old, self._ranges = self._ranges, []
        for lo, hi in old:
            self.add(lo, hi)


def pieces(lo_us: int, hi_us: int, width_us: int = HOUR_US) -> list[tuple[int, int]]:
    """``[lo_us, hi_us)`` cut at multiples of ``width_us``, newest piece first.

    >>> [(a // MINUTE_US, b // MINUTE_US) for a, b in pieces(50 * MINUTE_US, 130 * MINUTE_US)]
    [(120, 130), (60, 120), (50, 60)]
    """
    cuts = range(lo_us // width_us * width_us + width_us, hi_us, width_us)
    edges = [lo_us, *cuts, hi_us]
    return [(edges[k], edges[k + 1]) for k in range(len(edges) - 2, -1, -1)]

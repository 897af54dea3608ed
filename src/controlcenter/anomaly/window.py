"""Ring-buffer windows and per-series running statistics, indexed by dense series id.

Row ``s`` of every array belongs to series ``s``. The ring holds the last ``W`` accepted
readings: reading number ``n`` of a series' life (``n = 0, 1, ...``) lives in column
``n % W``. Everything else is O(1) state per series, updated incrementally by the engine:
running window sums (shifted by the series' first value for precision), EWMA mean and
variance, CUSUM sums, flatline run length, and the robust statistics of the last refresh.
Capacity grows geometrically (doubling), so adding series one by one costs amortised O(W).

Memory per series: ``16 * W`` bytes of ring (values ``float64`` and times ``int64``, side
by side) plus :attr:`WindowStore.SCALAR_BYTES` of scalars: 4,444 bytes at ``W = 256``. A
series whose metric keeps a daily baseline (``_daily.py``) adds ``48 * daily_slots`` bytes
(2,304 at 48 slots), in arrays that hold only such series.

>>> ws = WindowStore(window=4, capacity=4)
>>> ws.ensure(4)  # room for series ids 0..4
>>> ws.capacity, ws.values.shape
(8, (8, 4))
>>> ws.bytes_per_series()  # 16 * 4 + SCALAR_BYTES
412
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["WindowStore"]

F64 = npt.NDArray[np.float64]

#: Calibration (``_calibrate.py``: distribution of log1p(evidence) and the open block) and
#: episode (``_episode.py``) state, kept per series here and per sensor by the relation
#: detector (``_relation_store.py``).
JUDGED_COLUMNS: dict[str, tuple[type[Any], float | int | bool]] = {
    "cal_mean": (np.float64, 0.0),
    "cal_var": (np.float64, 0.0),
    "cal_blocks": (np.int64, 0),
    "cal_bn": (np.float64, 0.0),
    "cal_bsum": (np.float64, 0.0),
    "cal_bsumsq": (np.float64, 0.0),
    "cal_hi": (np.float64, np.inf),  # learning winsorises log1p(evidence) here
    "cal_tail": (np.float64, 0.0),  # typical block maximum of the calibrated z
    "cal_bmax": (np.float64, 0.0),  # the open block's maximum
    "cal_ltail": (np.float64, 0.0),  # typical maximum over LongTail.span blocks
    "cal_lbmax": (np.float64, 0.0),  # the open span's maximum
    "ep_on": (np.bool_, False),
    "ep_below": (np.int64, 0),  # low readings in a row
    "ep_peak": (np.float64, 0.0),
    "ep_start": (np.int64, 0),  # onset time of the open episode
}

#: Per-series scalar columns: name -> (dtype, initial value).
_COLUMNS: dict[str, tuple[type[Any], float | int | bool]] = {
    "known": (np.bool_, False),  # registered with a profile
    "primed": (np.bool_, False),  # history loaded (or the series is new to everyone)
    "profile": (np.int16, 0),  # row of the engine's profile table
    "lo": (np.float64, -np.inf),  # static limits of this series
    "hi": (np.float64, np.inf),
    "count": (np.int64, 0),  # accepted readings over the series' life
    "last_time": (np.int64, np.iinfo(np.int64).min),  # time of the last accepted reading
    "last_value": (np.float64, 0.0),
    "shift": (np.float64, 0.0),  # first value ever; window sums are of (x - shift)
    "wsum": (np.float64, 0.0),  # sum over the window of (x - shift)
    "wsumsq": (np.float64, 0.0),  # sum over the window of (x - shift)**2
    "ewm_mean": (np.float64, 0.0),
    "ewm_var": (np.float64, 0.0),
    "ewm_level": (np.float64, np.nan),  # EWMA of the daily profile's mean (NaN: none)
    "ref_mean": (np.float64, 0.0),  # the CUSUM's reference: a slower EWMA mean
    "cusum_pos": (np.float64, 0.0),
    "cusum_neg": (np.float64, 0.0),
    "run": (np.int64, 0),  # readings equal to their predecessor, ending at the last one
    "changes": (np.int64, 0),  # readings that differed from their predecessor
    "run_start": (np.int64, 0),  # time of the first reading of that run of equal readings
    "median": (np.float64, 0.0),  # robust statistics of the last refresh
    "sigma": (np.float64, 1.0),  # sqrt((1.4826 MAD)**2 + noise floor**2)
    "robust_ok": (np.bool_, False),  # the last refresh saw enough readings
    "interval_us": (np.float64, np.nan),  # median gap between readings at the last refresh
    "silent": (np.bool_, False),  # a silence event was raised and no reading came since
    "daily_row": (np.int32, -1),  # row of the daily-baseline arrays, -1: no daily baseline
    "sensor": (np.int64, -1),  # the sensor whose metrics the relation detector watches together
    "rel_row": (np.int64, -1),  # its row in the relation detector's state (-1: not watched)
    "rel_slot": (np.int64, -1),  # this metric's place in the sensor's vector
    "seasonal": (np.bool_, False),  # showed a daily pattern at the last refresh
    "step": (np.float64, 0.0),  # the noise as a step at the last refresh (_robust._median_step)
    "resolution": (np.float64, 0.0),  # smallest step between window values at the last refresh
    "wmin": (np.float64, 0.0),  # the window's smallest and largest value at the last refresh
    "wmax": (np.float64, 0.0),
    "runmax": (np.float64, np.nan),  # the learnt longest run of repeats (_robust._learn_runs)
    **JUDGED_COLUMNS,
}
#: Columns of the daily-baseline state, ``daily[row, slot, column]`` (``_daily.py``): the
#: profile of earlier days (mean, variance), then the accumulator of the current day's
#: visit (count, sum, sum of squares, day; all float64, the day is exact below 2**53).
DAILY_COLUMNS = ("mean", "var", "n", "sum", "sumsq", "day")
DAILY_INIT = np.array([np.nan, 0.0, 0.0, 0.0, 0.0, -np.inf])


class WindowStore:
    """Preallocated ``S x W`` rings plus per-series scalar state, growing by doubling.

    Attributes:
        values: ``float64[capacity, W]`` ring of values.
        times: ``int64[capacity, W]`` ring of times (microseconds since the epoch).
        count, last_time, ...: ``[capacity]`` arrays, one per scalar column (see the module).
    """

    SCALAR_BYTES = sum(np.dtype(dt).itemsize for dt, _ in _COLUMNS.values())
    COLUMNS = tuple(_COLUMNS)

    values: npt.NDArray[np.float64]  # [S, W] views of ``ring``
    times: npt.NDArray[np.int64]
    known: npt.NDArray[np.bool_]
    primed: npt.NDArray[np.bool_]
    profile: npt.NDArray[np.int16]
    lo: npt.NDArray[np.float64]
    hi: npt.NDArray[np.float64]
    count: npt.NDArray[np.int64]
    last_time: npt.NDArray[np.int64]
    last_value: npt.NDArray[np.float64]
    shift: npt.NDArray[np.float64]
    wsum: npt.NDArray[np.float64]
    wsumsq: npt.NDArray[np.float64]
    ewm_mean: npt.NDArray[np.float64]
    ewm_var: npt.NDArray[np.float64]
    ewm_level: npt.NDArray[np.float64]
    ref_mean: npt.NDArray[np.float64]
    cusum_pos: npt.NDArray[np.float64]
    cusum_neg: npt.NDArray[np.float64]
    run: npt.NDArray[np.int64]
    changes: npt.NDArray[np.int64]
    run_start: npt.NDArray[np.int64]
    median: npt.NDArray[np.float64]
    sigma: npt.NDArray[np.float64]
    robust_ok: npt.NDArray[np.bool_]
    interval_us: npt.NDArray[np.float64]
    silent: npt.NDArray[np.bool_]
    daily_row: npt.NDArray[np.int32]
    sensor: npt.NDArray[np.int64]
    rel_row: npt.NDArray[np.int64]
    rel_slot: npt.NDArray[np.int64]
    seasonal: npt.NDArray[np.bool_]
    step: npt.NDArray[np.float64]
    resolution: npt.NDArray[np.float64]
    wmin: npt.NDArray[np.float64]
    wmax: npt.NDArray[np.float64]
    runmax: npt.NDArray[np.float64]
    cal_mean: npt.NDArray[np.float64]
    cal_var: npt.NDArray[np.float64]
    cal_blocks: npt.NDArray[np.int64]
    cal_bn: npt.NDArray[np.float64]
    cal_bsum: npt.NDArray[np.float64]
    cal_bsumsq: npt.NDArray[np.float64]
    cal_hi: npt.NDArray[np.float64]
    cal_tail: npt.NDArray[np.float64]
    cal_bmax: npt.NDArray[np.float64]
    cal_ltail: npt.NDArray[np.float64]
    cal_lbmax: npt.NDArray[np.float64]
    ep_on: npt.NDArray[np.bool_]
    ep_below: npt.NDArray[np.int64]
    ep_peak: npt.NDArray[np.float64]
    ep_start: npt.NDArray[np.int64]
    daily: npt.NDArray[np.float64]

    def __init__(self, window: int = 256, capacity: int = 1024, daily_slots: int = 48) -> None:
        if window < 2:
            raise ValueError("window must hold at least 2 readings")
        self.window = window
        self.daily_slots = daily_slots
        #: Daily rows handed out (``daily_row`` values in use) and allocated.
        self.daily_used = 0
        self.daily_capacity = 0
        self.daily = np.zeros((0, max(daily_slots, 0), len(DAILY_COLUMNS)), dtype=np.float64)
        self.capacity = 0
        self._set_ring(np.zeros((0, window, 2), dtype=np.float64))
        for name, (dtype, _) in _COLUMNS.items():
            setattr(self, name, np.zeros(0, dtype=dtype))
        self._grow(max(1, capacity))

    def ensure(self, max_id: int) -> None:
        """Make room for series ids up to ``max_id`` (at least doubling when growing)."""
        if max_id >= self.capacity:
            self._grow(max(max_id + 1, 2 * self.capacity))

    def _grow(self, capacity: int) -> None:
        old = self.capacity
        ring = np.zeros((capacity, self.window, 2), dtype=np.float64)
        ring[:old] = self.ring
        self._set_ring(ring)
        for name, (dtype, init) in _COLUMNS.items():
            col = np.full(capacity, init, dtype=dtype)
            col[:old] = getattr(self, name)
            setattr(self, name, col)
        self.capacity = capacity

    def _set_ring(self, ring: npt.NDArray[np.float64]) -> None:
        """A reading's value and time side by side: writing both touches one cache line
        (the ring is far larger than the cache, and its scatter is mostly misses)."""
        self.values = ring[:, :, 0]
        self.times = ring.view(np.int64)[:, :, 1]

    @property
    def ring(self) -> npt.NDArray[np.float64]:
        """``float64[S, W, 2]``: the array :attr:`values` and :attr:`times` (its second
        column's bits) are views of; held only through them."""
        ring = self.values.base
        if not isinstance(ring, np.ndarray) or ring.shape != (*self.values.shape, 2):
            raise TypeError("values is not a view of the ring")  # (only _set_ring sets it)
        return ring

    def write_ring(self, flat: npt.NDArray[np.intp], x: F64, t: npt.NDArray[np.int64]) -> None:
        """``values.flat[flat], times.flat[flat] = x, t`` as one scatter of 16-byte
        (value, time) records: the slots are cache misses, and one pass misses once."""
        rec = np.dtype((np.void, 16))
        pairs = np.empty((flat.size, 2), dtype=np.float64)
        pairs[:, 0] = x
        pairs.view(np.int64)[:, 1] = t
        self.ring.reshape(-1, 2).view(rec).reshape(-1)[flat] = pairs.view(rec).reshape(-1)

    def reset(self, series: npt.NDArray[np.int32]) -> None:
        """Forget the windows and statistics of ``series`` (keeps profile and limits)."""
        for name, (_, init) in _COLUMNS.items():
            if name not in (
                "known",
                "profile",
                "lo",
                "hi",
                "daily_row",
                "sensor",
                "rel_row",
                "rel_slot",
            ):
                getattr(self, name)[series] = init
        rows = self.daily_row[series]
        self.daily[rows[rows >= 0]] = DAILY_INIT

    def add_daily(self, series: npt.NDArray[np.int32]) -> None:
        """Give ``series`` that have none a row of daily-baseline state (grows by doubling)."""
        if self.daily_slots <= 0 or series.size == 0:
            return
        need = np.unique(series[self.daily_row[series] < 0])
        if need.size == 0:
            return
        top = self.daily_used + need.size
        if top > self.daily_capacity:
            cap = max(top, 2 * self.daily_capacity, 64)
            grown = np.empty((cap, self.daily_slots, len(DAILY_COLUMNS)), dtype=np.float64)
            grown[:] = DAILY_INIT
            grown[: self.daily_capacity] = self.daily
            self.daily = grown
            self.daily_capacity = cap
        self.daily_row[need] = np.arange(self.daily_used, top, dtype=np.int32)
        self.daily_used = top

    def daily_state(self) -> F64:
        """``float64[rows * slots, 6]`` view of :attr:`daily`, row ``row * slots + slot``."""
        return self.daily.reshape(-1, len(DAILY_COLUMNS))

    def write_daily(self, key: npt.NDArray[np.intp], values: F64) -> None:
        """``daily_state()[key] = values`` (``float64[G, 6]`` rows), as one record per row:
        a 1-D scatter of 48-byte records is about 2x cheaper than a 2-D row scatter."""
        rec = np.dtype((np.void, 8 * len(DAILY_COLUMNS)))
        flat = self.daily_state().view(rec).reshape(-1)
        flat[key] = np.ascontiguousarray(values, dtype=np.float64).view(rec).reshape(-1)

    def daily_column(self, name: str) -> F64:
        """``float64[rows, slots]`` view of one daily column (see :data:`DAILY_COLUMNS`)."""
        return self.daily[:, :, DAILY_COLUMNS.index(name)]

    def bytes_per_series(self) -> int:
        """Bytes of state per series slot: ``16 * W + SCALAR_BYTES``."""
        return 16 * self.window + self.SCALAR_BYTES

    def bytes_per_daily_series(self) -> int:
        """Extra bytes of a series with a daily baseline: ``48 * daily_slots``."""
        return self.daily_slots * 8 * len(DAILY_COLUMNS)

    def nbytes(self) -> int:
        """Bytes held by all arrays (allocated capacity, not just the series in use)."""
        return (
            int(self.values.nbytes + self.times.nbytes)
            + sum(int(getattr(self, name).nbytes) for name in _COLUMNS)
            + int(self.daily.nbytes)
        )

    def window_mean_std(
        self, series: npt.NDArray[np.int32]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Mean and standard deviation over each series' window, from the running sums."""
        c = np.minimum(self.count[series], self.window).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.wsum[series] / c
            var = np.maximum(self.wsumsq[series] / c - mean * mean, 0.0)
        return mean + self.shift[series], np.sqrt(var)

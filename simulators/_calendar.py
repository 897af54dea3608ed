"""Local-time features and the shift model shared by the signal generators (private)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
MS_PER_DAY = 86_400_000
# Mid-month day of year, for interpolating monthly climatology.
_MID_MONTH = np.array([15, 46, 74, 105, 135, 166, 196, 227, 258, 288, 319, 349], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Calendar:
    """Local-time features of a vector of instants.

    Attributes:
        hour: Local hour of day, ``float64[k]`` in [0, 24).
        weekday: Local weekday, ``int64[k]``, Monday = 0.
        doy: Local day of year, ``float64[k]`` (fractional).
    """

    hour: FloatArray
    weekday: npt.NDArray[np.int64]
    doy: FloatArray

    @classmethod
    def of(cls, time_ms: npt.NDArray[np.int64], utc_offset_h: float) -> Calendar:
        """Features of ``time_ms`` (epoch ms) in the local time ``utc_offset_h``."""
        local = time_ms + round(utc_offset_h * 3_600_000)
        day = np.floor_divide(local, MS_PER_DAY)
        hour = (local - day * MS_PER_DAY) / 3_600_000.0
        # 1970-01-01 was a Thursday (weekday 3).
        weekday = (day + 3) % 7
        date = day.astype("datetime64[D]")
        doy = (date - date.astype("datetime64[Y]")).astype(np.float64) + hour / 24.0
        return cls(hour, weekday.astype(np.int64), doy)

    def monthly(self, table: Sequence[float]) -> FloatArray:
        """Smooth interpolation of a 12-value monthly table at each instant."""
        values = np.asarray(table, dtype=np.float64)
        return np.interp(self.doy, _MID_MONTH, values, period=365.0)


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def shift_activity(cal: Calendar, industry: Mapping[str, Any]) -> tuple[FloatArray, FloatArray]:
    """Activity of one industry over time, and its start-up surge.

    Returns:
        ``(activity, surge)``: ``float64[k]`` each. Activity is the scheduled load in [0, 1]
        (shifts with 10-minute ramps, a lunch dip, weekend factors); surge decays from 1 at
        each shift start with a 15-minute time constant (motors, furnaces, compressors).
    """
    h = cal.hour
    act = np.zeros_like(h)
    surge = np.zeros_like(h)
    for start, end, load in industry.get("shifts", []):
        for hh in (h, h + 24.0):
            on = _sigmoid((hh - float(start)) / 0.08) * _sigmoid((float(end) - hh) / 0.08)
            act += float(load) * on
            since = hh - float(start)
            surge += np.where((since >= 0) & (since < 1.5), np.exp(-since / 0.25), 0.0)
    # Lunch 12:00-13:00: machines idle and people leave.
    lunch = _sigmoid((h - 12.0) / 0.05) * _sigmoid((13.0 - h) / 0.05)
    act *= 1.0 - 0.35 * lunch
    day_factor = np.ones_like(h)
    day_factor[cal.weekday == 5] = float(industry.get("saturday", 0.5))
    day_factor[cal.weekday == 6] = float(industry.get("sunday", 0.1))
    return np.clip(act, 0.0, 1.0) * day_factor, surge * day_factor


def ar1(
    state: FloatArray, a: float, sigma: float, rng: np.random.Generator, steps: int
) -> tuple[FloatArray, FloatArray]:
    """A stationary AR(1) process per row, continued from ``state``.

    Args:
        state: ``float64[n]`` last value of each row.
        a: Autocorrelation per step, ``exp(-dt / tau)``.
        sigma: Stationary standard deviation.
        rng: Source of the innovations.
        steps: Number of steps to produce.

    Returns:
        ``(values float64[n, steps], new state float64[n])``.
    """
    eps = rng.normal(0.0, sigma * np.sqrt(max(1.0 - a * a, 0.0)), (len(state), steps))
    return filter_ar1(state, a, eps)


def filter_ar1(state: FloatArray, a: float, eps: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``x[k] = a * x[k-1] + eps[k]`` along axis 1, vectorised across rows."""
    out = np.empty_like(eps)
    x = state
    # One numpy operation per time step across every sensor; steps per epoch are few.
    for k in range(eps.shape[1]):
        x = a * x + eps[:, k]
        out[:, k] = x
    return out, x.copy()


def decay(dt_ms: float, tau_s: float) -> float:
    """Per-step autocorrelation of a process with time constant ``tau_s``."""
    return float(np.exp(-dt_ms / 1000.0 / tau_s))

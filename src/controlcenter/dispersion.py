"""Gaussian-plume dispersion widths by Pasquill stability class (pure numpy).

Briggs' (1973) open-country fits of the Pasquill-Gifford curves, ``x`` metres downwind:

=====  ===================================  ====================================
class  ``sigma_y`` (m)                      ``sigma_z`` (m)
=====  ===================================  ====================================
A      ``0.22 x (1 + 0.0001 x)^-1/2``       ``0.20 x``
B      ``0.16 x (1 + 0.0001 x)^-1/2``       ``0.12 x``
C      ``0.11 x (1 + 0.0001 x)^-1/2``       ``0.08 x (1 + 0.0002 x)^-1/2``
D      ``0.08 x (1 + 0.0001 x)^-1/2``       ``0.06 x (1 + 0.0015 x)^-1/2``
E      ``0.06 x (1 + 0.0001 x)^-1/2``       ``0.03 x (1 + 0.0003 x)^-1``
F      ``0.04 x (1 + 0.0001 x)^-1/2``       ``0.016 x (1 + 0.0003 x)^-1``
=====  ===================================  ====================================

A class is a number ``0`` (A) .. ``5`` (F); between two classes (Pasquill's "A-B") the
widths are interpolated. ``pasquill_class`` reads the class from the surface wind speed
and the time of day (Turner's table, day with moderate insolation, night with little
cloud): light daytime winds mix the air (A-B, wide plumes), light night winds do not
(F, narrow and concentrated), strong winds are neutral (D) either way.

>>> sy, sz = sigmas(np.array([100.0, 1000.0]), 3.0)
>>> sy.round(1).tolist(), sz.round(1).tolist()
([8.0, 76.3], [5.6, 37.9])
>>> pasquill_class(np.array([1.5, 4.0, 7.0]), True).tolist()
[0.5, 1.5, 3.0]
>>> pasquill_class(np.array([1.5, 4.0, 7.0]), False).tolist()
[5.0, 4.0, 3.0]
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

__all__ = ["CLASSES", "axis_dilution", "daytime", "pasquill_class", "sigmas"]

F64 = npt.NDArray[np.float64]
CLASSES = "ABCDEF"
# Per class: sigma_y's a, sigma_z's (a, b, power): sz = a x (1 + b x)^power.
_SY = np.array([0.22, 0.16, 0.11, 0.08, 0.06, 0.04])
_SZ = np.array(
    [[0.20, 0.0, 0.0], [0.12, 0.0, 0.0], [0.08, 0.0002, -0.5],
     [0.06, 0.0015, -0.5], [0.03, 0.0003, -1.0], [0.016, 0.0003, -1.0]]
)  # fmt: skip
# Turner's table by wind speed (m/s) bins: below 2, 2-3, 3-5, 5-6, 6 and above.
_SPEED_EDGES = np.array([2.0, 3.0, 5.0, 6.0])
_DAY = np.array([0.5, 1.0, 1.5, 2.5, 3.0])
_NIGHT = np.array([5.0, 5.0, 4.0, 3.0, 3.0])
#: Turner's day, in local hours: the sun up (fixed hours, as the simulator's incidents).
_DAY_HOURS = (7, 19)


def _one(x: F64, c: npt.NDArray[np.intp]) -> tuple[F64, F64]:
    sy = _SY[c] * x / np.sqrt(1.0 + 0.0001 * x)
    a, b, p = _SZ[c, 0], _SZ[c, 1], _SZ[c, 2]
    sz = a * x * (1.0 + b * x) ** p
    return sy, sz


def sigmas(x: F64 | float, stability: F64 | float) -> tuple[F64, F64]:
    """``(sigma_y, sigma_z)`` metres at ``x`` metres downwind (broadcast with ``stability``).

    Args:
        x: Distance downwind, metres (positive).
        stability: Class ``0`` (A) .. ``5`` (F), fractional between two classes.
    """
    xs = np.asarray(x, dtype=np.float64)
    s = np.clip(np.asarray(stability, dtype=np.float64), 0.0, 5.0)
    lo = np.floor(s).astype(np.intp)
    hi = np.minimum(lo + 1, 5)
    f = s - lo
    sy0, sz0 = _one(xs, lo)
    sy1, sz1 = _one(xs, hi)
    return sy0 + f * (sy1 - sy0), sz0 + f * (sz1 - sz0)


def axis_dilution(x: F64 | float, speed_ms: F64 | float, stability: F64 | float) -> F64:
    """Ground-level concentration on the plume's axis per unit emission rate (s/m^3).

    ``1 / (pi u sigma_y sigma_z)``: a release at ground level, reflected by the ground.
    """
    sy, sz = sigmas(x, stability)
    u = np.maximum(np.asarray(speed_ms, dtype=np.float64), 0.3)
    out: F64 = 1.0 / (np.pi * u * sy * sz)
    return out


def pasquill_class(speed_ms: F64 | float, daytime: bool | npt.NDArray[np.bool_]) -> F64:
    """The stability class (0 = A .. 5 = F) for a wind speed at 10 m and the time of day."""
    i = np.searchsorted(_SPEED_EDGES, np.asarray(speed_ms, dtype=np.float64), side="right")
    out: F64 = np.where(daytime, _DAY[i], _NIGHT[i])
    return out


def daytime(when: datetime, time_zone: str) -> bool:
    """Whether ``when`` (timezone-aware) falls in the day of ``pasquill_class``: from 07:00
    to 19:00 local time in ``time_zone`` (an IANA name).

    >>> from datetime import UTC
    >>> daytime(datetime(2026, 9, 21, 3, 0, tzinfo=UTC), "Asia/Seoul")  # 12:00 KST
    True
    >>> daytime(datetime(2026, 9, 21, 11, 0, tzinfo=UTC), "Asia/Seoul")  # 20:00 KST
    False
    """
    hour = when.astimezone(ZoneInfo(time_zone)).hour
    return _DAY_HOURS[0] <= hour < _DAY_HOURS[1]

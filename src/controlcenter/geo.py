"""Positions on the complex: WGS84 degrees to local metres, and the plan's frame.

A complex spans a few kilometres, so an equirectangular projection around a reference point
is exact to well under a metre: ``east = R * dlon * cos(lat0)``, ``north = R * dlat``. Plan
coordinates (``plan_x``, ``plan_y``) are metres on the site plan with the origin at the
plan's top-left corner, ``x`` to the east and ``y`` to the south; :func:`plan_xy` converts
local metres to them given the plan's north-west corner.

Pure numpy (no I/O): the engine and the attribution may import it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["EARTH_RADIUS_M", "local_metres", "plan_xy"]

#: Mean Earth radius, metres (IUGG).
EARTH_RADIUS_M = 6_371_008.8

FloatArray = npt.NDArray[np.float64]


def local_metres(
    lat: npt.ArrayLike, lon: npt.ArrayLike, lat0: float, lon0: float
) -> tuple[FloatArray, FloatArray]:
    """``(east_m, north_m)`` of points relative to ``(lat0, lon0)``, float64 arrays.

    >>> e, n = local_metres([37.40, 37.41], [126.69, 126.69], 37.40, 126.69)
    >>> [round(float(v)) for v in n], [round(float(v)) for v in e]
    ([0, 1112], [0, 0])
    """
    la = np.asarray(lat, dtype=np.float64)
    lo = np.asarray(lon, dtype=np.float64)
    north = np.radians(la - lat0) * EARTH_RADIUS_M
    east = np.radians(lo - lon0) * EARTH_RADIUS_M * np.cos(np.radians(lat0))
    return east, north


def plan_xy(
    lat: npt.ArrayLike, lon: npt.ArrayLike, north_west: tuple[float, float]
) -> tuple[FloatArray, FloatArray]:
    """Plan coordinates (metres east and south of the plan's north-west corner).

    >>> x, y = plan_xy([37.40], [126.70], (37.41, 126.69))
    >>> round(float(x[0])), round(float(y[0]))
    (883, 1112)
    """
    east, north = local_metres(lat, lon, *north_west)
    return east, -north

"""Where a release goes: advection by the wind and a ground-level Gaussian plume.

Plan coordinates are metres on the site plan, ``x`` east and ``y`` south (the catalog's
``plan_x``/``plan_y``). The wind direction is meteorological: degrees from north the wind
blows *from* (a 270 deg wind blows from the west, towards the east).

For a release at ``src`` and a receptor at ``p``, with the downwind unit vector ``u``:

* ``along = (p - src) . u`` metres downwind, ``cross`` the distance off the plume's axis;
* the plume arrives after ``along / speed`` seconds (advection at the wind speed);
* the ground-level concentration per unit emission rate is the Gaussian plume
  ``exp(-cross^2 / (2 sy^2)) / (pi * speed * sy * sz)`` with Briggs' open-country
  dispersion widths of the air's Pasquill stability class (``controlcenter.dispersion``:
  neutral air, class D, unless given; the incident simulator reads the class from the wind
  speed and the time of day); upwind receptors (``along <= 0``) get nothing.

Everything is vectorised over sources, receptors and wind samples by broadcasting.

>>> import numpy as np
>>> delay, dil = arrival(np.zeros(2), np.array([[100.0, 0.0], [-100.0, 0.0]]), 2.0, 270.0)
>>> delay.round(1).tolist(), bool(dil[0] > 0), float(dil[1])
([50.0, nan], True, 0.0)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from controlcenter.dispersion import sigmas

__all__ = ["MIN_ALONG_M", "arrival", "downwind", "offsets"]

FloatArray = npt.NDArray[np.float64]
#: A receptor closer than this downwind still counts as this far (the source's own size).
MIN_ALONG_M = 10.0


def downwind(direction_deg: FloatArray | float) -> FloatArray:
    """Unit vector ``(x east, y south)`` the wind carries air towards, ``[..., 2]``."""
    rad = np.deg2rad(np.asarray(direction_deg, dtype=np.float64))
    # From north (0 deg) blows towards the south: +y. From the west (270) towards +x.
    out: FloatArray = np.stack([-np.sin(rad), np.cos(rad)], axis=-1)
    return out


def offsets(
    src: FloatArray, dst: FloatArray, direction_deg: FloatArray | float
) -> tuple[FloatArray, FloatArray]:
    """``(along, cross)`` metres of ``dst`` from ``src`` in the wind's frame (broadcast)."""
    d = np.asarray(dst, dtype=np.float64) - np.asarray(src, dtype=np.float64)
    u = downwind(direction_deg)
    along = d[..., 0] * u[..., 0] + d[..., 1] * u[..., 1]
    cross = d[..., 0] * u[..., 1] - d[..., 1] * u[..., 0]
    return along, np.abs(cross)


def arrival(
    src: FloatArray,
    dst: FloatArray,
    speed_ms: FloatArray | float,
    direction_deg: FloatArray | float,
    stability: FloatArray | float = 3.0,
) -> tuple[FloatArray, FloatArray]:
    """Delay (s, NaN upwind) and dilution (concentration per unit emission rate, s/m^3).

    Args:
        src: ``[..., 2]`` source positions (plan metres).
        dst: ``[..., 2]`` receptor positions, broadcast against ``src``.
        speed_ms: Wind speed, m/s (clipped to at least 0.3: calm air still drifts).
        direction_deg: Wind direction, degrees from north it blows from.
        stability: Pasquill class, 0 (A) .. 5 (F); 3 (D, neutral) by default.
    """
    along, cross = offsets(src, dst, direction_deg)
    speed = np.maximum(np.asarray(speed_ms, dtype=np.float64), 0.3)
    x = np.maximum(along, MIN_ALONG_M)
    sy, sz = sigmas(x, stability)
    dil = np.exp(-0.5 * (cross / sy) ** 2) / (np.pi * speed * sy * sz)
    reached = along > 0.0
    delay = np.where(reached, x / speed, np.nan)
    return delay, np.where(reached, dil, 0.0)

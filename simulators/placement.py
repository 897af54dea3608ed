"""Where the simulated factories and sensors stand: WGS84 and site-plan coordinates.

Each site of the scenario covers an area (``area: [north, west, south, east]`` in degrees;
sites without one are laid side by side east of Namdong's corner, 1 km each). Its factories
get lots on a grid over the area, in an order drawn from the seed, with some jitter inside
their lot; each sensor stands 15-60 m from its factory's centre (fence-line and stack
monitors), in a direction drawn per sensor. Plan coordinates are metres east (``plan_x``)
and south (``plan_y``) of the site area's north-west corner, the origin of the site plan.

Draws use their own random streams (``[seed, 7, ...]``), so placement never shifts the
signals or anomalies; a kind's stream is keyed by its name, so new kinds place the same way.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from controlcenter.geo import local_metres
from simulators.layout import Layout

if TYPE_CHECKING:
    from simulators.safety import SitePlan

__all__ = ["Area", "Placement", "fence_offsets", "lot_grid", "place", "positions_document"]

FloatArray = npt.NDArray[np.float64]
# Namdong national industrial complex, Incheon: the corner sites without an area start from.
_DEFAULT_NW = (37.412, 126.680)
_DEFAULT_SIDE_DEG = (0.009, 0.0113)  # about 1 km x 1 km at 37.4 N
_SENSOR_RADIUS_M = (15.0, 60.0)


@dataclass(frozen=True, slots=True)
class Area:
    """A site's area in degrees, with its size in metres."""

    north: float
    west: float
    south: float
    east: float

    @property
    def width_m(self) -> float:
        """East-west extent, metres (at the area's north edge)."""
        return float(local_metres(self.north, self.east, self.north, self.west)[0])

    @property
    def height_m(self) -> float:
        """North-south extent, metres."""
        return float(local_metres(self.north, self.west, self.south, self.west)[1])


@dataclass(frozen=True, slots=True)
class Placement:
    """Positions of every factory and sensor of a layout.

    Attributes:
        areas: Area of each site, in ``layout.sites`` order.
        factory_lat, factory_lon: ``float64[f]`` WGS84 degrees of each factory.
        factory_xy: ``float64[f, 2]`` plan metres (east, south of its site's corner).
        sensor_lat, sensor_lon: per kind, ``float64[n]`` degrees of each sensor.
        sensor_xy: per kind, ``float64[n, 2]`` plan metres of each sensor.
    """

    areas: tuple[Area, ...]
    factory_lat: FloatArray
    factory_lon: FloatArray
    factory_xy: FloatArray
    sensor_lat: Mapping[str, FloatArray]
    sensor_lon: Mapping[str, FloatArray]
    sensor_xy: Mapping[str, FloatArray]


def _areas(sites: list[dict[str, Any]]) -> tuple[Area, ...]:
    out = []
    for i, site in enumerate(sites):
        if "area" in site:
            n, w, s, e = (float(v) for v in site["area"])
            if not (-90 <= s < n <= 90 and -180 <= w < e <= 180):
                raise ValueError(f"site {site.get('id')}: area must be [north, west, south, east]")
        else:
            n, w = _DEFAULT_NW[0], _DEFAULT_NW[1] + i * _DEFAULT_SIDE_DEG[1]
            s, e = n - _DEFAULT_SIDE_DEG[0], w + _DEFAULT_SIDE_DEG[1]
        out.append(Area(n, w, s, e))
    return tuple(out)


def lot_grid(rng: np.random.Generator, n: int, w: float, h: float) -> tuple[FloatArray, FloatArray]:
    """Plan (x, y) of ``n`` factories on a jittered grid of lots over a ``w`` x ``h`` m area."""
    cols = max(1, math.ceil(math.sqrt(n * w / h)))
    rows = max(1, math.ceil(n / cols))
    cell = rng.permutation(cols * rows)[:n]
    jitter = rng.uniform(-0.25, 0.25, size=(2, n))
    x = (cell % cols + 0.5 + jitter[0]) * (w / cols)
    y = (cell // cols + 0.5 + jitter[1]) * (h / rows)
    return x, y


def _to_degrees(x: FloatArray, y: FloatArray, area: Area) -> tuple[FloatArray, FloatArray]:
    # Inverse of geo.local_metres around the area's north-west corner (y points south).
    per_deg_lat = float(local_metres(area.north + 1.0, area.west, area.north, area.west)[1])
    per_deg_lon = float(local_metres(area.north, area.west + 1.0, area.north, area.west)[0])
    return area.north - y / per_deg_lat, area.west + x / per_deg_lon


def place(layout: Layout) -> Placement:
    """Place every factory and sensor of ``layout`` (same scenario and seed: same places)."""
    seed = layout.scenario.seed
    areas = _areas(layout.scenario.sites)
    f = layout.n_factories
    f_xy = np.zeros((f, 2))
    f_lat, f_lon = np.zeros(f), np.zeros(f)
    for s, area in enumerate(areas):
        members = np.flatnonzero(layout.factory_site == s)
        rng = np.random.default_rng([seed, 7, s])
        x, y = lot_grid(rng, len(members), area.width_m, area.height_m)
        f_xy[members, 0], f_xy[members, 1] = x, y
        f_lat[members], f_lon[members] = _to_degrees(x, y, area)
    s_lat: dict[str, FloatArray] = {}
    s_lon: dict[str, FloatArray] = {}
    s_xy: dict[str, FloatArray] = {}
    for kind, table in layout.tables.items():
        name = str(getattr(kind, "value", kind))
        rng = np.random.default_rng([seed, 7, 1000, zlib.crc32(name.encode())])
        owner = np.asarray(table.factory)
        xy = f_xy[owner] + fence_offsets(rng, len(table))
        s_lat[name], s_lon[name], s_xy[name] = _in_areas(xy, layout.factory_site[owner], areas)
    return Placement(areas, f_lat, f_lon, f_xy, s_lat, s_lon, s_xy)


def fence_offsets(rng: np.random.Generator, n: int) -> FloatArray:
    """``float64[n, 2]`` plan offsets of ``n`` sensors from their factory's centre: 15-60 m
    in a direction drawn per sensor (fence-line and stack monitors)."""
    radius = rng.uniform(*_SENSOR_RADIUS_M, n)
    angle = rng.uniform(0.0, 2 * np.pi, n)
    out: FloatArray = np.column_stack((radius * np.sin(angle), -radius * np.cos(angle)))
    return out


def _in_areas(
    xy: FloatArray, site: npt.NDArray[np.intp], areas: tuple[Area, ...]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(lat, lon, xy)`` of plan points, each clipped to its site's area (in place)."""
    lat, lon = np.zeros(len(xy)), np.zeros(len(xy))
    for s, area in enumerate(areas):
        here = np.flatnonzero(site == s)
        xy[here, 0] = np.clip(xy[here, 0], 0.0, area.width_m)
        xy[here, 1] = np.clip(xy[here, 1], 0.0, area.height_m)
        lat[here], lon[here] = _to_degrees(xy[here, 0], xy[here, 1], area)
    return lat, lon, xy


def positions_document(
    layout: Layout, placement: Placement | None = None, plans: Sequence[SitePlan] | None = None
) -> dict[str, Any]:
    """The layout's positions as JSON-ready data, one entry per site with factories (what
    ``controlcenter import-positions`` reads), with the safety sensors of ``plans`` (by
    default those of the scenario's ``safety`` section)."""
    p = placement or place(layout)
    if plans is None:
        from simulators.safety import site_plans

        plans = site_plans(layout, p)
    sites: list[dict[str, Any]] = []
    for s, (site, area) in enumerate(zip(layout.sites, p.areas, strict=True)):
        factories = [
            {
                "factory": layout.factory_ids[i],
                "industry": layout.industries[int(layout.factory_industry[i])],
                "lat": round(float(p.factory_lat[i]), 7),
                "lon": round(float(p.factory_lon[i]), 7),
                "plan_x": round(float(p.factory_xy[i, 0]), 2),
                "plan_y": round(float(p.factory_xy[i, 1]), 2),
            }
            for i in np.flatnonzero(layout.factory_site == s).tolist()
        ]
        sensors = []
        for kind, table in layout.tables.items():
            name = str(getattr(kind, "value", kind))
            for j in np.flatnonzero(layout.factory_site[np.asarray(table.factory)] == s).tolist():
                sensors.append(
                    {
                        "factory": layout.factory_ids[int(table.factory[j])],
                        "kind": name,
                        "sensor": table.names[j],
                        "lat": round(float(p.sensor_lat[name][j]), 7),
                        "lon": round(float(p.sensor_lon[name][j]), 7),
                        "plan_x": round(float(p.sensor_xy[name][j, 0]), 2),
                        "plan_y": round(float(p.sensor_xy[name][j, 1]), 2),
                    }
                )
        for plan in (q for q in plans if q.site == site):
            sensors += _plan_sensors(plan, area)
        if not factories:
            continue  # a site the scenario names but no factory landed in
        sites.append(
            {
                "site": site,
                "area": [area.north, area.west, area.south, area.east],
                "width_m": round(area.width_m, 1),
                "height_m": round(area.height_m, 1),
                "factories": factories,
                "sensors": sensors,
            }
        )
    return {"sites": sites}


def _plan_sensors(plan: SitePlan, area: Area) -> list[dict[str, Any]]:
    out = []
    for kind, names in plan.sensors.items():
        xy = plan.sensor_xy[kind]
        lat, lon = _to_degrees(xy[:, 0], xy[:, 1], area)
        for j, name in enumerate(names):
            out.append(
                {
                    "factory": plan.factories[int(plan.sensor_factory[kind][j])],
                    "kind": kind,
                    "sensor": name,
                    "lat": round(float(lat[j]), 7),
                    "lon": round(float(lon[j]), 7),
                    "plan_x": round(float(xy[j, 0]), 2),
                    "plan_y": round(float(xy[j, 1]), 2),
                }
            )
    return out

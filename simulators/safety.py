"""Safety and environment sensors of one site: where they stand and what they read.

A ``SitePlan`` places the factories of one site on a plan (metres, ``x`` east, ``y``
south) on a jittered grid, and gives them sensors of the safety kinds: a gas detector at
the fence of most factories, odour monitors at half the factories, a
smoke/flame/heat detector in every factory, an effluent monitor where there is
wastewater, and one or more weather stations. Everything is drawn from the seed.

Clean signals, vectorised over the sensors of a kind (``[n, T, M]`` per kind), stay inside
the registry's physical limits (``rounded`` clips every reading, incidents included, at
them, so none is a dead letter); their slow processes can continue from one stretch to
the next (``background``'s ``carry``, ``wind_track``'s state), as the live run does:

* weather: one wind field for the site (speed around its mean with gusts, direction
  meandering around the prevailing one), seen by every station with instrument noise;
  temperature and humidity with a daily cycle, pressure drifting slowly, showers of rain;
* every slow measurement (temperatures, humidity, pressure, the effluent's pH, COD, SS and
  flow) carries instrument noise as well, so its rounded readings flicker between
  neighbouring values as a real transmitter's do, however densely ``--rate`` samples it;
* gas: detectors near zero (a few ppm of CO from traffic, traces of the others), oxygen at
  20.9 %vol;
* fire: no smoke, no flame, heat at the indoor temperature;
* odor: a background of a few dilution units, with traces of NH3 and H2S;
* water: effluent pH near 7.2, COD and SS with the working day, turbidity following SS,
  flow following the shifts (the working day ramps up and down over about 26 minutes
  around 8 and 18 h, as CO from traffic does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators._calendar import ar1, decay
from simulators.kinds import SAFETY_KINDS, SAFETY_LIMITS, SAFETY_METRICS
from simulators.layout import Layout
from simulators.placement import Placement, fence_offsets, lot_grid

__all__ = [
    "INTERVALS_S",
    "SitePlan",
    "Wind",
    "background",
    "build_plan",
    "rounded",
    "site_plans",
    "wind_field",
    "wind_track",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: Sampling interval per kind, seconds (the registry's defaults).
INTERVALS_S: Mapping[str, int] = {"gas": 5, "fire": 5, "odor": 30, "water": 60, "weather": 60}
_PREFIX = {"gas": "gd", "fire": "fd", "odor": "od", "water": "wq", "weather": "ws"}
_DECIMALS = {
    "gas": (1, 2, 1, 1, 2, 2, 2),
    "fire": (0, 0, 1),
    "odor": (0, 2, 3),
    "water": (2, 1, 1, 1, 1),
    "weather": (1, 0, 1, 0, 1, 1),
}


@dataclass(frozen=True, slots=True)
class SitePlan:
    """Factories and safety sensors of one site.

    Attributes:
        site: Site id.
        factories: Factory ids.
        factory_xy: ``float64[F, 2]`` plan position of each factory (its stack), metres.
        sensors: Sensor ids per kind (unique within their factory).
        sensor_factory: ``intp[n]`` owning factory per kind.
        sensor_xy: ``float64[n, 2]`` plan position per kind.
    """

    site: str
    factories: tuple[str, ...]
    factory_xy: FloatArray
    sensors: Mapping[str, tuple[str, ...]]
    sensor_factory: Mapping[str, IntArray]
    sensor_xy: Mapping[str, FloatArray]

    def path(self, kind: str, i: int) -> str:
        """``site/factory/kind/sensor`` of sensor ``i`` of ``kind``."""
        f = int(self.sensor_factory[kind][i])
        return f"{self.site}/{self.factories[f]}/{kind}/{self.sensors[kind][i]}"

    def series_keys(self, kind: str) -> list[str]:
        """``site/factory/kind/sensor/metric`` of ``kind``, sensor by sensor."""
        return [
            f"{self.path(kind, i)}/{m}"
            for i in range(len(self.sensors[kind]))
            for m in SAFETY_METRICS[kind]
        ]


@dataclass(frozen=True, slots=True)
class Wind:
    """The site's wind at each step of a time grid.

    Attributes:
        time_ms: ``int64[T]`` instants.
        speed: ``float64[T]`` m/s.
        direction: ``float64[T]`` degrees from north the wind blows from, in [0, 360).
    """

    time_ms: npt.NDArray[np.int64]
    speed: FloatArray
    direction: FloatArray

    def at(self, time_ms: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
        """``(speed, direction)`` at ``time_ms`` (the last step at or before, same shape)."""
        i = np.clip(np.searchsorted(self.time_ms, time_ms, side="right") - 1, 0, None)
        return self.speed[i], self.direction[i]


def build_plan(
    seed: int,
    factories: int = 24,
    site: str = "namdong-1",
    *,
    spacing_m: float = 300.0,
    stations: int = 2,
) -> SitePlan:
    """Draw a site of ``factories`` factories about ``spacing_m`` apart, with its sensors.

    Factories stand on lots as ``placement.py`` lays out a scenario's sites (one source of
    truth), over an area of ``spacing_m`` per lot with one lot of margin around it.
    """
    if factories < 2 or stations < 1:
        raise ValueError("a site plan needs at least 2 factories and 1 weather station")
    rng = np.random.default_rng([seed, 0x51E])
    cols = int(np.ceil(np.sqrt(factories * 1.5)))
    rows = int(np.ceil(factories / cols))
    x, y = lot_grid(rng, factories, cols * spacing_m, rows * spacing_m)
    xy = np.column_stack((x, y)) + spacing_m  # the margin: plan coordinates stay positive
    industries = ("cast", "surf", "chem", "weld", "heat", "form")
    ids = tuple(
        f"{industries[rng.integers(len(industries))]}-{i + 1:04d}" for i in range(factories)
    )
    return _equip(rng, site, ids, xy, _DEFAULT_SHARES, stations)


#: Share of factories with each safety kind (gas detectors at two in three, odour and
#: effluent monitors at one in two, a fire detector everywhere).
_DEFAULT_SHARES: Mapping[str, float] = {"gas": 0.67, "fire": 1.0, "odor": 0.5, "water": 0.5}


def _equip(
    rng: np.random.Generator,
    site: str,
    ids: tuple[str, ...],
    xy: FloatArray,
    shares: Mapping[str, float],
    stations: int,
) -> SitePlan:
    """The site's factories with safety sensors drawn by ``shares``, at their fences."""
    n = len(ids)
    owners: dict[str, IntArray] = {
        kind: np.flatnonzero(rng.random(n) < float(shares.get(kind, 0.0))).astype(np.intp)
        for kind in SAFETY_KINDS
        if kind != "weather"
    }
    pick = rng.choice(n, size=min(stations, n), replace=False) if n else np.zeros(0)
    owners["weather"] = np.sort(pick).astype(np.intp)
    positions: dict[str, FloatArray] = {}
    names: dict[str, tuple[str, ...]] = {}
    for kind in SAFETY_KINDS:
        own = owners[kind]
        positions[kind] = xy[own] + fence_offsets(rng, len(own))
        names[kind] = tuple(f"{_PREFIX[kind]}1" for _ in own)
    return SitePlan(site, ids, xy, names, owners, positions)


def site_plans(layout: Layout, placement: Placement) -> tuple[SitePlan, ...]:
    """The safety sensors of a scenario's complex, one plan per site with factories.

    The scenario's ``safety`` section gives the share of factories with each kind and the
    weather stations per site; factories keep the places ``placement.py`` gave them.
    """
    spec = dict(layout.scenario.data.get("safety") or {})
    shares = dict(spec.get("share") or {})
    stations = int(spec.get("weather_stations", 1))
    out = []
    for s, site in enumerate(layout.sites):
        members = np.flatnonzero(layout.factory_site == s)
        if not len(members) or not shares:
            continue
        rng = np.random.default_rng([layout.scenario.seed, 7, 2000, s])
        ids = tuple(layout.factory_ids[int(i)] for i in members)
        plan = _equip(rng, site, ids, placement.factory_xy[members], shares, stations)
        area = placement.areas[s]
        for xy in plan.sensor_xy.values():
            np.clip(xy[:, 0], 0.0, area.width_m, out=xy[:, 0])
            np.clip(xy[:, 1], 0.0, area.height_m, out=xy[:, 1])
        out.append(plan)
    return tuple(out)


def wind_field(
    time_ms: npt.NDArray[np.int64],
    rng: np.random.Generator,
    mean_speed: float,
    direction: float,
    meander_deg: float = 10.0,
) -> Wind:
    """Wind on the grid ``time_ms``: gusts around ``mean_speed``, meander around ``direction``."""
    return wind_track(time_ms, rng, mean_speed, direction, None, meander_deg)[0]


def wind_track(
    time_ms: npt.NDArray[np.int64],
    rng: np.random.Generator,
    mean_speed: float | FloatArray,
    direction: float | FloatArray,
    state: FloatArray | None,
    meander_deg: float = 10.0,
) -> tuple[Wind, FloatArray]:
    """``wind_field`` continued from ``state`` (``float64[2]``: gust and turn of the step
    before ``time_ms[0]``; None: a fresh start), with means per step or constant; returns
    the wind and the state after its last step, to continue the next stretch without a jump.
    """
    dt = float(np.median(np.diff(time_ms))) if len(time_ms) > 1 else 60_000.0
    gust0 = np.zeros(1) if state is None else state[:1]
    gust, gust1 = ar1(gust0, decay(dt, 300), 0.2, rng, len(time_ms))
    turn0 = rng.normal(0.0, meander_deg, 1) if state is None else state[1:]
    turn, turn1 = ar1(turn0, decay(dt, 1200), meander_deg, rng, len(time_ms))
    speed = np.maximum(mean_speed * np.exp(gust[0] - 0.02), 0.2)
    wind = Wind(time_ms, speed, (direction + turn[0]) % 360.0)
    return wind, np.concatenate([gust1, turn1])


def background(
    plan: SitePlan,
    kind: str,
    time_ms: npt.NDArray[np.int64],
    wind: Wind,
    rng: np.random.Generator,
    carry: dict[str, FloatArray] | None = None,
) -> FloatArray:
    """Clean readings of every sensor of ``kind`` at ``time_ms``, ``float64[n, T, M]``.

    ``carry`` holds the slow processes' state between consecutive stretches (updated in
    place; empty: they start from their stationary distribution, as without it), so
    stretches generated one after another join without a jump.
    """
    n, k = len(plan.sensors[kind]), len(time_ms)
    hour = (time_ms / 3_600_000.0 + 9.0) % 24.0  # local time (KST)
    day = np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)[None, :]
    work = _working(hour)[None, :]
    dt = float(np.median(np.diff(time_ms))) if k > 1 else 60_000.0
    slots = iter(range(16))

    def noise(sd: float) -> FloatArray:
        return rng.normal(0.0, sd, (n, k))

    def slow(sd: float, tau_s: float) -> FloatArray:
        key = f"{kind}.{next(slots)}"  # the processes of a kind are drawn in a fixed order
        start = None if carry is None else carry.get(key)
        if start is None:
            start = rng.normal(0.0, sd, n)
        out, last = ar1(start, decay(dt, tau_s), sd, rng, k)
        if carry is not None:
            carry[key] = last
        return out

    if kind == "weather":
        speed, direction = wind.at(time_ms)
        cols = [
            np.maximum(speed[None, :] + noise(0.2), 0.0),
            (direction[None, :] + noise(3.0)) % 360.0,
            12.0 + 5.0 * day + slow(0.5, 3600) + noise(0.05),
            np.clip(65.0 - 15.0 * day + slow(3.0, 3600) + noise(0.3), 5.0, 100.0),
            1013.0 + slow(1.5, 6 * 3600) + noise(0.1),
            np.where((wet := slow(1.0, 3600)) > 1.6, 4.0 * (wet - 1.6), 0.0),
        ]
    elif kind == "gas":
        cols = [
            np.abs(noise(0.3)),
            np.abs(noise(0.05)),
            np.abs(0.3 + slow(0.15, 900)),
            np.abs(2.0 + 1.5 * work + slow(0.8, 900)),
            np.abs(noise(0.01)),
            np.abs(noise(0.02)),
            20.9 + noise(0.04),
        ]
    elif kind == "fire":
        cols = [
            np.zeros((n, k)),
            np.zeros((n, k)),
            22.0 + 3.0 * day + slow(0.8, 1800) + noise(0.05),
        ]
    elif kind == "odor":
        ou = np.exp(np.log(4.0) + slow(0.35, 1800))
        cols = [ou, np.abs(0.05 + 0.01 * ou + noise(0.01)), np.abs(0.002 + noise(0.0008))]
    elif kind == "water":
        cod = 60.0 + 25.0 * work + slow(6.0, 3600) + noise(0.3)
        ss = 30.0 + 15.0 * work + slow(4.0, 3600) + noise(0.2)
        cols = [
            7.2 + slow(0.12, 3600) + noise(0.01),
            np.maximum(cod, 5.0),
            np.maximum(ss, 2.0),
            np.maximum(0.4 * ss + noise(0.5), 0.1),
            np.maximum(12.0 + 28.0 * work + slow(2.0, 1800) + noise(0.1), 0.0),
        ]
    else:
        raise ValueError(f"no signal model for kind {kind!r}")
    return np.stack(cols, axis=-1)


def _working(hour: FloatArray) -> FloatArray:
    """The working day, 8-18 h local, in [0, 1]: ramps (10-90 %) of 26 minutes around 8 and
    18 h (a shift starts over minutes, and a hard step would be a jump at the hour)."""
    rise = 0.5 * (1.0 + np.tanh((hour - 8.0) / 0.2))
    fall = 0.5 * (1.0 + np.tanh((18.0 - hour) / 0.2))
    out: FloatArray = rise * fall
    return out


def rounded(kind: str, values: FloatArray) -> FloatArray:
    """``values`` rounded per metric as a detector reports them, and kept inside the
    registry's physical limits (``SAFETY_LIMITS``: what ingest accepts), in place."""
    limits = SAFETY_LIMITS[kind]
    for j, (metric, d) in enumerate(zip(SAFETY_METRICS[kind], _DECIMALS[kind], strict=True)):
        lo, hi = limits[metric]
        np.clip(np.round(values[:, :, j], d), lo, hi, out=values[:, :, j])
    return values

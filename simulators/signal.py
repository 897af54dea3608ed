"""Clean sensor signals, vectorised across every sensor of a kind.

Each kind has a stream that produces consecutive frames (``epoch_steps`` sampling steps of
all its sensors) from the seed: epoch ``e`` draws from ``default_rng([seed, kind, 2, e])``
and slow processes carry their state from one epoch to the next, so the data depend only on
the scenario, the seed, the start and the interval. Python loops run over time steps of an
epoch or over industries, never over readings.

Signals (local time of the complex, KST by default):

* air: PM10 from a monthly Korean climatology (winter and spring highs, clean summer
  monsoon), a rush-hour daily cycle, weather shared by a site (hours-long AR(1)), the
  factory's own emissions while it works; PM2.5 as a seasonal share of PM10; CO2 outdoor
  background plus occupancy; VOC background plus solvent bursts during shifts (mostly
  surface treatment); temperature and humidity with seasonal and daily cycles.
* power: contracted kW times the shift load (day/night/weekend, lunch dip), start-up surges,
  AR(1) fluctuations; a kWh counter that integrates kW and never decreases; voltage around
  220 or 380 V sagging under load; power factor lower at light load; current from P, V, pf.
* parking: occupancy following arrivals before the shift, lunch, departures, night shifts
  and weekends, clipped to the lot capacity.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from simulators._calendar import Calendar, ar1, decay, filter_ar1, shift_activity
from simulators.frame import Frame
from simulators.kinds import Kind
from simulators.layout import KIND_CODES, Layout

__all__ = ["DECIMALS", "KindStream", "make_stream"]

FloatArray = npt.NDArray[np.float64]

#: Decimals each metric is rounded to, as a gateway would report it.
DECIMALS: Mapping[str, int] = {
    "pm10": 1,
    "pm25": 1,
    "co2": 1,
    "voc": 1,
    "temp": 2,
    "humidity": 1,
    "kw": 3,
    "kwh": 3,
    "voltage": 1,
    "current": 2,
    "pf": 3,
    "occupied": 0,
    "capacity": 0,
}
# Monthly means for Korean industrial areas (ug/m3), and PM2.5 / PM10 ratio.
_PM10_MONTHLY = (52, 55, 62, 58, 47, 37, 27, 24, 26, 33, 44, 50)
_PM25_RATIO = (0.62, 0.6, 0.55, 0.5, 0.48, 0.5, 0.5, 0.5, 0.5, 0.52, 0.58, 0.62)
_TEMP_MONTHLY = (-1.5, 0.5, 5.5, 11.5, 16.5, 21.0, 24.5, 25.8, 21.8, 15.5, 8.5, 1.5)
_HUMID_MONTHLY = (58, 58, 60, 63, 68, 75, 82, 79, 72, 65, 62, 60)


class KindStream:
    """Consecutive clean frames of every sensor of one kind.

    Call ``next_frame()`` repeatedly; frame ``e`` covers steps
    ``[e * epoch_steps, (e + 1) * epoch_steps)`` after ``start_ms``.
    """

    def __init__(self, layout: Layout, kind: Kind, start_ms: int, epoch_steps: int) -> None:
        self.layout = layout
        self.kind = kind
        self.table = layout.tables[kind]
        self.start_ms = start_ms
        self.epoch_steps = epoch_steps
        self.epoch = 0
        self.dt_ms = self.table.interval_ms
        self._industries = [layout.scenario.industries[name] for name in layout.industries]
        init = np.random.default_rng([layout.scenario.seed, KIND_CODES[kind], 3])
        self._init_state(init)

    def _init_state(self, rng: np.random.Generator) -> None:
        """Draw the initial state of the slow processes."""

    def scale(self) -> FloatArray:
        """``float64[n, m]``: a typical spread per sensor and metric (anomaly magnitudes)."""
        raise NotImplementedError

    def _values(self, cal: Calendar, rng: np.random.Generator) -> FloatArray:
        raise NotImplementedError

    def _activity(self, cal: Calendar) -> tuple[FloatArray, FloatArray]:
        """``(activity, surge)`` per sensor and step, ``float64[n, k]`` each."""
        ind = self.table.params["industry"].astype(np.intp)
        per = [shift_activity(cal, spec) for spec in self._industries]
        act = np.stack([p[0] for p in per])[ind]
        surge = np.stack([p[1] for p in per])[ind]
        return act, surge

    def next_frame(self) -> Frame:
        """The next epoch of clean readings, every sensor present."""
        e = self.epoch
        self.epoch += 1
        k = self.epoch_steps
        seq = np.arange(e * k, (e + 1) * k, dtype=np.int64)
        base = self.start_ms + seq * self.dt_ms
        time_ms = base[None, :] + self.table.phase_ms[:, None]
        cal = Calendar.of(base, self.layout.scenario.utc_offset_h)
        rng = np.random.default_rng([self.layout.scenario.seed, KIND_CODES[self.kind], 2, e])
        values = self._values(cal, rng)
        for j, metric in enumerate(self.table.metrics):
            values[:, :, j] = np.round(values[:, :, j], DECIMALS[metric])
        n = len(self.table)
        return Frame(
            self.kind,
            self.table.metrics,
            np.arange(n, dtype=np.intp),
            seq,
            time_ms,
            values,
            np.ones((n, k), dtype=np.bool_),
        )


class AirStream(KindStream):
    """Air-quality stations: pm10, pm25, co2, voc, temp, humidity."""

    def _init_state(self, rng: np.random.Generator) -> None:
        n = len(self.table)
        self._site = self.layout.factory_site[self.table.factory]
        self._weather = rng.normal(0.0, 0.35, len(self.layout.sites))
        self._own = rng.normal(0.0, 0.15, n)
        self._co2 = rng.normal(0.0, 20.0, n)
        self._voc = np.zeros(n)
        self._meteo = rng.normal(0.0, 1.0, (2, len(self.layout.sites)))

    def scale(self) -> FloatArray:
        n = len(self.table)
        return np.tile(np.array([40.0, 25.0, 250.0, 150.0, 6.0, 20.0]), (n, 1))

    def _values(self, cal: Calendar, rng: np.random.Generator) -> FloatArray:
        p = self.table.params
        n, k, dt = len(self.table), len(cal.hour), self.dt_ms
        act, _ = self._activity(cal)
        weather, self._weather = ar1(self._weather, decay(dt, 12 * 3600), 0.35, rng, k)
        own, self._own = ar1(self._own, decay(dt, 3600), 0.15, rng, k)
        h = cal.hour
        # Rush hours (8-9 and 20-22) and a clean, windy afternoon.
        diurnal = (
            1.0
            + 0.15 * np.cos(2 * np.pi * (h - 8.5) / 24)
            + 0.08 * np.cos(4 * np.pi * (h - 21.0) / 24)
        )
        pm10 = cal.monthly(_PM10_MONTHLY) * diurnal * np.exp(weather[self._site] + own)
        pm10 = pm10 * (0.75 + 0.25 * p["pm_factor"][:, None]) + 12.0 * p["pm_factor"][:, None] * act
        pm10 = np.maximum(pm10 + rng.normal(0.0, 2.0, (n, k)), 2.0)
        ratio = cal.monthly(_PM25_RATIO) * np.exp(rng.normal(0.0, 0.05, (n, k)))
        pm25 = np.maximum(pm10 * ratio + rng.normal(0.0, 1.0, (n, k)), 1.0)
        co2_walk, self._co2 = ar1(self._co2, decay(dt, 1200), 20.0, rng, k)
        co2 = 425.0 + 15.0 * np.cos(2 * np.pi * (h - 5.0) / 24) + p["co2_gain"][:, None] * act
        co2 = co2 + co2_walk + rng.normal(0.0, 5.0, (n, k))
        # Solvent bursts while a shift runs, decaying over ~20 minutes.
        rate = p["voc_bursts_per_h"][:, None] * act * (dt / 3_600_000)
        bursts = (rng.random((n, k)) < rate) * rng.exponential(100.0, (n, k))
        burst, self._voc = filter_ar1(self._voc, decay(dt, 1200), bursts * p["voc_factor"][:, None])
        voc = 40.0 * p["voc_factor"][:, None] * (1 + 0.5 * act) + burst
        voc = np.maximum(voc + rng.normal(0.0, 4.0, (n, k)), 0.0)
        meteo, self._meteo = self._meteo_walk(rng, k)
        temp = cal.monthly(_TEMP_MONTHLY) + 4.0 * np.cos(2 * np.pi * (h - 15.0) / 24)
        temp = temp + 2.0 * meteo[0][self._site] + p["temp_offset"][:, None]
        temp = temp + rng.normal(0.0, 0.15, (n, k))
        humid = cal.monthly(_HUMID_MONTHLY) - 12.0 * np.cos(2 * np.pi * (h - 15.0) / 24)
        humid = humid + 8.0 * meteo[1][self._site] + rng.normal(0.0, 1.0, (n, k))
        return np.stack([pm10, pm25, co2, voc, temp, np.clip(humid, 12.0, 100.0)], axis=-1)

    def _meteo_walk(self, rng: np.random.Generator, k: int) -> tuple[FloatArray, FloatArray]:
        a = decay(self.dt_ms, 6 * 3600)
        walk, state = ar1(self._meteo.reshape(-1), a, 1.0, rng, k)
        return walk.reshape(2, -1, k), state.reshape(2, -1)


class PowerStream(KindStream):
    """Power meters: kw, kwh, voltage, current, pf."""

    def _init_state(self, rng: np.random.Generator) -> None:
        n = len(self.table)
        self._load = rng.normal(0.0, 0.08, n)
        self._volt = rng.normal(0.0, 0.012, n)
        self._kwh = self.table.params["kwh_start"].copy()

    def scale(self) -> FloatArray:
        p = self.table.params
        rated = p["rated_kw"]
        amps = rated * 1000.0 / (p["nominal_v"] * np.where(p["phases"] > 1, np.sqrt(3.0), 1.0))
        cols = [
            0.5 * rated,
            0.5 * rated,
            0.08 * p["nominal_v"],
            0.5 * amps,
            np.full(len(rated), 0.25),
        ]
        return np.stack(cols, axis=-1)

    def _values(self, cal: Calendar, rng: np.random.Generator) -> FloatArray:
        p = self.table.params
        n, k, dt = len(self.table), len(cal.hour), self.dt_ms
        act, surge = self._activity(cal)
        load = 0.06 + 0.9 * act
        walk, self._load = ar1(self._load, decay(dt, 300), 0.08, rng, k)
        rated = p["rated_kw"][:, None]
        kw = rated * load * (1.0 + 0.35 * surge) * np.exp(walk)
        kw = np.maximum(kw + rng.normal(0.0, 0.005, (n, k)) * rated, 0.0)
        kwh = self._kwh[:, None] + np.cumsum(kw, axis=1) * (dt / 3_600_000)
        self._kwh = kwh[:, -1].copy()
        vwalk, self._volt = ar1(self._volt, decay(dt, 1800), 0.012, rng, k)
        nominal = p["nominal_v"][:, None]
        volt = nominal * (1.0 + vwalk - 0.015 * load + rng.normal(0.0, 0.002, (n, k)))
        pf = p["pf_nominal"][:, None] - 0.12 * (1.0 - np.minimum(load, 1.0))
        pf = np.clip(pf + rng.normal(0.0, 0.004, (n, k)), 0.5, 0.999)
        root = np.where(p["phases"] > 1, np.sqrt(3.0), 1.0)[:, None]
        current = kw * 1000.0 / (volt * pf * root)
        return np.stack([kw, kwh, volt, current, pf], axis=-1)


class ParkingStream(KindStream):
    """Parking lots: occupied and capacity spaces."""

    def _init_state(self, rng: np.random.Generator) -> None:
        self._walk = rng.normal(0.0, 0.04, len(self.table))

    def scale(self) -> FloatArray:
        cap = self.table.params["capacity"]
        return np.stack([np.maximum(0.4 * cap, 3.0), np.zeros(len(cap))], axis=-1)

    def _values(self, cal: Calendar, rng: np.random.Generator) -> FloatArray:
        cap = self.table.params["capacity"][:, None]
        k = len(cal.hour)
        # People arrive ~40 minutes before their shift: shift the clock forward for activity.
        early = Calendar(cal.hour + 0.66, cal.weekday, cal.doy)
        early.hour[early.hour >= 24.0] -= 24.0
        act, _ = self._activity(early)
        walk, self._walk = ar1(self._walk, decay(self.dt_ms, 1800), 0.04, rng, k)
        frac = 0.04 + 0.92 * np.minimum(act / 0.9, 1.0) + walk
        occupied = np.clip(np.round(cap * frac), 0.0, cap)
        return np.stack([occupied, np.broadcast_to(cap, occupied.shape)], axis=-1)


def make_stream(layout: Layout, kind: Kind, start_ms: int, epoch_steps: int = 64) -> KindStream:
    """The stream of clean frames of ``kind`` starting at ``start_ms``."""
    cls = {Kind.AIR: AirStream, Kind.POWER: PowerStream, Kind.PARKING: ParkingStream}[kind]
    return cls(layout, kind, start_ms, epoch_steps)

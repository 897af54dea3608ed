"""Anomaly injection with ground truth.

The planner draws anomalies period by period (one simulated hour by default) from
``default_rng([seed, 0xA11, period])``, so the plan depends only on the scenario, the seed and
the start, never on how frames are cut or which shard asks. The injector applies the plan to
clean frames, and every anomaly turns into rows of ``labels.csv``.

A reading is affected by an anomaly when ``start_ms <= time_ms <= end_ms`` (both inclusive).
Spikes (and most impossible values) are snapped to one reading of the target sensor, so
their label has ``start_ms == end_ms ==`` that reading's timestamp.

Types and what they do:

=================  =======================================================================
spike              one reading jumps by 3-6 typical spreads (series label)
level_shift        the series is offset by 1.5-3 spreads for the window (series label)
drift              an offset growing linearly to 1-3 spreads over the window (series label)
stuck              the series repeats its first value in the window (series label)
impossible         a physically impossible value: negative concentration, humidity over
                   100 %, pf over 1, occupancy over capacity, negative kWh (series label)
dropout            the sensor sends nothing (one label per metric series of the sensor)
gateway_offline    the factory's gateway goes offline: no readings, the MQTT last will fires
                   in live mode (label ``site/factory/*``)
dust_event         a yellow-dust episode lifts PM10 (and a third as much PM2.5) at every
                   station: an event, not a fault (labels ``site/*/air/*/pm10`` and ``pm25``)
=================  =======================================================================
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from simulators.frame import Frame
from simulators.kinds import Kind
from simulators.layout import Layout

__all__ = ["SERIES_TYPES", "Anomaly", "AnomalyPlanner", "Injector", "Label"]

#: Anomaly types aimed at one series, and the metrics each never hits.
SERIES_TYPES: Mapping[str, frozenset[str]] = {
    "spike": frozenset({"capacity"}),
    "level_shift": frozenset({"capacity", "kwh"}),
    "drift": frozenset({"capacity", "kwh", "occupied"}),
    "stuck": frozenset({"capacity"}),
    "impossible": frozenset({"capacity"}),
}
# Direction of a fault per metric: +1 up, -1 down, 0 either way.
_SIGN = {"temp": 0, "voltage": 0, "humidity": 0, "pf": -1}
# Two impossible values per metric; None means "relative to capacity".
_IMPOSSIBLE: Mapping[str, tuple[float, float]] = {
    "pm10": (-10.0, 99999.0),
    "pm25": (-5.0, 99999.0),
    "co2": (-100.0, 99999.0),
    "voc": (-5.0, 99999.0),
    "temp": (150.0, -90.0),
    "humidity": (180.0, -20.0),
    "kw": (-1.0e5, 1.0e7),
    "kwh": (-1.0, -1.0),
    "voltage": (9999.0, -50.0),
    "current": (-50.0, 1.0e6),
    "pf": (1.8, -1.5),
    "occupied": (-5.0, np.nan),
}
_DEFAULT_DURATION = {"impossible": (0.0, 60.0), "dust_event": (21600.0, 86400.0)}
Label = tuple[str, int, int, str]


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One injected anomaly.

    Attributes:
        id: Unique within a run.
        type: One of the label types.
        kind: Sensor kind, or None for complex-wide events.
        sensor: Sensor index in the kind's table, or -1.
        metric: Metric index, or -1 for every metric of the sensor.
        factory: Factory index (for gateway_offline and every sensor anomaly), or -1.
        start_ms: First affected instant, inclusive.
        end_ms: Last affected instant, inclusive.
        magnitude: Size in spreads (spike, shift, drift), ug/m3 PM10 (dust), or 0/1 choosing
            the impossible value.
    """

    id: int
    type: str
    kind: Kind | None
    sensor: int
    metric: int
    factory: int
    start_ms: int
    end_ms: int
    magnitude: float

    def labels(self, layout: Layout) -> list[Label]:
        """The rows this anomaly adds to labels.csv."""
        if self.type == "gateway_offline":
            return [(f"{layout.gateway(self.factory)}/*", self.start_ms, self.end_ms, self.type)]
        if self.type == "dust_event":
            return [
                (f"{site}/*/air/*/{metric}", self.start_ms, self.end_ms, self.type)
                for site in layout.sites
                for metric in ("pm10", "pm25")
            ]
        assert self.kind is not None  # noqa: S101 -- every other type targets a sensor
        path = layout.sensor_path(self.kind, self.sensor)
        metrics = layout.tables[self.kind].metrics
        chosen = metrics if self.metric < 0 else (metrics[self.metric],)
        return [(f"{path}/{m}", self.start_ms, self.end_ms, self.type) for m in chosen]


class AnomalyPlanner:
    """Draws the anomalies of a run, period by period, deterministically.

    Args:
        layout: The complex.
        start_ms: Start of simulated time (periods count from here).
        period_ms: Length of a planning period.
    """

    def __init__(self, layout: Layout, start_ms: int, period_ms: int = 3_600_000) -> None:
        self.layout = layout
        self.start_ms = start_ms
        self.period_ms = period_ms
        sc = layout.scenario
        self.spec: dict[str, dict[str, Any]] = sc.anomalies
        self.scale = float(sc.data.get("anomaly_scale", 1.0))
        self.max_duration_ms = max(
            [int(float(self.duration_s(t)[1]) * 1000) for t in self.spec] + [0]
        )
        self._cache: dict[int, list[Anomaly]] = {}

    def duration_s(self, name: str) -> tuple[float, float]:
        """Shortest and longest duration of anomalies of type ``name``, seconds."""
        lo, hi = self.spec.get(name, {}).get("duration_s", _DEFAULT_DURATION.get(name, (0, 0)))
        return float(lo), float(hi)

    def _rate(self, name: str, key: str) -> float:
        return float(self.spec.get(name, {}).get(key, 0.0)) * self.scale

    def plan(self, period: int) -> list[Anomaly]:
        """The anomalies starting in ``period`` (cached), sorted by start."""
        if period not in self._cache:
            if len(self._cache) > 64:
                for old in sorted(self._cache)[:32]:
                    del self._cache[old]
            self._cache[period] = self._draw(period)
        return self._cache[period]

    def overlapping(self, t0: int, t1: int) -> Iterator[Anomaly]:
        """Anomalies whose window meets ``[t0, t1]``."""
        first = max(0, (t0 - self.max_duration_ms - self.start_ms) // self.period_ms)
        last = (t1 - self.start_ms) // self.period_ms
        for period in range(first, last + 1):
            for a in self.plan(period):
                if a.start_ms <= t1 and a.end_ms >= t0:
                    yield a

    def _draw(self, period: int) -> list[Anomaly]:
        rng = np.random.default_rng([self.layout.scenario.seed, 0xA11, period])
        p0 = self.start_ms + period * self.period_ms
        days = self.period_ms / 86_400_000
        out: list[Anomaly] = []
        lay = self.layout
        for name in SERIES_TYPES:
            per_kind = [(k, t) for k, t in lay.tables.items() if len(t)]
            for kind, table in per_kind:
                eligible = [j for j, m in enumerate(table.metrics) if m not in SERIES_TYPES[name]]
                lam = self._rate(name, "per_series_day") * days * len(table) * len(eligible)
                for _ in range(rng.poisson(lam) if eligible else 0):
                    sensor = int(rng.integers(len(table)))
                    metric = int(eligible[rng.integers(len(eligible))])
                    out.append(self._series_anomaly(rng, name, kind, sensor, metric, p0))
        for kind, table in lay.tables.items():
            lam = self._rate("dropout", "per_sensor_day") * days * len(table)
            for _ in range(rng.poisson(lam) if len(table) else 0):
                sensor = int(rng.integers(len(table)))
                out.append(self._series_anomaly(rng, "dropout", kind, sensor, -1, p0))
        lam = self._rate("gateway_offline", "per_factory_day") * days * lay.n_factories
        for _ in range(rng.poisson(lam)):
            start = p0 + int(rng.integers(self.period_ms))
            lo, hi = self.duration_s("gateway_offline")
            end = start + int(rng.uniform(lo, hi) * 1000)
            f = int(rng.integers(lay.n_factories))
            out.append(Anomaly(0, "gateway_offline", None, -1, -1, f, start, end, 0.0))
        out.extend(self._dust(rng, p0, days))
        out.sort(key=lambda a: (a.start_ms, a.type))
        base = period * 1_000_000
        return [
            Anomaly(
                base + i,
                a.type,
                a.kind,
                a.sensor,
                a.metric,
                a.factory,
                a.start_ms,
                a.end_ms,
                a.magnitude,
            )
            for i, a in enumerate(out)
        ]

    def _series_anomaly(
        self, rng: np.random.Generator, name: str, kind: Kind, sensor: int, metric: int, p0: int
    ) -> Anomaly:
        table = self.layout.tables[kind]
        start = p0 + int(rng.integers(self.period_ms))
        # Snap to a reading of that sensor: step k lands at start + k * dt + phase.
        dt, phase = table.interval_ms, int(table.phase_ms[sensor])
        k = -((self.start_ms + phase - start) // dt)
        start = self.start_ms + k * dt + phase
        lo, hi = self.duration_s(name)
        end = start + (int(rng.uniform(lo, hi) * 1000) if name != "spike" else 0)
        magnitude = {
            "spike": rng.uniform(3.0, 6.0),
            "level_shift": rng.uniform(1.5, 3.0),
            "drift": rng.uniform(1.0, 3.0),
            "impossible": float(rng.integers(2)),
        }.get(name, 0.0)
        sign = rng.choice((-1.0, 1.0))
        factory = int(table.factory[sensor])
        return Anomaly(0, name, kind, sensor, metric, factory, start, end, magnitude * sign)

    def _dust(self, rng: np.random.Generator, p0: int, days: float) -> list[Anomaly]:
        spec = self.spec.get("dust_event")
        if not spec:
            return []
        month = int(np.datetime64(p0, "ms").astype("datetime64[M]").astype(np.int64) % 12)
        weights = spec.get("month_weight") or [1.0] * 12
        lam = float(spec.get("per_day", 0.0)) * self.scale * days * float(weights[month])
        lo, hi = self.duration_s("dust_event")
        pm_lo, pm_hi = spec.get("pm10", (150.0, 600.0))
        out = []
        for _ in range(rng.poisson(lam)):
            start = p0 + int(rng.integers(self.period_ms))
            end = start + int(rng.uniform(lo, hi) * 1000)
            pm = float(rng.uniform(float(pm_lo), float(pm_hi)))
            out.append(Anomaly(0, "dust_event", None, -1, -1, -1, start, end, pm))
        return out


class Injector:
    """Applies planned anomalies to clean frames of one kind, in frame order.

    Args:
        layout: The complex.
        planner: The run's planner.
        kind: The kind of the frames it receives.
        scale: ``float64[n, m]`` typical spread per sensor and metric (the stream's scale).
    """

    def __init__(
        self,
        layout: Layout,
        planner: AnomalyPlanner,
        kind: Kind,
        scale: npt.NDArray[np.float64],
    ) -> None:
        self.layout = layout
        self.planner = planner
        self.kind = kind
        self.table = layout.tables[kind]
        self.scale = scale
        self._stuck: dict[int, float] = {}

    def apply(self, frame: Frame) -> list[Anomaly]:
        """Inject every anomaly meeting ``frame`` (a full-kind frame, modified in place).

        Returns:
            The anomalies that touched the frame's time span.
        """
        t0, t1 = int(frame.time_ms.min()), int(frame.time_ms.max())
        hits = list(self.planner.overlapping(t0, t1))
        # Events first, overriding faults last: a stuck or impossible window stays as labelled.
        last = ("stuck", "impossible")
        for a in sorted(hits, key=lambda a: (a.type != "dust_event", a.type in last, a.start_ms)):
            if a.type == "dust_event":
                if self.kind is Kind.AIR:
                    self._dust(frame, a)
            elif a.type == "gateway_offline":
                rows = self.layout.factory_sensors(self.kind, a.factory)
                window = (frame.time_ms[rows] >= a.start_ms) & (frame.time_ms[rows] <= a.end_ms)
                frame.present[rows] &= ~window
            elif a.kind is self.kind:
                self._sensor(frame, a)
        return hits

    def _dust(self, frame: Frame, a: Anomaly) -> None:
        t = frame.time_ms.astype(np.float64)
        span = max(a.end_ms - a.start_ms, 1)
        ramp = 0.2 * span
        env = np.clip(np.minimum(t - a.start_ms, a.end_ms - t) / ramp, 0.0, 1.0)
        lift = a.magnitude * env * self.table.params["dust_factor"][frame.sensors][:, None]
        frame.values[:, :, 0] += np.round(lift, 1)
        frame.values[:, :, 1] += np.round(lift / 3.0, 1)

    def _sensor(self, frame: Frame, a: Anomaly) -> None:
        r = a.sensor
        times = frame.time_ms[r]
        window = (times >= a.start_ms) & (times <= a.end_ms)
        if not window.any():
            return
        if a.type == "dropout":
            frame.present[r, window] = False
            return
        j = a.metric
        metric = self.table.metrics[j]
        col = frame.values[r, :, j]
        spread = float(self.scale[r, j])
        sign = _SIGN.get(metric, 1) or (1.0 if a.magnitude > 0 else -1.0)
        if metric == "humidity":
            # Away from the bound it would be clipped at, so the fault stays visible.
            sign = -1.0 if float(col[window].mean()) > 55.0 else 1.0
        size = abs(a.magnitude) * spread * sign
        if a.type in ("spike", "level_shift"):
            col[window] += size
        elif a.type == "drift":
            frac = (times[window] - a.start_ms) / max(a.end_ms - a.start_ms, 1)
            col[window] += size * frac
        elif a.type == "stuck":
            if a.id not in self._stuck:
                self._stuck[a.id] = float(col[np.argmax(window)])
            col[window] = self._stuck[a.id]
        elif a.type == "impossible":
            col[window] = self._impossible(metric, r, int(abs(a.magnitude)))
        if a.type != "impossible":
            col[window] = _physical(metric, col[window])
        col[window] = np.round(col[window], 3)

    def _impossible(self, metric: str, sensor: int, variant: int) -> float:
        value = _IMPOSSIBLE[metric][variant]
        if np.isnan(value):
            capacity = float(self.table.params["capacity"][sensor])
            return capacity + max(5.0, float(np.ceil(capacity / 2)))
        return value


def _physical(metric: str, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Keep faulty-but-possible values inside physical bounds (not below zero, pf <= 1)."""
    if metric == "humidity":
        return np.clip(values, 0.0, 100.0)
    if metric == "pf":
        return np.clip(values, 0.05, 1.0)
    if metric in ("temp", "voltage"):
        return values
    return np.maximum(values, 0.0)

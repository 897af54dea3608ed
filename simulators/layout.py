"""The simulated complex: sites, factories and their sensors, drawn once from the scenario.

Sensors are held per kind in columns (``SensorTable``) so signal generation works on whole
kinds at once. Series (one metric of one sensor) are numbered kind by kind in ``Kind`` order,
sensor by sensor, metric by metric; that number is the ``series`` index of every frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.kinds import METRICS, Kind
from simulators.scenario import Scenario

__all__ = ["KIND_CODES", "Layout", "SensorTable", "build_layout"]

#: A small integer per kind, used to seed independent random streams.
KIND_CODES: Mapping[Kind, int] = {Kind.AIR: 1, Kind.POWER: 2, Kind.PARKING: 3}
_SENSOR_PREFIX: Mapping[Kind, str] = {Kind.AIR: "aqs", Kind.POWER: "mtr", Kind.PARKING: "lot"}
_INDUSTRY_PREFIX = {
    "casting": "cast",
    "moulds": "mould",
    "forming": "form",
    "welding": "weld",
    "surface_treatment": "surf",
    "heat_treatment": "heat",
}

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class SensorTable:
    """All sensors of one kind, in columns.

    Attributes:
        kind: The sensor kind.
        metrics: Metric names in payload order (``METRICS[kind]``).
        names: Sensor ids (the topic's last segment), one per sensor.
        factory: ``intp[n]`` factory index of each sensor.
        interval_ms: Sampling interval shared by the kind.
        phase_ms: ``int64[n]`` offset of each sensor's clock inside the interval.
        params: Per-sensor parameters, ``float64[n]`` each (kind specific).
    """

    kind: Kind
    metrics: tuple[str, ...]
    names: tuple[str, ...]
    factory: IntArray
    interval_ms: int
    phase_ms: npt.NDArray[np.int64]
    params: Mapping[str, FloatArray]

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True, slots=True)
class Layout:
    """The whole complex.

    Attributes:
        scenario: The resolved scenario the layout was drawn from.
        sites: Site ids.
        industries: Industry names (index = ``factory_industry`` value).
        factory_ids: Factory ids, unique across the complex.
        factory_site: ``intp[f]`` site index of each factory.
        factory_industry: ``intp[f]`` industry index of each factory.
        factory_kw: ``float64[f]`` contracted power of each factory, kW.
        tables: Sensors by kind.
    """

    scenario: Scenario
    sites: tuple[str, ...]
    industries: tuple[str, ...]
    factory_ids: tuple[str, ...]
    factory_site: IntArray
    factory_industry: IntArray
    factory_kw: FloatArray
    tables: Mapping[Kind, SensorTable]

    @property
    def n_factories(self) -> int:
        """Number of factories."""
        return len(self.factory_ids)

    def series_offset(self, kind: Kind) -> int:
        """Index of the first series of ``kind``."""
        offset = 0
        for k in Kind:
            if k == kind:
                return offset
            offset += len(self.tables[k]) * len(METRICS[k])
        raise KeyError(kind)

    @property
    def n_series(self) -> int:
        """Number of series of the complex."""
        return sum(len(t) * len(t.metrics) for t in self.tables.values())

    def gateway(self, factory: int) -> str:
        """``site/factory`` of a factory: the gateway's part of every topic."""
        return f"{self.sites[self.factory_site[factory]]}/{self.factory_ids[factory]}"

    def sensor_path(self, kind: Kind, sensor: int) -> str:
        """``site/factory/kind/sensor`` of one sensor."""
        table = self.tables[kind]
        return f"{self.gateway(int(table.factory[sensor]))}/{kind.value}/{table.names[sensor]}"

    def series_keys(self, kind: Kind) -> list[str]:
        """Series keys ``site/factory/kind/sensor/metric`` of ``kind``, in series order."""
        table = self.tables[kind]
        return [
            f"{self.sensor_path(kind, i)}/{metric}"
            for i in range(len(table))
            for metric in table.metrics
        ]

    def factory_sensors(self, kind: Kind, factory: int) -> IntArray:
        """Sensor indices of ``kind`` that belong to ``factory``."""
        return np.flatnonzero(self.tables[kind].factory == factory)

    def shard_factories(self, index: int, count: int) -> IntArray:
        """Factories of shard ``index`` of ``count`` (factory number modulo count)."""
        if not 0 <= index < count:
            raise ValueError(f"shard {index}/{count} is out of range")
        return np.arange(index, self.n_factories, count, dtype=np.intp)


def _weights(spec: Mapping[str, Mapping[str, object]]) -> FloatArray:
    w = np.array([float(str(v.get("weight", 1.0))) for v in spec.values()], dtype=np.float64)
    out: FloatArray = w / w.sum()
    return out


def build_layout(scenario: Scenario) -> Layout:
    """Draw the complex of ``scenario`` from its seed.

    Args:
        scenario: A validated scenario.

    Returns:
        The layout; the same scenario and seed always give the same layout.
    """
    rng = np.random.default_rng([scenario.seed, 1])
    fac = scenario.factories
    n = int(fac["count"])
    sites = tuple(str(s["id"]) for s in scenario.sites)
    site_w = np.array([float(s.get("weight", 1.0)) for s in scenario.sites])
    industries = tuple(scenario.industries)
    sizes = dict(fac["sizes"])
    size_names = tuple(sizes)

    f_site = rng.choice(len(sites), size=n, p=site_w / site_w.sum())
    f_ind = rng.choice(len(industries), size=n, p=_weights(scenario.industries))
    f_size = rng.choice(len(size_names), size=n, p=_weights(sizes))
    lo = np.array([float(sizes[s]["contracted_kw"][0]) for s in size_names])[f_size]
    hi = np.array([float(sizes[s]["contracted_kw"][1]) for s in size_names])[f_size]
    f_kw = np.round(np.exp(rng.uniform(np.log(lo), np.log(hi))), -1)
    width = max(4, len(str(n)))
    f_ids = tuple(
        f"{_INDUSTRY_PREFIX.get(industries[i], industries[i][:5])}-{k + 1:0{width}d}"
        for k, i in enumerate(f_ind)
    )

    tables: dict[Kind, SensorTable] = {}
    for kind in Kind:
        per_size = np.array([scenario.kinds_per_factory(s)[kind] for s in size_names])
        counts = per_size[f_size]
        factory = np.repeat(np.arange(n, dtype=np.intp), counts)
        ordinal = np.arange(len(factory)) - np.repeat(np.cumsum(counts) - counts, counts)
        names = tuple(f"{_SENSOR_PREFIX[kind]}{o + 1}" for o in ordinal)
        interval = scenario.interval_ms(kind)
        krng = np.random.default_rng([scenario.seed, 1, KIND_CODES[kind]])
        phase = krng.integers(0, interval, size=len(factory), dtype=np.int64)
        params = _sensor_params(kind, krng, factory, f_ind, f_kw, f_size, scenario)
        tables[kind] = SensorTable(
            kind, tuple(METRICS[kind]), names, factory, interval, phase, params
        )
    return Layout(scenario, sites, industries, f_ids, f_site, f_ind, f_kw, tables)


def _sensor_params(
    kind: Kind,
    rng: np.random.Generator,
    factory: IntArray,
    f_ind: IntArray,
    f_kw: FloatArray,
    f_size: IntArray,
    scenario: Scenario,
) -> dict[str, FloatArray]:
    n = len(factory)
    ind = scenario.industries
    names = tuple(ind)
    industry = f_ind[factory]
    if kind is Kind.AIR:
        pm = np.array([float(ind[k].get("pm", 1.0)) for k in names])[industry]
        voc = np.array([float(ind[k].get("voc", 1.0)) for k in names])[industry]
        bursts = np.array([float(ind[k].get("voc_bursts_per_h", 0.2)) for k in names])[industry]
        return {
            "industry": industry.astype(np.float64),
            "pm_factor": pm * rng.lognormal(0.0, 0.15, n),
            "voc_factor": voc * rng.lognormal(0.0, 0.2, n),
            "voc_bursts_per_h": bursts,
            "co2_gain": rng.uniform(150.0, 600.0, n),
            "temp_offset": rng.normal(0.0, 0.8, n),
            "dust_factor": rng.uniform(0.8, 1.2, n),
        }
    if kind is Kind.POWER:
        # Meters of one factory split its contracted load (Dirichlet shares).
        share = rng.gamma(2.0, 1.0, n)
        total = np.bincount(factory, weights=share, minlength=len(f_kw))
        rated = f_kw[factory] * share / np.maximum(total[factory], 1e-9)
        three_phase = rng.random(n) < 0.85
        return {
            "industry": industry.astype(np.float64),
            "rated_kw": rated,
            "nominal_v": np.where(three_phase, 380.0, 220.0),
            "phases": np.where(three_phase, 3.0, 1.0),
            "pf_nominal": rng.uniform(0.88, 0.97, n),
            "kwh_start": np.round(rng.uniform(1e4, 5e6, n), 1),
        }
    sizes = scenario.factories["sizes"]
    size_names = tuple(sizes)
    lo = np.array([float(sizes[s].get("parking_capacity", [10, 50])[0]) for s in size_names])
    hi = np.array([float(sizes[s].get("parking_capacity", [10, 50])[1]) for s in size_names])
    size = f_size[factory]
    return {
        "industry": industry.astype(np.float64),
        "capacity": np.floor(rng.uniform(lo[size], hi[size] + 1)),
    }

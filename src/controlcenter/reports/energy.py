"""Energy from the rollups: kWh, peak demand against the contract, load factor, peak time.

- kWh: each power meter's hourly mean kW (``readings_1h``: sum / count) times one hour,
  added over meters and hours (an hour without readings adds nothing).
- Demand: the 15-minute mean kW of each meter (the ``readings_5m`` buckets of the quarter
  hour: their sums over their counts), added over the meters of the factory or site;
  the peak is the highest quarter hour, and its start is the peak's time.
- Load factor: mean demand (kWh over the period's hours) over the peak demand.
- Contract: ``factories.contract_kw`` (a site's is its factories' total).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from controlcenter.reports._scope import Scope, bucket_unit
from controlcenter.reports.period import Period
from controlcenter.store.figures import Conn, contracts, demand_peaks, kwh

__all__ = ["EnergyData", "FactoryEnergy", "energy_data"]


@dataclass(slots=True)
class FactoryEnergy:
    """One factory's energy figures (``factory`` None: the whole scope)."""

    factory: str | None
    kwh: float
    peak_kw: float | None
    peak_at: datetime | None  # start of the peak quarter hour (UTC)
    contract_kw: float | None
    load_factor: float | None

    @property
    def peak_share(self) -> float | None:
        """Peak demand over the contract demand."""
        if self.peak_kw is None or not self.contract_kw:
            return None
        return self.peak_kw / self.contract_kw


@dataclass(slots=True)
class EnergyData:
    """Energy figures of a scope and period."""

    factories: list[FactoryEnergy]
    total: FactoryEnergy
    #: (local bucket start, kWh, peak 15-minute demand kW) per hour (a day) or day (a month)
    timeline: list[tuple[datetime, float, float]] = field(default_factory=list)


async def energy_data(conn: Conn, scope: Scope, period: Period) -> EnergyData:
    """The energy figures of ``scope`` over ``period`` from ``readings_1h`` and ``_5m``."""
    args = (scope.site, scope.factory, period.start, period.end, bucket_unit(period.days))
    energy_of: dict[str | None, float] = {}
    kwh_by: dict[datetime, float] = {}
    for r in await kwh(conn, *args, period.tz):
        if r["b"] is not None:
            kwh_by[r["b"]] = r["kwh"]
        elif r["factory"] is not None or r["all_factories"]:
            energy_of[r["factory"]] = r["kwh"]
    peaks: dict[str | None, tuple[float, datetime]] = {}
    peak_by: dict[datetime, float] = {}
    for r in await demand_peaks(conn, *args, period.tz):
        if r["b"] is not None:
            peak_by[r["b"]] = r["kw"]
        else:
            peaks[r["factory"]] = (r["kw"], r["t"])
    contract_of = {
        r["factory"]: r["contract_kw"] for r in await contracts(conn, scope.site, scope.factory)
    }
    known = [c for c in contract_of.values() if c is not None]

    def one(factory: str | None, contract: float | None) -> FactoryEnergy:
        energy = energy_of.get(factory) or 0.0
        peak, at = peaks.get(factory, (None, None))
        factor = energy / period.hours / peak if peak else None
        return FactoryEnergy(factory, energy, peak, at, contract, factor)

    factories = [one(f, contract_of.get(f)) for f in sorted(k for k in energy_of if k is not None)]
    total = one(None, sum(known) if known else None)
    timeline = [(b, kwh_by[b], peak_by.get(b, 0.0)) for b in sorted(kwh_by)]
    return EnergyData(factories, total, timeline)

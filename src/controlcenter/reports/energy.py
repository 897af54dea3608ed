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

from controlcenter.reports._scope import SCOPED_SERIES, Conn, Scope, bucket_unit
from controlcenter.reports.period import Period

__all__ = ["EnergyData", "FactoryEnergy", "energy_data"]

_SERIES = f"WITH s AS ({SCOPED_SERIES})"
# $5 start, $6 end in each query below.
_KWH = (
    _SERIES
    + """
SELECT s.factory, sum(r.sum / r.count) AS kwh
FROM readings_1h r JOIN s ON s.series_id = r.series_id
WHERE r.bucket >= $5 AND r.bucket < $6
GROUP BY ROLLUP (s.factory)
"""
)
_QUARTERS = (
    _SERIES
    + """,
m AS (
    SELECT s.factory, r.series_id,
           date_bin('15 minutes', r.bucket, TIMESTAMPTZ '2000-01-01') AS t,
           sum(r.sum) / sum(r.count) AS kw
    FROM readings_5m r JOIN s ON s.series_id = r.series_id
    WHERE r.bucket >= $5 AND r.bucket < $6
    GROUP BY 1, 2, 3
),
q AS (SELECT factory, t, sum(kw) AS kw FROM m GROUP BY GROUPING SETS ((factory, t), (t)))
"""
)
_PEAKS = (
    _QUARTERS
    + """
SELECT DISTINCT ON (factory) factory, t, kw FROM q ORDER BY factory, kw DESC, t
"""
)
_TIMELINE_PEAKS = (
    _QUARTERS
    + """
SELECT date_trunc($7, t AT TIME ZONE $8) AS b, max(kw) AS kw
FROM q WHERE factory IS NULL GROUP BY 1 ORDER BY 1
"""
)
_TIMELINE_KWH = (
    _SERIES
    + """
SELECT date_trunc($7, r.bucket AT TIME ZONE $8) AS b, sum(r.sum / r.count) AS kwh
FROM readings_1h r JOIN s ON s.series_id = r.series_id
WHERE r.bucket >= $5 AND r.bucket < $6
GROUP BY 1 ORDER BY 1
"""
)
_CONTRACTS = """
SELECT f.code AS factory, f.contract_kw FROM factories f JOIN sites st USING (site_id)
WHERE st.code = $1 AND ($2::text IS NULL OR f.code = $2)
"""


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
    args = (scope.site, scope.factory, "power", ["kw"], period.start, period.end)
    kwh = {r["factory"]: r["kwh"] for r in await conn.fetch(_KWH, *args)}
    peaks = {r["factory"]: (r["kw"], r["t"]) for r in await conn.fetch(_PEAKS, *args)}
    contracts = {
        r["factory"]: r["contract_kw"]
        for r in await conn.fetch(_CONTRACTS, scope.site, scope.factory)
    }
    known = [c for c in contracts.values() if c is not None]

    def one(factory: str | None, contract: float | None) -> FactoryEnergy:
        energy = kwh.get(factory) or 0.0
        peak, at = peaks.get(factory, (None, None))
        factor = energy / period.hours / peak if peak else None
        return FactoryEnergy(factory, energy, peak, at, contract, factor)

    factories = [one(f, contracts.get(f)) for f in sorted(k for k in kwh if k is not None)]
    total = one(None, sum(known) if known else None)
    unit = (bucket_unit(period.days), period.tz)
    peak_by = {r["b"]: r["kw"] for r in await conn.fetch(_TIMELINE_PEAKS, *args, *unit)}
    timeline = [
        (r["b"], r["kwh"], peak_by.get(r["b"], 0.0))
        for r in await conn.fetch(_TIMELINE_KWH, *args, *unit)
    ]
    return EnergyData(factories, total, timeline)

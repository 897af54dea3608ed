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
# $5 start, $6 end, $7 chart unit (hour or day), $8 time zone in both queries below.
# kWh per factory, in all (factory and b NULL) and per chart bucket, in one pass.
_KWH = (
    _SERIES
    + """
SELECT s.factory, date_trunc($7, r.bucket AT TIME ZONE $8) AS b,
       grouping(s.factory) AS all_factories, sum(r.sum / r.count) AS kwh
FROM readings_1h r JOIN s ON s.series_id = r.series_id
WHERE r.bucket >= $5 AND r.bucket < $6
GROUP BY GROUPING SETS ((s.factory), (), (2))
"""
)
# Quarter-hour demand once; then the peak of each factory and of all (factory NULL),
# and the highest quarter hour of all in each chart bucket (b).
_DEMAND = (
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
SELECT * FROM (
    SELECT DISTINCT ON (factory) factory, t, NULL::timestamp AS b, kw FROM q
    ORDER BY factory, kw DESC, t
) peaks
UNION ALL
SELECT NULL, NULL, date_trunc($7, t AT TIME ZONE $8), max(kw) FROM q
WHERE factory IS NULL GROUP BY 3
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
    unit = (bucket_unit(period.days), period.tz)
    kwh: dict[str | None, float] = {}
    kwh_by: dict[datetime, float] = {}
    for r in await conn.fetch(_KWH, *args, *unit):
        if r["b"] is not None:
            kwh_by[r["b"]] = r["kwh"]
        elif r["factory"] is not None or r["all_factories"]:
            kwh[r["factory"]] = r["kwh"]
    peaks: dict[str | None, tuple[float, datetime]] = {}
    peak_by: dict[datetime, float] = {}
    for r in await conn.fetch(_DEMAND, *args, *unit):
        if r["b"] is not None:
            peak_by[r["b"]] = r["kw"]
        else:
            peaks[r["factory"]] = (r["kw"], r["t"])
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
    timeline = [(b, kwh_by[b], peak_by.get(b, 0.0)) for b in sorted(kwh_by)]
    return EnergyData(factories, total, timeline)

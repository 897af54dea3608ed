"""Parking from the hourly rollup: occupancy by hour of the day, hours full.

A lot-hour pairs a parking sensor's hourly mean ``occupied`` with its hourly highest
``capacity`` (``readings_1h``). Occupancy at an hour of the day is the lots' mean occupied
spaces over their capacity, over every day of the period at that local hour. A lot-hour is
full when the lot's highest ``occupied`` in it reached its capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlcenter.reports._scope import SCOPED_SERIES, Conn, Scope
from controlcenter.reports.period import Period

__all__ = ["Lot", "ParkingData", "parking_data"]

_LOT_HOURS = f"""
WITH s AS ({SCOPED_SERIES}),
h AS (
    SELECT s.sensor_id, s.factory, s.sensor, r.bucket,
           max(r.sum / r.count) FILTER (WHERE s.metric = 'occupied') AS occ,
           max(r.max) FILTER (WHERE s.metric = 'occupied') AS occ_max,
           max(r.max) FILTER (WHERE s.metric = 'capacity') AS cap
    FROM readings_1h r JOIN s ON s.series_id = r.series_id
    WHERE r.bucket >= $5 AND r.bucket < $6
    GROUP BY 1, 2, 3, 4
),
lh AS (SELECT * FROM h WHERE occ IS NOT NULL AND cap > 0)
"""
# Per lot, and per local hour of the day, in one pass ($7 time zone).
_PARKING = (
    _LOT_HOURS
    + """
SELECT factory, sensor, extract(hour FROM bucket AT TIME ZONE $7)::int AS hour,
       grouping(factory, sensor) AS by_hour, max(cap) AS capacity, count(*) AS hours,
       count(*) FILTER (WHERE occ_max >= cap) AS hours_full,
       sum(occ) / sum(cap) AS share, max(occ_max / cap) AS peak_share
FROM lh GROUP BY GROUPING SETS ((factory, sensor), (3))
ORDER BY by_hour, factory, sensor, hour
"""
)


@dataclass(slots=True)
class Lot:
    """One parking lot's figures over the period (shares are 0..1)."""

    factory: str
    sensor: str
    capacity: float
    hours: int
    hours_full: int
    share: float
    peak_share: float


@dataclass(slots=True)
class ParkingData:
    """Parking figures of a scope and period."""

    lots: list[Lot]
    by_hour: list[float | None]  # occupancy share by local hour of the day, 0..23

    @property
    def hours_full(self) -> int:
        """Lot-hours full, over every lot."""
        return sum(lot.hours_full for lot in self.lots)


async def parking_data(conn: Conn, scope: Scope, period: Period) -> ParkingData:
    """The parking figures of ``scope`` over ``period`` from ``readings_1h``."""
    args = (
        scope.site,
        scope.factory,
        "parking",
        ["occupied", "capacity"],
        period.start,
        period.end,
    )
    by_hour: list[float | None] = [None] * 24
    lots = []
    for r in await conn.fetch(_PARKING, *args, period.tz):
        if r["by_hour"]:
            by_hour[r["hour"]] = r["share"]
            continue
        lots.append(
            Lot(
                r["factory"],
                r["sensor"],
                r["capacity"],
                r["hours"],
                r["hours_full"],
                r["share"],
                r["peak_share"],
            )
        )
    return ParkingData(lots, by_hour)

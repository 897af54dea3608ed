"""Parking from the hourly rollup: occupancy by hour of the day, hours full.

A lot-hour pairs a parking sensor's hourly mean ``occupied`` with its hourly highest
``capacity`` (``readings_1h``). Occupancy at an hour of the day is the lots' mean occupied
spaces over their capacity, over every day of the period at that local hour. A lot-hour is
full when the lot's highest ``occupied`` in it reached its capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlcenter.reports._scope import Scope
from controlcenter.reports.period import Period
from controlcenter.store.figures import Conn, lot_hours

__all__ = ["Lot", "ParkingData", "parking_data"]


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
    by_hour: list[float | None] = [None] * 24
    lots = []
    rows = await lot_hours(conn, scope.site, scope.factory, period.start, period.end, period.tz)
    for r in rows:
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

"""Air quality from the hourly rollup: hours in each Korean grade, exceedances, worst stations.

A station-hour is one PM sensor's hourly mean (``readings_1h``: sum / count), graded with
:mod:`controlcenter.grades`. An exceedance is a station-day whose daily mean (the day's
sums over its counts) is above the Korean 24-hour environmental standard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from controlcenter.grades import GRADE_BOUNDS
from controlcenter.reports._scope import Scope, bucket_unit
from controlcenter.reports.period import Period
from controlcenter.store.figures import Conn, air_hours

__all__ = ["DAILY_STANDARD", "METRICS", "AirData", "Station", "air_data"]

METRICS = ("pm10", "pm25")
#: Korean 24-hour environmental standards, µg/m³ (a daily mean above it is an exceedance).
DAILY_STANDARD = {"pm10": 100.0, "pm25": 35.0}


@dataclass(slots=True)
class Station:
    """One PM sensor's figures over the period."""

    metric: str
    factory: str
    sensor: str
    hours: list[int]  # station-hours in grades good, normal, bad, very bad
    mean: float
    peak: float  # highest hourly mean
    exceed_days: int


@dataclass(slots=True)
class AirData:
    """Air-quality figures of a scope and period."""

    stations: list[Station]
    #: metric -> [(local bucket start, [hours per grade])], hourly (a day) or daily (a month)
    timeline: dict[str, list[tuple[datetime, list[int]]]] = field(default_factory=dict)

    def grade_hours(self, metric: str) -> list[int]:
        """Station-hours in each grade (good, normal, bad, very bad)."""
        totals = [0, 0, 0, 0]
        for s in self.stations:
            if s.metric == metric:
                totals = [a + b for a, b in zip(totals, s.hours, strict=True)]
        return totals

    def exceed_days(self, metric: str) -> int:
        """Station-days above the 24-hour standard."""
        return sum(s.exceed_days for s in self.stations if s.metric == metric)

    def worst(self, n: int = 5) -> list[Station]:
        """The ``n`` worst stations: most hours graded bad or very bad, then highest peak."""
        return sorted(self.stations, key=lambda s: (-(s.hours[2] + s.hours[3]), -s.peak))[:n]


async def air_data(conn: Conn, scope: Scope, period: Period) -> AirData:
    """The air-quality figures of ``scope`` over ``period`` from ``readings_1h``."""
    rows = await air_hours(
        conn,
        scope.site,
        scope.factory,
        period.start,
        period.end,
        bounds=GRADE_BOUNDS,
        standards=DAILY_STANDARD,
        unit=bucket_unit(period.days),
        tz=period.tz,
    )
    stations = [
        Station(
            r["series_metric"],
            r["factory"],
            r["sensor"],
            [r["g0"], r["g1"], r["g2"], r["g3"]],
            r["mean"],
            r["peak"],
            r["exceed_days"],
        )
        for r in rows
        if not r["by_time"]
    ]
    timeline: dict[str, list[tuple[datetime, list[int]]]] = {m: [] for m in METRICS}
    for r in rows:
        if r["by_time"]:
            points = timeline[r["metric"]]
            if not points or points[-1][0] != r["t"]:
                points.append((r["t"], [0, 0, 0, 0]))
            points[-1][1][r["grade"]] = r["n"]
    return AirData(stations, timeline)

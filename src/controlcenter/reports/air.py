"""Air quality from the hourly rollup: hours in each Korean grade, exceedances, worst stations.

A station-hour is one PM sensor's hourly mean (``readings_1h``: sum / count), graded with
:mod:`controlcenter.grades`. An exceedance is a station-day whose daily mean (the day's
sums over its counts) is above the Korean 24-hour environmental standard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from controlcenter.grades import GRADE_BOUNDS
from controlcenter.reports._scope import SCOPED_SERIES, Conn, Scope, bucket_unit
from controlcenter.reports.period import Period

__all__ = ["DAILY_STANDARD", "METRICS", "AirData", "Station", "air_data"]

METRICS = ("pm10", "pm25")
#: Korean 24-hour environmental standards, µg/m³ (a daily mean above it is an exceedance).
DAILY_STANDARD = {"pm10": 100.0, "pm25": 35.0}

# $1..$4 scope (see SCOPED_SERIES), $5 start, $6 end, $7 pm10 bounds, $8 pm25 bounds.
_HOURS = f"""
WITH s AS ({SCOPED_SERIES}),
h AS (
    SELECT r.bucket, s.series_id, s.metric, s.sensor, s.factory, r.sum, r.count,
           r.sum / r.count AS v,
           CASE WHEN s.metric = 'pm10' THEN $7::float8[] ELSE $8::float8[] END AS b
    FROM readings_1h r JOIN s ON s.series_id = r.series_id
    WHERE r.bucket >= $5 AND r.bucket < $6
)
"""

_STATIONS = (
    _HOURS
    + """,
g AS (SELECT *, (v > b[1])::int + (v > b[2])::int + (v > b[3])::int AS grade FROM h),
d AS (
    SELECT series_id, sum(sum) / sum(count) AS mean
    FROM h GROUP BY series_id, (bucket AT TIME ZONE $9)::date
)
SELECT g.metric, g.factory, g.sensor, g.series_id,
       count(*) FILTER (WHERE grade = 0) AS g0, count(*) FILTER (WHERE grade = 1) AS g1,
       count(*) FILTER (WHERE grade = 2) AS g2, count(*) FILTER (WHERE grade = 3) AS g3,
       sum(g.sum) / sum(g.count) AS mean, max(g.v) AS peak,
       (SELECT count(*) FROM d WHERE d.series_id = g.series_id
          AND d.mean > CASE WHEN g.metric = 'pm10' THEN $10::float8 ELSE $11::float8 END)
         AS exceed_days
FROM g GROUP BY g.metric, g.factory, g.sensor, g.series_id
ORDER BY g.metric, g.factory, g.sensor
"""
)

_TIMELINE = (
    _HOURS
    + """
SELECT metric, date_trunc($9, bucket AT TIME ZONE $10) AS t,
       (v > b[1])::int + (v > b[2])::int + (v > b[3])::int AS grade, count(*) AS n
FROM h GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
)


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
    args = (
        scope.site,
        scope.factory,
        "air",
        list(METRICS),
        period.start,
        period.end,
        list(GRADE_BOUNDS["pm10"]),
        list(GRADE_BOUNDS["pm25"]),
    )
    rows = await conn.fetch(
        _STATIONS, *args, period.tz, DAILY_STANDARD["pm10"], DAILY_STANDARD["pm25"]
    )
    stations = [
        Station(
            r["metric"],
            r["factory"],
            r["sensor"],
            [r["g0"], r["g1"], r["g2"], r["g3"]],
            r["mean"],
            r["peak"],
            r["exceed_days"],
        )
        for r in rows
    ]
    timeline: dict[str, list[tuple[datetime, list[int]]]] = {m: [] for m in METRICS}
    for r in await conn.fetch(_TIMELINE, *args, bucket_unit(period.days), period.tz):
        points = timeline[r["metric"]]
        if not points or points[-1][0] != r["t"]:
            points.append((r["t"], [0, 0, 0, 0]))
        points[-1][1][r["grade"]] = r["n"]
    return AirData(stations, timeline)

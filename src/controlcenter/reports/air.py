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

# One pass over the hours: per series (grades, mean, peak) and per (metric, chart bucket,
# grade) through grouping sets. $1..$4 scope (see SCOPED_SERIES), $5 start, $6 end, $7 pm10
# bounds, $8 pm25 bounds, $9 chart unit (hour or day), $10 time zone, $11 and $12 the pm10
# and pm25 daily standards.
_AIR = f"""
WITH s AS ({SCOPED_SERIES}),
h AS (
    SELECT r.bucket, s.series_id, s.metric, r.sum, r.count, r.sum / r.count AS v,
           CASE WHEN s.metric = 'pm10' THEN $7::float8[] ELSE $8::float8[] END AS b
    FROM readings_1h r JOIN s ON s.series_id = r.series_id
    WHERE r.bucket >= $5 AND r.bucket < $6
),
g AS (
    SELECT series_id, metric, sum, count, v,
           (v > b[1])::int + (v > b[2])::int + (v > b[3])::int AS grade,
           date_trunc($9, bucket AT TIME ZONE $10) AS t
    FROM h
),
d AS (
    SELECT series_id, metric, sum(sum) / sum(count) AS mean
    FROM h GROUP BY series_id, metric, (bucket AT TIME ZONE $10)::date
),
ex AS (
    SELECT series_id,
           count(*) FILTER (
               WHERE mean > CASE WHEN metric = 'pm10' THEN $11::float8 ELSE $12::float8 END
           ) AS n
    FROM d GROUP BY series_id
),
agg AS (
    SELECT series_id, metric, t, grade, grouping(series_id) AS by_time, count(*) AS n,
           count(*) FILTER (WHERE grade = 0) AS g0, count(*) FILTER (WHERE grade = 1) AS g1,
           count(*) FILTER (WHERE grade = 2) AS g2, count(*) FILTER (WHERE grade = 3) AS g3,
           sum(sum) / sum(count) AS mean, max(v) AS peak
    FROM g GROUP BY GROUPING SETS ((series_id), (metric, t, grade))
)
SELECT agg.*, s.metric AS series_metric, s.factory, s.sensor, coalesce(ex.n, 0) AS exceed_days
FROM agg LEFT JOIN s ON s.series_id = agg.series_id LEFT JOIN ex ON ex.series_id = agg.series_id
ORDER BY by_time, s.metric, s.factory, s.sensor, agg.metric, t, grade
"""


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
        _AIR,
        *args,
        bucket_unit(period.days),
        period.tz,
        DAILY_STANDARD["pm10"],
        DAILY_STANDARD["pm25"],
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

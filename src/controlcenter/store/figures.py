"""The reports' reads: a scope's figures from the rollups and the alerts table.

Every statement behind a daily or monthly report (``controlcenter.reports`` builds its
documents from these rows and holds no SQL but its own archive's). A scope is a site, or
one factory of it (``factory`` None); a period is ``[start, end)``, local days and chart
buckets in the time zone ``tz``. All reads of one report share one snapshot
(:func:`snapshot`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime

import asyncpg

__all__ = [
    "Conn",
    "air_hours",
    "alert_counts",
    "alert_times",
    "contracts",
    "demand_peaks",
    "kwh",
    "lot_hours",
    "scope_ids",
    "snapshot",
]

#: A connection, or one held from the pool.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

# The series of one kind and some metrics in a scope; $1 site, $2 factory or NULL,
# $3 kind, $4 metrics. The rollup queries join their rows to it by series_id.
_SCOPED_SERIES = """
SELECT s.series_id, s.metric, se.sensor_id, se.code AS sensor, f.code AS factory
FROM series s
JOIN sensors se ON se.sensor_id = s.sensor_id
JOIN factories f ON f.factory_id = se.factory_id
JOIN sites st ON st.site_id = f.site_id
WHERE st.code = $1 AND ($2::text IS NULL OR f.code = $2)
  AND se.kind = $3 AND s.metric = ANY($4::text[])
"""
_SCOPE_IDS = """
SELECT st.site_id, f.factory_id FROM sites st
LEFT JOIN factories f ON f.site_id = st.site_id AND f.code = $2
WHERE st.code = $1
"""

# One pass over the hours: per series (grades, mean, peak) and per (metric, chart bucket,
# grade) through grouping sets. $1..$4 scope (see _SCOPED_SERIES), $5 start, $6 end, $7 pm10
# bounds, $8 pm25 bounds, $9 chart unit (hour or day), $10 time zone, $11 and $12 the pm10
# and pm25 daily standards.
_AIR = f"""
WITH s AS ({_SCOPED_SERIES}),
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

_SERIES = f"WITH s AS ({_SCOPED_SERIES})"
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

_LOT_HOURS = f"""
WITH s AS ({_SCOPED_SERIES}),
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

_WHERE = """
WHERE site = $1 AND ($2::text IS NULL OR factory = $2) AND opened_at >= $3 AND opened_at < $4
"""
_COUNTS = f"""
SELECT rule_name, severity, count(*) AS n FROM alerts {_WHERE}
GROUP BY 1, 2 ORDER BY 1, 2
"""
_TIMES = f"""
WITH a AS (
    SELECT site, coalesce(factory, '') AS factory,
           extract(epoch FROM acknowledged_at - opened_at)::float8 AS ack,
           extract(epoch FROM resolved_at - opened_at)::float8 AS res
    FROM alerts {_WHERE}
)
SELECT site, CASE WHEN grouping(factory) = 1 THEN NULL ELSE factory END AS factory,
       count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ack) AS ack_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY ack) AS ack_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY res) AS res_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY res) AS res_p90
FROM a GROUP BY GROUPING SETS ((site), (site, factory))
ORDER BY 2 NULLS FIRST
"""


@contextlib.asynccontextmanager
async def snapshot(pool: asyncpg.Pool) -> AsyncIterator[Conn]:
    """A connection in one read-only, repeatable-read transaction: every figure of a report
    from the same state of the database."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        # A month of a large site groups millions of rollup rows: keep the hash tables in
        # memory (this transaction only).
        await conn.execute("SET LOCAL work_mem = '64MB'")
        yield conn


async def scope_ids(conn: Conn, site: str, factory: str | None) -> asyncpg.Record | None:
    """``site_id`` and ``factory_id`` (None: no such factory in the site), or None: no
    such site."""
    return await conn.fetchrow(_SCOPE_IDS, site, factory)


async def air_hours(
    conn: Conn,
    site: str,
    factory: str | None,
    start: datetime,
    end: datetime,
    *,
    bounds: Mapping[str, Sequence[float]],
    standards: Mapping[str, float],
    unit: str,
    tz: str,
) -> list[asyncpg.Record]:
    """The PM sensors' hours (``readings_1h``) in grades: a row per series (``by_time``
    0: hours per grade ``g0``..``g3``, ``mean``, ``peak``, ``exceed_days``: local days
    whose mean is above ``standards``), then a row per (metric, chart bucket ``t`` of
    ``unit``, ``grade``) with its count ``n``. ``bounds``: the grades' bounds per metric
    (``pm10``, ``pm25``)."""
    return await conn.fetch(
        _AIR,
        site,
        factory,
        "air",
        ["pm10", "pm25"],
        start,
        end,
        list(bounds["pm10"]),
        list(bounds["pm25"]),
        unit,
        tz,
        standards["pm10"],
        standards["pm25"],
    )


async def kwh(
    conn: Conn, site: str, factory: str | None, start: datetime, end: datetime, unit: str, tz: str
) -> list[asyncpg.Record]:
    """kWh of the power meters (hourly mean kW, ``readings_1h``): per ``factory``, of all
    (``all_factories``), and per chart bucket ``b`` of ``unit``."""
    return await conn.fetch(_KWH, site, factory, "power", ["kw"], start, end, unit, tz)


async def demand_peaks(
    conn: Conn, site: str, factory: str | None, start: datetime, end: datetime, unit: str, tz: str
) -> list[asyncpg.Record]:
    """The peak 15-minute demand ``kw`` (``readings_5m``) and its start ``t``: per
    ``factory`` and of all (``factory`` None); then the highest quarter hour of all per
    chart bucket ``b`` of ``unit``."""
    return await conn.fetch(_DEMAND, site, factory, "power", ["kw"], start, end, unit, tz)


async def contracts(conn: Conn, site: str, factory: str | None) -> list[asyncpg.Record]:
    """Each factory's ``contract_kw`` (None: not known)."""
    return await conn.fetch(_CONTRACTS, site, factory)


async def lot_hours(
    conn: Conn, site: str, factory: str | None, start: datetime, end: datetime, tz: str
) -> list[asyncpg.Record]:
    """The parking lots' hours (``readings_1h``): a row per lot (``by_hour`` 0:
    ``capacity``, ``hours``, ``hours_full``, ``share``, ``peak_share``), then a row per
    local ``hour`` of the day with its ``share``."""
    return await conn.fetch(
        _PARKING, site, factory, "parking", ["occupied", "capacity"], start, end, tz
    )


async def alert_counts(
    conn: Conn, site: str, factory: str | None, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """Alerts opened in ``[start, end)`` by ``rule_name`` and ``severity`` (``n``)."""
    return await conn.fetch(_COUNTS, site, factory, start, end)


async def alert_times(
    conn: Conn, site: str, factory: str | None, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """Alerts opened in ``[start, end)``: count and the median and 90th percentile of the
    seconds to acknowledge and to resolve, of the site (``factory`` None) and per factory
    (the site's own alerts: factory "")."""
    return await conn.fetch(_TIMES, site, factory, start, end)

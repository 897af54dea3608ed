"""What source attribution reads: a site's pollutant alerts and its wind around an instant.

All SQL is parameterised; both queries are bounded (a row limit, a time window).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

__all__ = [
    "AlertRow",
    "EventRow",
    "WindRow",
    "alert_opened",
    "engine_events",
    "pollutant_alerts",
    "wind_at",
]


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert of one sensor (its opening value, peak and times)."""

    alert_id: int
    factory: str
    kind: str
    sensor: str
    metric: str
    value: float | None
    peak_value: float | None
    opened_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class EventRow:
    """The anomaly engine's first rise at one sensor's metric: episode start, largest value."""

    factory: str
    kind: str
    sensor: str
    metric: str
    started_at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class WindRow:
    """The wind over a window: mean speed, vector-mean direction, readings used."""

    speed_ms: float | None
    direction_deg: float | None
    readings: int


_ALERTS = """
SELECT alert_id, factory, kind, sensor, metric, value, peak_value, opened_at, resolved_at
FROM alerts
WHERE site = $1 AND kind = ANY($2::text[]) AND factory IS NOT NULL AND sensor IS NOT NULL
  AND metric IS NOT NULL AND (state <> 'resolved' OR opened_at >= $3)
ORDER BY opened_at, alert_id
LIMIT $4
"""

# Statistical detectors only (a limit, rate, stuck or silence event says nothing of a plume).
_EVENTS = """
SELECT f.code AS factory, s.kind, s.code AS sensor, se.metric,
       min(coalesce(e.started_at, e.time)) AS started_at, max(e.value) AS value
FROM anomaly_events e
JOIN series se USING (series_id)
JOIN sensors s USING (sensor_id)
JOIN factories f USING (factory_id)
JOIN sites si USING (site_id)
WHERE si.code = $1 AND s.kind = ANY($2::text[]) AND e.time >= $3 AND e.time <= $4
  AND e.detector IN ('robust_z', 'ewma_z', 'shift')
GROUP BY f.code, s.kind, s.code, se.metric
ORDER BY started_at
LIMIT $5
"""

# Speed and direction readings of one station at one instant make one wind vector.
_WIND = """
WITH w AS (
    SELECT se.sensor_id, se.metric, r.time, r.value
    FROM readings r
    JOIN series se USING (series_id)
    JOIN sensors s USING (sensor_id)
    JOIN factories f USING (factory_id)
    JOIN sites si USING (site_id)
    WHERE si.code = $1 AND s.kind = 'weather' AND se.metric IN ('wind_speed', 'wind_dir')
      AND r.time >= $2 AND r.time <= $3
)
SELECT avg(sp.value * sin(radians(d.value))) AS east,
       avg(sp.value * cos(radians(d.value))) AS north,
       avg(sp.value) AS speed, count(*) AS n
FROM w sp JOIN w d ON d.sensor_id = sp.sensor_id AND d.time = sp.time AND d.metric = 'wind_dir'
WHERE sp.metric = 'wind_speed'
"""


async def pollutant_alerts(
    pool: asyncpg.Pool, site: str, kinds: Sequence[str], since: datetime, limit: int
) -> list[AlertRow]:
    """Alerts of ``kinds`` at ``site`` still open or opened since ``since``, oldest first."""
    if await pool.fetchval("SELECT to_regclass('alerts') IS NULL"):
        return []
    rows = await pool.fetch(_ALERTS, site, list(kinds), since, limit)
    return [AlertRow(**dict(r)) for r in rows]


async def alert_opened(
    pool: asyncpg.Pool, site: str, kinds: Sequence[str], alert_id: int
) -> datetime | None:
    """When alert ``alert_id`` of ``kinds`` at ``site`` opened (None: no such alert)."""
    if await pool.fetchval("SELECT to_regclass('alerts') IS NULL"):
        return None
    opened: datetime | None = await pool.fetchval(
        "SELECT opened_at FROM alerts WHERE alert_id = $1 AND site = $2 AND kind = ANY($3::text[])",
        alert_id,
        site,
        list(kinds),
    )
    return opened


async def engine_events(
    pool: asyncpg.Pool,
    site: str,
    kinds: Sequence[str],
    start: datetime,
    end: datetime,
    limit: int,
) -> list[EventRow]:
    """Per sensor metric of ``kinds`` at ``site``, the engine's statistical events in
    ``[start, end]``: the earliest episode start and the largest value."""
    rows = await pool.fetch(_EVENTS, site, list(kinds), start, end, limit)
    return [EventRow(**dict(r)) for r in rows]


async def wind_at(
    pool: asyncpg.Pool, site: str, when: datetime, window: timedelta = timedelta(minutes=10)
) -> WindRow:
    """The site's wind over ``window`` before ``when`` (all weather stations together)."""
    row = await pool.fetchrow(_WIND, site, when - window, when)
    if row is None or not row["n"]:
        return WindRow(None, None, 0)
    direction = math.degrees(math.atan2(row["east"], row["north"])) % 360.0
    return WindRow(float(row["speed"]), direction, int(row["n"]))

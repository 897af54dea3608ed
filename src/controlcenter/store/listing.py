"""Catalog and dead-letter reads for the API: pages of sites, factories, sensors and
series; dead letters and their reasons; a factory's and a site's figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import asyncpg

__all__ = ["catalog_page", "dead_letter_reasons", "dead_letters", "factory_row", "site_row"]

_SITES = """
SELECT si.code AS site, si.name,
       (SELECT count(*) FROM factories f
        WHERE f.site_id = si.site_id AND ($4::text IS NULL OR f.code = $4)) AS factories
FROM sites si
WHERE ($3::text IS NULL OR si.code = $3)
ORDER BY si.code LIMIT $1 OFFSET $2
"""
_FACTORIES = """
SELECT si.code AS site, f.code AS factory, f.name, f.industry, f.contract_kw,
       f.gateway_status, f.gateway_status_at
FROM factories f JOIN sites si USING (site_id)
WHERE ($3::text IS NULL OR si.code = $3) AND ($4::text IS NULL OR f.code = $4)
ORDER BY si.code, f.code LIMIT $1 OFFSET $2
"""
_SENSORS = """
SELECT si.code AS site, f.code AS factory, s.kind, s.code AS sensor, s.location,
       s.metadata::text AS metadata
FROM sensors s JOIN factories f USING (factory_id) JOIN sites si USING (site_id)
WHERE ($3::text IS NULL OR si.code = $3) AND ($4::text IS NULL OR f.code = $4)
  AND ($5::text IS NULL OR s.kind = $5) AND ($6::text IS NULL OR s.code = $6)
ORDER BY si.code, f.code, s.kind, s.code LIMIT $1 OFFSET $2
"""
_SERIES = """
SELECT se.series_id, si.code AS site, f.code AS factory, s.kind, s.code AS sensor,
       se.metric, se.unit
FROM series se JOIN sensors s USING (sensor_id) JOIN factories f USING (factory_id)
JOIN sites si USING (site_id)
WHERE ($3::text IS NULL OR si.code = $3) AND ($4::text IS NULL OR f.code = $4)
  AND ($5::text IS NULL OR s.kind = $5) AND ($6::text IS NULL OR s.code = $6)
  AND ($7::text IS NULL OR se.metric = $7)
  AND ($8::int[] IS NULL OR se.series_id = ANY($8::int[]))
ORDER BY se.series_id LIMIT $1 OFFSET $2
"""
_PAGES = {"sites": _SITES, "factories": _FACTORIES, "sensors": _SENSORS, "series": _SERIES}

# Topic prefixes are compared with starts_with (no LIKE patterns to escape).
_LIST = """
SELECT id, received_at, topic, reason, detail, substring(payload FROM 1 FOR $6) AS preview,
       length(payload) AS payload_bytes
FROM dead_letters
WHERE ($1::text IS NULL OR starts_with(topic, $1)) AND ($2::text IS NULL OR reason = $2)
  AND ($3::timestamptz IS NULL OR received_at >= $3) AND ($4::bigint IS NULL OR id < $4)
ORDER BY id DESC LIMIT $5
"""
_REASONS = """
SELECT reason, count(*) AS count, max(received_at) AS last_at
FROM dead_letters
WHERE ($1::text IS NULL OR starts_with(topic, $1))
  AND ($2::timestamptz IS NULL OR received_at >= $2)
GROUP BY reason ORDER BY count DESC, reason
"""
_FACTORY = """
SELECT f.name, f.contract_kw, f.gateway_status
FROM factories f JOIN sites si USING (site_id) WHERE si.code = $1 AND f.code = $2
"""
_SITE = """
SELECT count(*) AS factories, sum(f.contract_kw) AS contract_kw
FROM factories f JOIN sites si USING (site_id) WHERE si.code = $1
"""


async def catalog_page(
    pool: asyncpg.Pool,
    what: Literal["sites", "factories", "sensors", "series"],
    limit: int,
    offset: int,
    *filters: Any,
) -> list[asyncpg.Record]:
    """Up to ``limit`` rows of ``what`` from ``offset`` on, filtered by (site, factory) and,
    for sensors, (kind, sensor), for series also (metric, ids); None: any."""
    return list(await pool.fetch(_PAGES[what], limit, offset, *filters))


async def dead_letters(
    pool: asyncpg.Pool,
    prefix: str | None,
    reason: str | None,
    since: datetime | None,
    before_id: int | None,
    limit: int,
    preview_bytes: int,
) -> list[asyncpg.Record]:
    """Dead letters newest first, by topic prefix, reason, time and id (paging)."""
    return list(await pool.fetch(_LIST, prefix, reason, since, before_id, limit, preview_bytes))


async def dead_letter_reasons(
    pool: asyncpg.Pool, prefix: str | None, since: datetime | None
) -> list[asyncpg.Record]:
    """Dead letters counted by reason, most frequent first."""
    return list(await pool.fetch(_REASONS, prefix, since))


async def factory_row(pool: asyncpg.Pool, site: str, factory: str) -> asyncpg.Record | None:
    """A factory's name, contract power and gateway status."""
    row: asyncpg.Record | None = await pool.fetchrow(_FACTORY, site, factory)
    return row


async def site_row(pool: asyncpg.Pool, site: str) -> asyncpg.Record | None:
    """A site's factory count and sum of contracts."""
    row: asyncpg.Record | None = await pool.fetchrow(_SITE, site)
    return row

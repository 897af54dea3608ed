"""What a report covers (a site, or one factory of it) and the SQL that selects its series."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = ["SCOPED_SERIES", "Conn", "Scope", "bucket_unit", "local"]

#: A connection, or one held from the pool.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


@dataclass(frozen=True, slots=True)
class Scope:
    """A site, or one factory of it (``factory`` None: the whole site)."""

    site: str
    factory: str | None = None


#: The series of one kind and some metrics in a scope; $1 site, $2 factory or NULL,
#: $3 kind, $4 metrics. The rollup queries join their rows to it by series_id.
SCOPED_SERIES = """
SELECT s.series_id, s.metric, se.sensor_id, se.code AS sensor, f.code AS factory
FROM series s
JOIN sensors se ON se.sensor_id = s.sensor_id
JOIN factories f ON f.factory_id = se.factory_id
JOIN sites st ON st.site_id = f.site_id
WHERE st.code = $1 AND ($2::text IS NULL OR f.code = $2)
  AND se.kind = $3 AND s.metric = ANY($4::text[])
"""


def bucket_unit(days: int) -> str:
    """The charts' time step: hours for a day, days for a month."""
    return "hour" if days == 1 else "day"


def local(t: datetime, tz: str) -> str:
    """``YYYY-MM-DD HH:MM`` in the complex's time zone."""
    from zoneinfo import ZoneInfo

    return t.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")

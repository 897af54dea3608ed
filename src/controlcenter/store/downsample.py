"""Server-side downsampling: pick raw rows or a rollup, re-bucket in SQL, bound the points.

For a range and ``max_points`` the bucket width is at least ``range / max_points``. The
server reads the coarsest source that still yields at least half the points asked for: raw
readings, the 1-minute, 5-minute or 1-hour rollup. Rollup buckets are combined exactly:
the width is a whole number of source buckets aligned on the source grid,
avg = sum(sum) / sum(count), min of mins, max of maxes, the last bucket's last. So a
year of one series in 1,000 points reads at most 8,784 one-hour rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
import numpy as np
import numpy.typing as npt

from controlcenter.domain import US_PER_S

__all__ = ["Plan", "fetch_history", "plan"]

_MINUTE_US: Final = 60 * US_PER_S
_HOUR_US: Final = 3_600 * US_PER_S
#: Rollup tables and their bucket widths, finest first (all aligned on the epoch).
_ROLLUPS: Final = (
    ("readings_1m", _MINUTE_US),
    ("readings_5m", 5 * _MINUTE_US),
    ("readings_1h", _HOUR_US),
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_WORK_MEM: Final = "64MB"

_RAW = """
SELECT series_id, date_bin($4::interval, time, $5::timestamptz) AS bucket,
       avg(value) AS avg, min(value) AS min, max(value) AS max,
       (array_agg(value ORDER BY time DESC))[1] AS last, count(*) AS count
FROM readings
WHERE series_id = ANY($1::int[]) AND time >= $2 AND time < $3
GROUP BY 1, 2 ORDER BY 1, 2
"""

# {table} is one of two constant names chosen by plan(), never user input.
_ROLLUP = """
SELECT series_id, date_bin($4::interval, bucket, $5::timestamptz) AS bucket,
       sum(sum) / nullif(sum(count), 0) AS avg, min(min) AS min, max(max) AS max,
       (array_agg(last ORDER BY bucket DESC))[1] AS last, sum(count)::bigint AS count
FROM {table}
WHERE series_id = ANY($1::int[]) AND bucket >= $2 AND bucket < $3
GROUP BY 1, 2 ORDER BY 1, 2
"""


@dataclass(frozen=True, slots=True)
class Plan:
    """Where to read and how to bucket: ``origin + k * width_us`` for k in [0, max_points).

    >>> p = plan(0, 30 * 86_400 * US_PER_S, 10_000)
    >>> p.source, p.width_us // 60_000_000
    ('readings_5m', 5)
    >>> plan(0, 7 * 86_400 * US_PER_S, 10_000).source  # 60.5 s buckets
    'readings_1m'
    >>> p = plan(0, 30 * 86_400 * US_PER_S, 1_000)
    >>> p.source, p.width_us // 60_000_000
    ('readings_1h', 60)
    >>> plan(0, 3_600 * US_PER_S, 1_000).source
    'readings'
    >>> plan(0, 365 * 86_400 * US_PER_S, 1_000).source
    'readings_1h'
    """

    source: str
    width_us: int
    origin_us: int
    start_us: int
    end_us: int


def plan(start_us: int, end_us: int, max_points: int) -> Plan:
    """The source and bucket grid for ``[start_us, end_us)`` in at most ``max_points``.

    The coarsest source that still gives at least half the points asked for wins: a
    month in 1,000 points reads 720 one-hour rows rather than 43,200 one-minute rows.
    """
    if end_us <= start_us or max_points < 1:
        raise ValueError("need start < end and max_points >= 1")
    width = -(-(end_us - start_us) // max_points)
    if 2 * width < _MINUTE_US:
        return Plan("readings", max(width, 1), start_us, start_us, end_us)
    # The coarsest rollup whose bucket is at most twice the width asked for.
    source, unit = next((name, u) for name, u in reversed(_ROLLUPS) if u <= 2 * width)
    origin = start_us // unit * unit
    width = -(-(end_us - origin) // max_points)
    width = max(unit, -(-width // unit) * unit)
    return Plan(source, width, origin, origin, end_us)


def _ts(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


async def fetch_history(
    pool: asyncpg.Pool, ids: npt.NDArray[np.int32], p: Plan
) -> list[dict[str, Any]]:
    """Buckets per series (``ids`` order), each a dict of equal-length columns."""
    sql = _RAW if p.source == "readings" else _ROLLUP.format(table=p.source)
    args = (
        ids.tolist(),
        _ts(p.start_us),
        _ts(p.end_us),
        timedelta(microseconds=p.width_us),
        _ts(p.origin_us),
    )
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        # The grouping sort of up to max_points x 60 rows fits in memory, not on disk.
        await conn.execute(f"SET LOCAL work_mem = '{_WORK_MEM}'")
        rows = await conn.fetch(sql, *args)
    out: dict[int, dict[str, list[Any]]] = {int(i): _columns([[]] * 6) for i in ids}
    if rows:
        # Transposed in C (a Record iterates over its columns), split where the series changes.
        sid, *cols = zip(*rows, strict=True)
        edges = np.flatnonzero(np.diff(np.asarray(sid, np.int64))) + 1
        for a, b in zip([0, *edges.tolist()], [*edges.tolist(), len(sid)], strict=True):
            out[sid[a]] = _columns([list(c[a:b]) for c in cols])
    return [{"series_id": s, **cols} for s, cols in out.items()]


def _columns(cols: list[list[Any]]) -> dict[str, list[Any]]:
    """Named columns; an average that is not finite (an overflowing sum) becomes null."""
    time, avg, low, high, last, count = cols
    avg = [a if a is None or math.isfinite(a) else None for a in avg]
    return {"time": time, "avg": avg, "min": low, "max": high, "last": last, "count": count}

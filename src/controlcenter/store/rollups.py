"""The rollups' SQL: aggregates that cannot overflow, and the plain-PostgreSQL refresh.

``sum(value)`` over float8 raises ``value out of range: overflow`` as soon as two values
near the float limit meet in one bucket (two readings of 1e308), and ``avg(value)`` already
near 1e154 (it also sums squares). One such bucket used to fail the whole refresh, for
every series, on every retry. :func:`safe_sum` adds the values at most
:data:`SAFE_ADDEND` in absolute value as float8 (exactly what ``sum`` gives, and no
realistic number of them can overflow) and only the rare larger ones as ``numeric``, and
clamps the total to the largest finite float8. Both storage modes use it: these tables on
plain PostgreSQL, the continuous aggregates of :mod:`controlcenter.store.timescale`.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DELETE_PENDING",
    "INSERT_PENDING",
    "REFRESH_1H",
    "REFRESH_1M",
    "REFRESH_5M",
    "ROLLUPS",
    "SAFE_ADDEND",
    "SELECT_PENDING",
    "safe_sum",
]

#: Values up to this size are summed as float8: 1.8e18 of them stay finite.
SAFE_ADDEND: Final = "1e290"
_MAX_FLOAT8: Final = "1.7976931348623157e308"

#: (table, bucket width) of every rollup, finest first.
ROLLUPS: Final = (
    ("readings_1m", "1 minute"),
    ("readings_5m", "5 minutes"),
    ("readings_1h", "1 hour"),
)


def safe_sum(x: str) -> str:
    """A SQL aggregate expression: the sum of ``x`` (float8), never an overflow error.

    Equal to ``sum(x)`` when every ``|x|`` is at most :data:`SAFE_ADDEND`; otherwise the
    exact sum clamped to +-1.7976931348623157e308. Only aggregates over a CASE are used
    (no FILTER), which continuous aggregates of every TimescaleDB 2.x release accept.
    """
    small = f"abs({x}) <= {SAFE_ADDEND}"
    return (
        f"CASE WHEN count(CASE WHEN {small} THEN NULL ELSE 1 END) = 0"
        f" THEN sum(CASE WHEN {small} THEN {x} END)"
        f" ELSE greatest(-{_MAX_FLOAT8}, least({_MAX_FLOAT8},"
        f" coalesce(sum(CASE WHEN {small} THEN {x} END), 0)::numeric"
        f" + sum(CASE WHEN {small} THEN NULL ELSE {x}::numeric END)))::float8 END"
    )


REFRESH_1M: Final = f"""
INSERT INTO readings_1m AS r (bucket, series_id, min, max, sum, count, last)
SELECT date_bin('1 minute', time, TIMESTAMPTZ '2000-01-01'), series_id,
       min(value), max(value), {safe_sum("value")}, count(*),
       (array_agg(value ORDER BY time DESC))[1]
FROM readings
WHERE time >= $1 AND time < $2
GROUP BY 1, 2
ON CONFLICT (series_id, bucket) DO UPDATE
SET min = EXCLUDED.min, max = EXCLUDED.max, sum = EXCLUDED.sum,
    count = EXCLUDED.count, last = EXCLUDED.last
"""

# Coarser rollups from the 1-minute one; {table} and {width} are the constants below.
_REFRESH_FROM_1M = """
INSERT INTO {table} AS r (bucket, series_id, min, max, sum, count, last)
SELECT date_bin('{width}', bucket, TIMESTAMPTZ '2000-01-01'), series_id,
       min(min), max(max), {sum}, sum(count), (array_agg(last ORDER BY bucket DESC))[1]
FROM readings_1m
WHERE bucket >= $1 AND bucket < $2
GROUP BY 1, 2
ON CONFLICT (series_id, bucket) DO UPDATE
SET min = EXCLUDED.min, max = EXCLUDED.max, sum = EXCLUDED.sum,
    count = EXCLUDED.count, last = EXCLUDED.last
"""
REFRESH_5M: Final = _REFRESH_FROM_1M.format(
    table="readings_5m", width="5 minutes", sum=safe_sum("sum")
)
REFRESH_1H: Final = _REFRESH_FROM_1M.format(
    table="readings_1h", width="1 hour", sum=safe_sum("sum")
)

# Ranges a stopping service could not refresh in time (revision 0010): the next start
# refreshes them. Every worker reads them all; refreshing a range twice is harmless.
SELECT_PENDING: Final = "SELECT lo, hi FROM cc_rollup_pending"
INSERT_PENDING: Final = """
INSERT INTO cc_rollup_pending (lo, hi)
SELECT * FROM unnest($1::timestamptz[], $2::timestamptz[])
ON CONFLICT DO NOTHING
"""
DELETE_PENDING: Final = """
DELETE FROM cc_rollup_pending p
USING unnest($1::timestamptz[], $2::timestamptz[]) AS d(lo, hi)
WHERE p.lo = d.lo AND p.hi = d.hi
"""

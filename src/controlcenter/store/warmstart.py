"""What scoring reads and writes: readings history for warm starts, anomaly events.

The engine starts a series from its most recent readings (:func:`fetch_history`) and its
daily baseline from per-(day, slot) sums (:func:`fetch_daily_history`); both are read as
binary columns (:func:`~controlcenter.store.binary.fetch_columns`, no Python object per
row). :func:`insert_anomaly_events` copies detector events into ``anomaly_events``.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import numpy as np
import numpy.typing as npt

from controlcenter.domain import datetime_from_us
from controlcenter.store.binary import fetch_columns
from controlcenter.store.pool import map_storage_errors

__all__ = ["DAILY_COLUMNS", "fetch_daily_history", "fetch_history", "insert_anomaly_events"]

_HISTORY = """
SELECT s.id, r.time, r.value
FROM unnest($1::int[], $2::timestamptz[]) AS s(id, before)
CROSS JOIN LATERAL (
    SELECT time, value FROM readings
    WHERE series_id = s.id AND time < s.before
    ORDER BY time DESC LIMIT $3
) r
"""

# Per (series, local day, slot of the day): what the daily baseline learns
# (anomaly/_daily.py); $5 is the complex's offset from UTC in microseconds.
_DAILY_HISTORY = """
SELECT s.id, d.day, d.slot, d.n, d.total, d.total_sq
FROM unnest($1::int[], $2::timestamptz[]) AS s(id, before)
CROSS JOIN LATERAL (
    SELECT r.us / 86400000000 AS day, (r.us % 86400000000) * $4::bigint / 86400000000 AS slot,
           count(*)::float8 AS n, sum(r.value) AS total, sum(r.value * r.value) AS total_sq
    FROM (
        SELECT (extract(epoch FROM time) * 1000000)::bigint + $5::bigint AS us, value
        FROM readings
        WHERE series_id = s.id AND time < s.before AND time >= s.before - $3::interval
    ) r
    GROUP BY 1, 2
) d
"""
_HISTORY_COLUMNS = (("series", "int4"), ("time", "timestamptz"), ("value", "float8"))
#: The columns of :func:`fetch_daily_history`, in the engine's ``prime_daily`` order.
DAILY_COLUMNS = (
    ("series", "int4"),
    ("day", "int8"),
    ("slot", "int8"),
    ("n", "float8"),
    ("total", "float8"),
    ("total_sq", "float8"),
)

_Columns = dict[str, npt.NDArray[np.generic]]


async def fetch_history(
    pool: asyncpg.Pool, ids: npt.NDArray[np.int32], before_us: npt.NDArray[np.int64], limit: int
) -> _Columns:
    """The last ``limit`` readings of each series before its ``before_us`` (columns
    ``series``, ``time`` in µs, ``value``)."""
    return await _fetch(pool, _HISTORY, ids, before_us, (limit,), _HISTORY_COLUMNS)


async def fetch_daily_history(
    pool: asyncpg.Pool,
    ids: npt.NDArray[np.int32],
    before_us: npt.NDArray[np.int64],
    *,
    days: float,
    slots: int,
    offset_us: int,
) -> _Columns:
    """Per series, local day and slot of the day: count, sum and sum of squares of the
    readings of the ``days`` before ``before_us`` (:data:`DAILY_COLUMNS`)."""
    args = (timedelta(days=days), slots, offset_us)
    return await _fetch(pool, _DAILY_HISTORY, ids, before_us, args, DAILY_COLUMNS)


async def _fetch(
    pool: asyncpg.Pool,
    sql: str,
    ids: npt.NDArray[np.int32],
    before_us: npt.NDArray[np.int64],
    args: tuple[object, ...],
    columns: tuple[tuple[str, str], ...],
) -> _Columns:
    befores = [datetime_from_us(t) for t in before_us.tolist()]
    return await fetch_columns(
        pool, sql, ids.tolist(), befores, *args, columns=columns, what="warm-start rows"
    )


async def insert_anomaly_events(
    pool: asyncpg.Pool,
    time_us: npt.NDArray[np.int64],
    series: npt.NDArray[np.int32],
    detector: npt.NDArray[np.str_],
    value: npt.NDArray[np.float64],
    score: npt.NDArray[np.float64],
    start_us: npt.NDArray[np.int64],
) -> None:
    """Copy detector events into ``anomaly_events``.

    Raises:
        StorageError: the database refused them.
    """
    records = zip(
        [datetime_from_us(t) for t in time_us.tolist()],
        series.tolist(),
        detector.tolist(),
        value.tolist(),
        score.tolist(),
        [datetime_from_us(t) for t in start_us.tolist()],
        strict=True,
    )
    with map_storage_errors("cannot store anomaly events"):
        await pool.copy_records_to_table(
            "anomaly_events",
            records=list(records),
            columns=("time", "series_id", "detector", "value", "score", "started_at"),
        )

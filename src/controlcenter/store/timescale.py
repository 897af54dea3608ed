"""Every TimescaleDB statement of the project, in one place (migrations and upkeep use it).

TimescaleDB cannot be installed on our development machines, so these statements are
checked against the TimescaleDB 2.x documentation and against what a run on TimescaleDB
2.28.3 (PostgreSQL 15) found; each function says which documented behaviour it relies on.
The decision of the storage mode (:func:`decide`) is plain Python and is tested here.

- ``create_hypertable(relation, time_column, chunk_time_interval => ...,
  create_default_indexes => false, if_not_exists => true, migrate_data => true)`` (the
  interface every 2.x release accepts; deprecated in 2.13 in favour of ``by_range`` but
  kept). By default it adds an index on ``time DESC`` alone; the planner then answered the
  latest-value query (``ORDER BY time DESC LIMIT 1`` per series) by walking that index and
  filtering on the series: 9.1 s for 7,644 series instead of 81 ms with the
  ``(series_id, time DESC)`` index. ``if_not_exists`` makes a downgrade to 0002 followed by
  an upgrade work (the table stays a hypertable).
- Continuous aggregates are created ``WITH NO DATA`` inside an autocommit block: "cannot
  run inside a transaction block" applies to ``CREATE MATERIALIZED VIEW ... WITH
  (timescaledb.continuous)`` with data and to ``refresh_continuous_aggregate``.
- ``refresh_continuous_aggregate(cagg, window_start, window_end)`` is a procedure (CALL),
  refuses to run in a transaction block, and refreshes only the buckets that lie entirely
  inside the window: the windows given here are aligned on the bucket width (buckets of
  1 minute, 5 minutes and 1 hour are aligned on the Unix epoch, as ``time_bucket``'s
  default origin 2000-01-03 is).
- ``add_continuous_aggregate_policy(cagg, start_offset, end_offset, schedule_interval,
  if_not_exists)``: a policy refreshes only ``[now - start_offset, now - end_offset)``. With
  a start offset of hours or days, anything older or arriving later than that was never
  materialised (7 days of one series came back as 62 buckets instead of 4,351). The start
  offset is therefore the retention period: late data within the retention is
  materialised, and the window never reaches chunks that retention dropped (a window over
  them would delete the aggregates of rows that no longer exist, which ``NULL`` did).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from controlcenter.errors import ConfigError
from controlcenter.store.rollups import safe_sum

__all__ = [
    "AVAILABLE",
    "CAGG_WIDTHS",
    "COMPRESSION_ENABLED",
    "CREATE_EXTENSION",
    "DROP_TIME_INDEX",
    "PRELOAD_LIBRARIES",
    "add_cagg_policy",
    "add_compression_policy",
    "add_retention_policy",
    "create_cagg",
    "create_hypertable",
    "decide",
    "drop_cagg",
    "enable_compression",
    "preloaded",
    "refresh_cagg",
    "remove_policies",
]

# -- storage mode -----------------------------------------------------------------------

#: One row when the server has the extension's files (it may still not be loadable).
AVAILABLE: Final = "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
#: The libraries the server loaded at start; TimescaleDB must be one of them.
PRELOAD_LIBRARIES: Final = "SELECT current_setting('shared_preload_libraries')"
CREATE_EXTENSION: Final = "CREATE EXTENSION IF NOT EXISTS timescaledb"


def preloaded(shared_preload_libraries: str) -> bool:
    """Whether a ``shared_preload_libraries`` value loads TimescaleDB.

    >>> preloaded("pg_stat_statements, timescaledb")
    True
    >>> preloaded("'$libdir/timescaledb.so'"), preloaded(""), preloaded("timescaledb_toolkit")
    (True, False, False)
    """
    for item in shared_preload_libraries.split(","):
        name = item.strip().strip("'\"").rsplit("/", 1)[-1]
        if name.removesuffix(".so") == "timescaledb":
            return True
    return False


def decide(wanted: str, *, available: bool, preloaded: bool) -> tuple[bool, str]:
    """``(use TimescaleDB, why)`` for ``CC_DB__TIMESCALE`` = ``wanted`` on this server.

    ``CREATE EXTENSION timescaledb`` where the library is installed but not preloaded is
    FATAL: the server drops the connection and the migration dies. So ``auto`` asks for both
    before creating anything, and falls back to plain PostgreSQL with the reason.

    Raises:
        ConfigError: ``wanted`` is ``require`` and the extension cannot be used.
    """
    if wanted == "off":
        return False, "CC_DB__TIMESCALE=off"
    if available and preloaded:
        return True, "the timescaledb extension is installed and preloaded"
    why = (
        "the timescaledb extension is installed but not in shared_preload_libraries"
        if available
        else "the timescaledb extension is not installed on this server"
    )
    if wanted == "require":
        raise ConfigError(f"CC_DB__TIMESCALE=require but {why}")
    return False, why


# -- hypertable, compression, retention (revision 0003) ---------------------------------


def create_hypertable(chunk_days: int) -> str:
    """``readings`` as a hypertable with chunks of ``chunk_days``; no default time index."""
    return f"""
        SELECT create_hypertable('readings', 'time',
            chunk_time_interval => INTERVAL '{int(chunk_days)} days',
            create_default_indexes => false, if_not_exists => true, migrate_data => true)
    """


#: True once compression is configured (ALTER TABLE again would fail on compressed chunks).
COMPRESSION_ENABLED: Final = """
    SELECT coalesce(bool_or(compression_enabled), false)
    FROM timescaledb_information.hypertables WHERE hypertable_name = 'readings'
"""


def enable_compression() -> str:
    """Compressed chunks segmented by series and ordered by time (run once)."""
    return """
        ALTER TABLE readings SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'series_id',
            timescaledb.compress_orderby = 'time DESC')
    """


def add_compression_policy(after_days: int) -> str:
    """Compress chunks older than ``after_days`` (a no-op when the policy exists)."""
    return (
        f"SELECT add_compression_policy('readings', INTERVAL '{int(after_days)} days',"
        " if_not_exists => true)"
    )


def add_retention_policy(retention_days: int) -> str:
    """Drop chunks older than ``retention_days`` (a no-op when the policy exists)."""
    return (
        f"SELECT add_retention_policy('readings', INTERVAL '{int(retention_days)} days',"
        " if_not_exists => true)"
    )


def remove_policies() -> list[str]:
    """Undo revision 0003 as far as it can be undone (the table stays a hypertable)."""
    return [
        "SELECT remove_retention_policy('readings', if_exists => true)",
        "SELECT remove_compression_policy('readings', if_exists => true)",
    ]


#: The default index revision 0003 used to get from create_hypertable (see above).
DROP_TIME_INDEX: Final = "DROP INDEX IF EXISTS readings_time_idx"

# -- continuous aggregates (revisions 0004, 0008, 0010) ---------------------------------

#: Bucket width of each continuous aggregate, and how often its policy runs.
CAGG_WIDTHS: Final = {
    "readings_1m": "1 minute",
    "readings_5m": "5 minutes",
    "readings_1h": "1 hour",
}
_SCHEDULES: Final = {
    "readings_1m": "1 minute",
    "readings_5m": "5 minutes",
    "readings_1h": "30 minutes",
}


def _width(name: str) -> str:
    if name not in CAGG_WIDTHS:
        raise ValueError(f"not a rollup: {name!r}")
    return CAGG_WIDTHS[name]


def create_cagg(name: str) -> str:
    """The continuous aggregate ``name``: the columns of the plain-mode rollup tables.

    ``sum`` and ``avg`` use :func:`~controlcenter.store.rollups.safe_sum`: with a plain
    ``sum(value)`` two readings near the float limit fail the materialisation of every
    series in the window. Real-time (``materialized_only = false``): buckets not yet
    materialised are computed from ``readings`` at query time.
    """
    total = safe_sum("value")
    return f"""
        CREATE MATERIALIZED VIEW IF NOT EXISTS {name}
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT time_bucket(INTERVAL '{_width(name)}', time) AS bucket,
               series_id,
               min(value) AS min,
               max(value) AS max,
               ({total}) / count(*) AS avg,
               {total} AS sum,
               count(*) AS count,
               last(value, time) AS last
        FROM readings
        GROUP BY bucket, series_id
        WITH NO DATA
    """


def add_cagg_policy(name: str, retention_days: int) -> str:
    """Refresh ``name`` over the whole retention, up to its last complete bucket."""
    width = _width(name)
    return f"""
        SELECT add_continuous_aggregate_policy('{name}',
            start_offset => INTERVAL '{int(retention_days)} days',
            end_offset => INTERVAL '{width}',
            schedule_interval => INTERVAL '{_SCHEDULES[name]}', if_not_exists => true)
    """


def drop_cagg(name: str) -> str:
    """Drop ``name`` (its policy goes with it)."""
    _width(name)
    return f"DROP MATERIALIZED VIEW IF EXISTS {name}"


def refresh_cagg(name: str, start: datetime, end: datetime) -> str:
    """Refresh the buckets of ``name`` inside ``[start, end)`` (aligned on its width).

    A literal statement (no parameters), run alone: a procedure that refuses transaction
    blocks must not share a simple-query string with another statement either.
    """
    _width(name)
    return (
        f"CALL refresh_continuous_aggregate('{name}',"
        f" TIMESTAMPTZ '{start.isoformat()}', TIMESTAMPTZ '{end.isoformat()}')"
    )

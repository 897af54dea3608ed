"""Readings table; decides the storage mode (TimescaleDB or plain PostgreSQL).

With TimescaleDB available and preloaded (and CC_DB__TIMESCALE not "off"; see
``controlcenter.store.timescale.decide``), ``readings`` is an ordinary
table that revision 0003 turns into a hypertable. Without it, ``readings`` is natively
range-partitioned by time, and the service creates and drops partitions
(``cc_ensure_partition``). Either way: (time, series_id, value), unique on
(series_id, time) so that redelivered messages never duplicate.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from controlcenter.store import timescale

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

logger = logging.getLogger("controlcenter.migrations")


def _use_timescale() -> bool:
    wanted = op.get_context().config.attributes.get("timescale", "auto")
    bind = op.get_bind()
    available = bool(bind.execute(sa.text(timescale.AVAILABLE)).scalar())
    libraries = str(bind.execute(sa.text(timescale.PRELOAD_LIBRARIES)).scalar() or "")
    # Checked first: CREATE EXTENSION without the preloaded library is FATAL (the
    # connection drops and the migration with it), so auto could not fall back.
    preloaded = timescale.preloaded(libraries)
    use, why = timescale.decide(wanted, available=available, preloaded=preloaded)
    if not use:
        logger.info("not using TimescaleDB: %s", why)
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text(timescale.CREATE_EXTENSION))
    except sa.exc.DBAPIError as exc:
        if wanted == "require":
            raise
        # For instance: this role may not create extensions.
        logger.warning("timescaledb cannot be created: %s", exc.orig)
        return False
    return True


def upgrade() -> None:
    partition_days = int(op.get_context().config.attributes.get("partition_interval_days", 7))
    use_timescale = _use_timescale()
    mode = "timescaledb" if use_timescale else "postgres"
    logger.info("storage mode: %s", mode)
    op.execute(
        sa.text(
            """
            CREATE TABLE cc_storage (
                singleton           boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                mode                text NOT NULL CHECK (mode IN ('timescaledb', 'postgres')),
                partition_interval  interval NOT NULL
            )
            """
        )
    )
    op.execute(
        sa.text(
            "INSERT INTO cc_storage (mode, partition_interval) "
            "VALUES (:m, make_interval(days => :d))"
        ).bindparams(m=mode, d=partition_days)
    )
    partitioned = "" if use_timescale else "PARTITION BY RANGE (time)"
    op.execute(
        f"""
        CREATE TABLE readings (
            time       timestamptz NOT NULL,
            series_id  int NOT NULL,
            value      double precision NOT NULL
        ) {partitioned}
        """
    )
    op.execute("CREATE UNIQUE INDEX readings_series_time ON readings (series_id, time DESC)")
    if use_timescale:
        return
    # Plain PostgreSQL: partitions of a fixed width, aligned on Mondays, made on demand.
    op.execute(
        """
        CREATE FUNCTION cc_ensure_partition(ts timestamptz) RETURNS text
        LANGUAGE plpgsql AS $fn$
        DECLARE
            width    interval := (SELECT partition_interval FROM cc_storage);
            start_ts timestamptz := date_bin(width, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00');
            name     text := 'readings_p' || to_char(start_ts AT TIME ZONE 'UTC', 'YYYYMMDD');
        BEGIN
            IF to_regclass(name) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE IF NOT EXISTS %I PARTITION OF readings '
                    'FOR VALUES FROM (%L) TO (%L)',
                    name, start_ts, start_ts + width);
            END IF;
            RETURN name;
        END
        $fn$
        """
    )
    op.execute("SELECT cc_ensure_partition(now())")
    op.execute("SELECT cc_ensure_partition(now() + (SELECT partition_interval FROM cc_storage))")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS cc_ensure_partition(timestamptz)")
    op.execute("DROP TABLE readings")
    op.execute("DROP TABLE cc_storage")

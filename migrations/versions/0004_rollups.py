"""Rollups at 1 minute and 1 hour: continuous aggregates, or tables the service refreshes.

Both modes expose ``readings_1m`` and ``readings_1h`` with the same columns:
(bucket, series_id, min, max, avg, sum, count, last). With TimescaleDB they are continuous
aggregates with refresh policies (created in an autocommit block, as TimescaleDB requires);
on plain PostgreSQL they are tables that ``controlcenter.store.rollup`` keeps up to date.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_CAGG = """
CREATE MATERIALIZED VIEW IF NOT EXISTS {name}
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '{width}', time) AS bucket,
       series_id,
       min(value) AS min,
       max(value) AS max,
       avg(value) AS avg,
       sum(value) AS sum,
       count(*)   AS count,
       last(value, time) AS last
FROM readings
GROUP BY bucket, series_id
WITH NO DATA
"""

_TABLE = """
CREATE TABLE {name} (
    bucket     timestamptz NOT NULL,
    series_id  int NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    sum        double precision NOT NULL,
    count      bigint NOT NULL,
    avg        double precision GENERATED ALWAYS AS (sum / count) STORED,
    last       double precision NOT NULL,
    PRIMARY KEY (series_id, bucket)
)
"""


def _timescale() -> bool:
    mode = op.get_bind().execute(sa.text("SELECT mode FROM cc_storage")).scalar()
    return mode == "timescaledb"


def upgrade() -> None:
    if not _timescale():
        op.execute(_TABLE.format(name="readings_1m"))
        op.execute(_TABLE.format(name="readings_1h"))
        op.execute("CREATE INDEX readings_1m_bucket ON readings_1m (bucket)")
        op.execute("CREATE INDEX readings_1h_bucket ON readings_1h (bucket)")
        return
    # Continuous aggregates cannot be created inside a transaction block.
    with op.get_context().autocommit_block():
        op.execute(_CAGG.format(name="readings_1m", width="1 minute"))
        op.execute(_CAGG.format(name="readings_1h", width="1 hour"))
        op.execute(
            """
            SELECT add_continuous_aggregate_policy('readings_1m',
                start_offset => INTERVAL '2 hours', end_offset => INTERVAL '1 minute',
                schedule_interval => INTERVAL '1 minute', if_not_exists => true)
            """
        )
        op.execute(
            """
            SELECT add_continuous_aggregate_policy('readings_1h',
                start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
                schedule_interval => INTERVAL '30 minutes', if_not_exists => true)
            """
        )


def downgrade() -> None:
    if _timescale():
        with op.get_context().autocommit_block():
            op.execute("DROP MATERIALIZED VIEW IF EXISTS readings_1h")
            op.execute("DROP MATERIALIZED VIEW IF EXISTS readings_1m")
    else:
        op.execute("DROP TABLE IF EXISTS readings_1h, readings_1m")

"""A 5-minute rollup between the 1-minute and the 1-hour ones.

A month at the API's 10,000 points per series asks for 5-minute buckets: from the 1-minute
rollup that is 43,200 rows to group per request (~30 ms of PostgreSQL alone), from this
one 8,640. Same columns as ``readings_1m``; a continuous aggregate with TimescaleDB
(``controlcenter.store.timescale``), a table the service refreshes from ``readings_1m`` on
plain PostgreSQL (filled here from the 1-minute rows already stored).

It also joins the two branches 0006 (API keys) and 0007 (alerts) into one head.

Revision ID: 0008
Revises: 0006, 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlcenter.store import rollups, timescale

revision = "0008"
down_revision = ("0006", "0007")
branch_labels = None
depends_on = None

_TABLE = """
CREATE TABLE readings_5m (
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

_BACKFILL = f"""
INSERT INTO readings_5m (bucket, series_id, min, max, sum, count, last)
SELECT date_bin('5 minutes', bucket, TIMESTAMPTZ '2000-01-01'), series_id,
       min(min), max(max), {rollups.safe_sum("sum")}, sum(count),
       (array_agg(last ORDER BY bucket DESC))[1]
FROM readings_1m
GROUP BY 1, 2
"""


def _timescale() -> bool:
    mode = op.get_bind().execute(sa.text("SELECT mode FROM cc_storage")).scalar()
    return mode == "timescaledb"


def upgrade() -> None:
    if not _timescale():
        op.execute(_TABLE)
        op.execute("CREATE INDEX readings_5m_bucket ON readings_5m (bucket)")
        op.execute(_BACKFILL)
        return
    retention_days = int(op.get_context().config.attributes.get("retention_days", 365))
    # Continuous aggregates cannot be created inside a transaction block. Its policy
    # materialises what is already stored (it covers the whole retention period).
    with op.get_context().autocommit_block():
        op.execute(timescale.create_cagg("readings_5m"))
        op.execute(timescale.add_cagg_policy("readings_5m", retention_days))


def downgrade() -> None:
    if _timescale():
        with op.get_context().autocommit_block():
            op.execute(timescale.drop_cagg("readings_5m"))
    else:
        op.execute("DROP TABLE IF EXISTS readings_5m")

"""Rollups at 1 minute and 1 hour: continuous aggregates, or tables the service refreshes.

Both modes expose ``readings_1m`` and ``readings_1h`` with the same columns:
(bucket, series_id, min, max, avg, sum, count, last). With TimescaleDB they are continuous
aggregates with refresh policies (``controlcenter.store.timescale``, created in an
autocommit block, as TimescaleDB requires); on plain PostgreSQL they are tables that
``controlcenter.store.maintenance`` keeps up to date.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlcenter.store import timescale

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

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
    retention_days = int(op.get_context().config.attributes.get("retention_days", 365))
    # Continuous aggregates cannot be created inside a transaction block.
    with op.get_context().autocommit_block():
        for name in ("readings_1m", "readings_1h"):
            op.execute(timescale.create_cagg(name))
            op.execute(timescale.add_cagg_policy(name, retention_days))


def downgrade() -> None:
    if _timescale():
        with op.get_context().autocommit_block():
            op.execute(timescale.drop_cagg("readings_1h"))
            op.execute(timescale.drop_cagg("readings_1m"))
    else:
        op.execute("DROP TABLE IF EXISTS readings_1h, readings_1m")

"""TimescaleDB: hypertable, compression and retention (no-op on plain PostgreSQL).

Checked against TimescaleDB 2.x documentation: ``create_hypertable`` with
``chunk_time_interval`` (the form every 2.x release accepts), compression segmented by
``series_id`` and ordered by time, ``add_compression_policy`` and ``add_retention_policy``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _timescale() -> bool:
    mode = op.get_bind().execute(sa.text("SELECT mode FROM cc_storage")).scalar()
    return mode == "timescaledb"


def upgrade() -> None:
    if not _timescale():
        return
    attrs = op.get_context().config.attributes
    chunk_days = int(attrs.get("partition_interval_days", 7))
    retention_days = int(attrs.get("retention_days", 365))
    op.execute(
        f"""
        SELECT create_hypertable('readings', 'time',
            chunk_time_interval => INTERVAL '{chunk_days} days', migrate_data => true)
        """
    )
    op.execute(
        """
        ALTER TABLE readings SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'series_id',
            timescaledb.compress_orderby = 'time DESC')
        """
    )
    op.execute(f"SELECT add_compression_policy('readings', INTERVAL '{chunk_days} days')")
    op.execute(f"SELECT add_retention_policy('readings', INTERVAL '{retention_days} days')")


def downgrade() -> None:
    if not _timescale():
        return
    op.execute("SELECT remove_retention_policy('readings', if_exists => true)")
    op.execute("SELECT remove_compression_policy('readings', if_exists => true)")

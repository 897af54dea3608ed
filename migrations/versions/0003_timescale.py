"""TimescaleDB: hypertable, compression and retention (no-op on plain PostgreSQL).

The statements and the documented behaviour they rely on are in
``controlcenter.store.timescale``: ``create_hypertable`` without the default ``time``
index (revision 0009 drops it where an earlier version of this revision made it) and with
``if_not_exists``, so that a downgrade to 0002 followed by an upgrade works (the table
stays a hypertable); compression is configured once (ALTER TABLE again fails on
compressed chunks); policies with ``if_not_exists``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlcenter.store import timescale

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
    op.execute(timescale.create_hypertable(chunk_days))
    if not op.get_bind().execute(sa.text(timescale.COMPRESSION_ENABLED)).scalar():
        op.execute(timescale.enable_compression())
    op.execute(timescale.add_compression_policy(chunk_days))
    op.execute(timescale.add_retention_policy(retention_days))


def downgrade() -> None:
    if not _timescale():
        return
    for statement in timescale.remove_policies():
        op.execute(statement)

"""Rollups that cannot overflow and that keep late data; ranges left at shutdown.

- ``cc_rollup_pending``: the time ranges a stopping service could not refresh within its
  shutdown budget; the next start refreshes them (``controlcenter.store.maintenance``).
- TimescaleDB: the three continuous aggregates are made again (``WITH NO DATA``) from
  ``controlcenter.store.timescale``: sums that cannot overflow (two readings near the float
  limit failed the materialisation of every series), and refresh policies whose window is
  the whole retention period (windows of 2 hours to 3 days never materialised older or
  late data). Their policies materialise what is stored in the background; until then
  queries compute the missing buckets from ``readings`` (real-time aggregation). To do it
  at once: ``CALL refresh_continuous_aggregate('readings_1h', now() - INTERVAL '365 days',
  now())`` and the same for ``readings_5m`` and ``readings_1m``.

Plain PostgreSQL needs nothing more: the service's refresh uses the same sums.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlcenter.store import timescale

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _timescale() -> bool:
    mode = op.get_bind().execute(sa.text("SELECT mode FROM cc_storage")).scalar()
    return mode == "timescaledb"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE cc_rollup_pending (
            lo  timestamptz NOT NULL,
            hi  timestamptz NOT NULL,
            PRIMARY KEY (lo, hi)
        )
        """
    )
    if not _timescale():
        return
    retention_days = int(op.get_context().config.attributes.get("retention_days", 365))
    # Continuous aggregates cannot be created inside a transaction block.
    with op.get_context().autocommit_block():
        for name in timescale.CAGG_WIDTHS:
            op.execute(timescale.drop_cagg(name))
            op.execute(timescale.create_cagg(name))
            op.execute(timescale.add_cagg_policy(name, retention_days))


def downgrade() -> None:
    # The continuous aggregates keep their new definitions: same columns as before.
    op.execute("DROP TABLE IF EXISTS cc_rollup_pending")

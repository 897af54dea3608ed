"""The time index of ``readings``: BRIN on plain PostgreSQL, none but the series' under TimescaleDB.

Plain PostgreSQL: the rollup refresh reads the minutes that batches touched
(``WHERE time >= $1 AND time < $2``), and without an index on time that was a scan of the
whole week's partition on every refresh. Rows arrive roughly in time order, so a BRIN
index (a few pages per partition, next to nothing per insert) finds them. It offers no
order, so the planner never uses it for the latest-value queries.

TimescaleDB: ``create_hypertable`` used to add ``readings_time_idx (time DESC)``; the
latest-value query then walked it across every series (9.1 s for 7,644 series, cancelled
by the API's query timeout) instead of using ``(series_id, time DESC)`` (81 ms). Revision
0003 no longer makes it (``controlcenter.store.timescale``); this drops it where it was
made.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlcenter.store import timescale

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _timescale() -> bool:
    mode = op.get_bind().execute(sa.text("SELECT mode FROM cc_storage")).scalar()
    return mode == "timescaledb"


def upgrade() -> None:
    if _timescale():
        op.execute(timescale.DROP_TIME_INDEX)
    else:
        op.execute("CREATE INDEX IF NOT EXISTS readings_time_brin ON readings USING brin (time)")


def downgrade() -> None:
    # The TimescaleDB index is not made again: it only ever misled the planner.
    if not _timescale():
        op.execute("DROP INDEX IF EXISTS readings_time_brin")

"""Anomaly events: what the engine's detectors fired on, kept for audit and tuning.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE anomaly_events (
            id          bigserial PRIMARY KEY,
            time        timestamptz NOT NULL,
            series_id   int NOT NULL,
            detector    text NOT NULL,
            value       double precision NOT NULL,
            score       double precision NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX anomaly_events_series_time ON anomaly_events (series_id, time DESC)")
    op.execute("CREATE INDEX anomaly_events_time ON anomaly_events (time DESC)")


def downgrade() -> None:
    op.execute("DROP TABLE anomaly_events")

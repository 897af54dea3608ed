"""Anomaly events carry the start of their episode.

The engine reports an anomaly as an episode: one event where it begins (and again only
when it grows), so ``started_at`` says when the episode began; for limit, rate and stuck
events (one per reading while the condition holds) it is the reading's own time, for a
silence the last reading's. Rows written before this revision have none.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE anomaly_events ADD COLUMN started_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE anomaly_events DROP COLUMN started_at")

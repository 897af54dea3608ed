"""The alert backlog: evaluated alert transitions that a stopping service could not apply.

At shutdown the alert stage applies what it has queued until ``alerts.shutdown_timeout_s``;
what is left (transitions, peak and severity updates) is written here, one row per
evaluated batch, in evaluation order, and the next start applies the rows in ``id`` order
before it evaluates anything new, then deletes them.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE alert_backlog (
            id          bigserial PRIMARY KEY,
            created_at  timestamptz NOT NULL DEFAULT now(),
            work        jsonb NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE alert_backlog")

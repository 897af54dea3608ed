"""Built-in alert rules follow their kind's default until an operator edits them.

From this revision the service updates a built-in rule (``alert_rules.builtin``) to its
kind's packaged default at every start, so a release that fixes a default (the gas and fire
rules' 5-minute off-delay) reaches existing deployments; saving a rule through the API
clears ``builtin``. Built-in rules that an operator already edited (saved after they were
created) become the operator's here, so the next start keeps their edits.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE alert_rules SET builtin = false WHERE builtin AND updated_at > created_at")


def downgrade() -> None:
    # Which rules were built in before cannot be told apart from operators' rules any more;
    # the older release only reads ``builtin`` to seed rules, so nothing to undo.
    pass

"""Sensor kinds are data: the registry table, and no fixed list of kinds on sensors.

``sensor_kinds`` holds one row per kind (``spec``: its metrics, units, limits, value types,
engine knobs and default rules; see ``controlcenter/kinds.py``). The service writes the
packaged kinds (``kinds.yaml``) at start; ``builtin`` rows follow the package until an admin
changes them through the API. ``sensors.kind`` loses its CHECK of the three first kinds
(revision 0001) and keeps only the name's shape; stored sensors keep their kinds.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE sensor_kinds (
            kind        text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]{0,31}$'),
            spec        jsonb NOT NULL,
            builtin     boolean NOT NULL DEFAULT false,
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("ALTER TABLE sensors DROP CONSTRAINT IF EXISTS sensors_kind_check")
    op.execute(
        "ALTER TABLE sensors ADD CONSTRAINT sensors_kind_name"
        " CHECK (kind ~ '^[a-z][a-z0-9_]{0,31}$')"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE sensors DROP CONSTRAINT sensors_kind_name")
    op.execute(
        "ALTER TABLE sensors ADD CONSTRAINT sensors_kind_check"
        " CHECK (kind IN ('air', 'power', 'parking'))"
    )
    op.execute("DROP TABLE sensor_kinds")

"""API keys of the operators' API: hashed secrets, a role and an optional factory scope.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # key_id is the public prefix of the key, used for lookup; only sha256(secret) is kept.
    # The factory scope is by codes (site, factory): a key may be made before data arrives.
    op.execute(
        """
        CREATE TABLE api_keys (
            key_id        text PRIMARY KEY,
            secret_sha256 bytea NOT NULL,
            name          text NOT NULL DEFAULT '',
            role          text NOT NULL
                          CHECK (role IN ('viewer', 'operator', 'maintenance', 'admin')),
            site_code     text,
            factory_code  text,
            created_at    timestamptz NOT NULL DEFAULT now(),
            revoked_at    timestamptz,
            CHECK ((site_code IS NULL) = (factory_code IS NULL))
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE api_keys")

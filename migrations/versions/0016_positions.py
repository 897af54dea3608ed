"""Positions of factories and sensors, and the optional site-plan image.

Two coordinate systems, both optional and independent, on ``factories`` and ``sensors``:

- ``lat``, ``lon``: WGS84 degrees (CHECK ranges; both set or both null);
- ``plan_x``, ``plan_y``: metres on the site plan, origin at the top-left corner of the plan
  image, ``x`` to the east and ``y`` to the south (non-negative; both set or both null).

``site_plans`` holds one uploaded plan image per site (PNG or JPEG) with the ground size it
covers (``width_m`` x ``height_m``), so plan coordinates map onto its pixels.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_TABLES = ("factories", "sensors")


def upgrade() -> None:
    for table in _TABLES:
        op.execute(
            f"""
            ALTER TABLE {table}
                ADD COLUMN lat double precision,
                ADD COLUMN lon double precision,
                ADD COLUMN plan_x double precision,
                ADD COLUMN plan_y double precision,
                ADD CONSTRAINT {table}_lat_range CHECK (lat BETWEEN -90 AND 90),
                ADD CONSTRAINT {table}_lon_range CHECK (lon BETWEEN -180 AND 180),
                ADD CONSTRAINT {table}_geo_pair CHECK ((lat IS NULL) = (lon IS NULL)),
                ADD CONSTRAINT {table}_plan_range
                    CHECK (plan_x BETWEEN 0 AND 1e6 AND plan_y BETWEEN 0 AND 1e6),
                ADD CONSTRAINT {table}_plan_pair CHECK ((plan_x IS NULL) = (plan_y IS NULL))
            """
        )
    op.execute(
        """
        CREATE TABLE site_plans (
            site_id       int PRIMARY KEY REFERENCES sites ON DELETE CASCADE,
            image         bytea NOT NULL,
            content_type  text NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg')),
            width_m       double precision NOT NULL CHECK (width_m > 0 AND width_m <= 1e6),
            height_m      double precision NOT NULL CHECK (height_m > 0 AND height_m <= 1e6),
            uploaded_at   timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE site_plans")
    for table in _TABLES:
        op.execute(
            f"ALTER TABLE {table} DROP COLUMN lat, DROP COLUMN lon,"
            " DROP COLUMN plan_x, DROP COLUMN plan_y"
        )

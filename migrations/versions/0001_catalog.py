"""Catalog (sites, factories, sensors, series) and dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # asyncpg runs one statement per execute.
    for statement in _DDL.split(";"):
        if statement.strip():
            op.execute(statement)


_DDL = """
        CREATE TABLE sites (
            site_id     serial PRIMARY KEY,
            code        text NOT NULL UNIQUE,
            name        text,
            created_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE factories (
            factory_id        serial PRIMARY KEY,
            site_id           int NOT NULL REFERENCES sites ON DELETE CASCADE,
            code              text NOT NULL,
            name              text,
            industry          text,
            contract_kw       double precision,
            gateway_status    text,
            gateway_status_at timestamptz,
            created_at        timestamptz NOT NULL DEFAULT now(),
            UNIQUE (site_id, code)
        );
        CREATE TABLE sensors (
            sensor_id   serial PRIMARY KEY,
            factory_id  int NOT NULL REFERENCES factories ON DELETE CASCADE,
            kind        text NOT NULL CHECK (kind IN ('air', 'power', 'parking')),
            code        text NOT NULL,
            location    text,
            metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at  timestamptz NOT NULL DEFAULT now(),
            UNIQUE (factory_id, kind, code)
        );
        -- series_id is the dense integer the anomaly engine uses as its row index.
        CREATE TABLE series (
            series_id   serial PRIMARY KEY,
            sensor_id   int NOT NULL REFERENCES sensors ON DELETE CASCADE,
            metric      text NOT NULL,
            unit        text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            UNIQUE (sensor_id, metric)
        );
        CREATE TABLE dead_letters (
            id           bigserial PRIMARY KEY,
            received_at  timestamptz NOT NULL DEFAULT now(),
            topic        text NOT NULL,
            payload      bytea NOT NULL,
            reason       text NOT NULL,
            detail       text NOT NULL DEFAULT ''
        );
        CREATE INDEX dead_letters_received_at ON dead_letters (received_at DESC);
        CREATE INDEX dead_letters_reason ON dead_letters (reason, received_at DESC);
"""


def downgrade() -> None:
    op.execute("DROP TABLE dead_letters, series, sensors, factories, sites")

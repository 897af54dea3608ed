"""Paging: contacts, on-call schedules and their overrides, pending pages, delivery attempts.

``page_pending`` holds every page that is due or will be (repeats until acknowledged,
pages held by quiet hours), so a restart loses none; ``page_deliveries`` records every
attempt, failure and retry.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_DDL = """
CREATE TABLE paging_contacts (
    contact_id   serial PRIMARY KEY,
    name         text NOT NULL,
    email        text,
    phone        text,
    language     text NOT NULL DEFAULT 'ko' CHECK (language IN ('ko', 'en')),
    sites        text[] NOT NULL DEFAULT '{}',
    factories    text[] NOT NULL DEFAULT '{}',
    channels     text[] NOT NULL DEFAULT '{email}',
    webhook_url  text,
    quiet_start  time,
    quiet_end    time,
    enabled      boolean NOT NULL DEFAULT true
);
CREATE TABLE paging_schedules (
    schedule_id    serial PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    site           text,
    level          int NOT NULL DEFAULT 0 CHECK (level >= 0),
    min_severity   text NOT NULL DEFAULT 'info'
                   CHECK (min_severity IN ('info', 'warning', 'critical')),
    handover_day   int NOT NULL DEFAULT 0 CHECK (handover_day BETWEEN 0 AND 6),
    handover_time  time NOT NULL DEFAULT '09:00',
    start_date     date NOT NULL,
    rotation       int[] NOT NULL,
    enabled        boolean NOT NULL DEFAULT true
);
CREATE TABLE paging_overrides (
    override_id  serial PRIMARY KEY,
    schedule_id  int NOT NULL REFERENCES paging_schedules ON DELETE CASCADE,
    contact_id   int NOT NULL REFERENCES paging_contacts ON DELETE CASCADE,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason       text NOT NULL DEFAULT ''
);
CREATE INDEX paging_overrides_schedule ON paging_overrides (schedule_id, ends_at);
CREATE TABLE page_pending (
    alert_id     bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
    contact_id   int NOT NULL REFERENCES paging_contacts ON DELETE CASCADE,
    reason       text NOT NULL,
    next_at      timestamptz NOT NULL,
    repeat_s     double precision,
    sent         int NOT NULL DEFAULT 0,
    held         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (alert_id, contact_id)
);
CREATE INDEX page_pending_due ON page_pending (next_at);
CREATE TABLE page_deliveries (
    id          bigserial PRIMARY KEY,
    time        timestamptz NOT NULL DEFAULT now(),
    alert_id    bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
    contact_id  int,
    person      text NOT NULL,
    channel     text NOT NULL,
    reason      text NOT NULL,
    attempt     int NOT NULL,
    outcome     text NOT NULL
                CHECK (outcome IN ('sent', 'retry', 'failed', 'held', 'dropped', 'skipped')),
    error       text NOT NULL DEFAULT ''
);
CREATE INDEX page_deliveries_alert ON page_deliveries (alert_id, time)
"""


def upgrade() -> None:
    # asyncpg runs one statement per execute.
    for statement in _DDL.split(";"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP TABLE page_deliveries, page_pending, paging_overrides, paging_schedules,"
        " paging_contacts"
    )

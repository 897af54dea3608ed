"""Paging and report mail, durable: the send outbox, contacts bound to API keys, report
mail attempts and their retries.

- ``page_outbox``: every send (one page, one person, one channel) from the moment it is
  dispatched until its last attempt is recorded; a stopped or crashed pager leaves its
  unfinished sends here and the next one sends them (leases keep two pagers apart).
- ``paging_contacts.key_id``: the API key whose websocket receives the person's pages.
- ``page_deliveries.outcome`` also takes ``interrupted`` (a send cut by shutdown).
- ``report_mail_attempts``: every attempt to mail a scheduled report; ``reports`` keeps the
  recipients and when the next attempt is due.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_DDL = """
CREATE TABLE page_outbox (
    send_id      bigserial PRIMARY KEY,
    contact_id   int NOT NULL REFERENCES paging_contacts ON DELETE CASCADE,
    channel      text NOT NULL,
    page         jsonb NOT NULL,
    attempt      int NOT NULL DEFAULT 0,
    lease_until  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX page_outbox_lease ON page_outbox (lease_until);
ALTER TABLE paging_contacts ADD COLUMN key_id text;
CREATE UNIQUE INDEX paging_contacts_key ON paging_contacts (key_id) WHERE key_id IS NOT NULL;
ALTER TABLE page_deliveries DROP CONSTRAINT IF EXISTS page_deliveries_outcome_check;
ALTER TABLE page_deliveries ADD CONSTRAINT page_deliveries_outcome_check
    CHECK (outcome IN ('sent', 'retry', 'failed', 'held', 'dropped', 'skipped', 'interrupted'));
ALTER TABLE reports ADD COLUMN mail_recipients text[] NOT NULL DEFAULT '{}';
ALTER TABLE reports ADD COLUMN mail_attempts int NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN mail_next_at timestamptz;
CREATE INDEX reports_mail_due ON reports (mail_next_at) WHERE mail_next_at IS NOT NULL;
CREATE TABLE report_mail_attempts (
    id          bigserial PRIMARY KEY,
    report_id   bigint NOT NULL REFERENCES reports ON DELETE CASCADE,
    time        timestamptz NOT NULL DEFAULT now(),
    attempt     int NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed')),
    recipients  int NOT NULL,
    error       text NOT NULL DEFAULT ''
);
CREATE INDEX report_mail_attempts_report ON report_mail_attempts (report_id, time)
"""


def upgrade() -> None:
    # asyncpg runs one statement per execute.
    for statement in _DDL.split(";"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE report_mail_attempts, page_outbox")
    op.execute("DROP INDEX IF EXISTS reports_mail_due")
    op.execute(
        "ALTER TABLE reports DROP COLUMN mail_recipients, DROP COLUMN mail_attempts,"
        " DROP COLUMN mail_next_at"
    )
    op.execute("DROP INDEX IF EXISTS paging_contacts_key")
    op.execute("ALTER TABLE paging_contacts DROP COLUMN key_id")

"""Reports: generated report files (kept for download) and report subscribers.

- ``reports``: every report the API or the schedule generated, with its file. Scheduled
  ones are unique per (kind, site, factory, period, language, format): a restarted or a
  second worker never generates and mails one twice.
- ``report_subscribers``: who gets the scheduled reports by e-mail (a site, or one factory
  of it; daily, monthly or both; language and file format).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


_DDL = """
        CREATE TABLE reports (
            report_id    bigserial PRIMARY KEY,
            kind         text NOT NULL CHECK (kind IN ('daily', 'monthly')),
            site         text NOT NULL,
            factory      text,
            period       text NOT NULL,
            lang         text NOT NULL CHECK (lang IN ('ko', 'en')),
            format       text NOT NULL CHECK (format IN ('pdf', 'xlsx')),
            filename     text NOT NULL,
            content      bytea NOT NULL,
            size_bytes   int NOT NULL,
            scheduled    boolean NOT NULL DEFAULT false,
            created_by   text NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            mailed_to    int NOT NULL DEFAULT 0,
            mail_error   text
        );
        CREATE INDEX reports_created ON reports (created_at DESC);
        CREATE INDEX reports_site_factory ON reports (site, factory, created_at DESC);
        CREATE UNIQUE INDEX reports_scheduled_once
            ON reports (kind, site, coalesce(factory, ''), period, lang, format)
            WHERE scheduled;
        CREATE TABLE report_subscribers (
            subscriber_id serial PRIMARY KEY,
            name          text NOT NULL,
            email         text NOT NULL,
            site          text NOT NULL,
            factory       text,
            daily         boolean NOT NULL DEFAULT true,
            monthly       boolean NOT NULL DEFAULT true,
            lang          text NOT NULL DEFAULT 'ko' CHECK (lang IN ('ko', 'en')),
            format        text NOT NULL DEFAULT 'pdf' CHECK (format IN ('pdf', 'xlsx')),
            enabled       boolean NOT NULL DEFAULT true,
            created_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX report_subscribers_site ON report_subscribers (site)
"""


def upgrade() -> None:
    # One statement per execute: the driver prepares each.
    for statement in _DDL.split(";"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS report_subscribers, reports")

"""Alerts: rules (with the default set), alerts, their audit history, escalation contacts,
webhook endpoints and notification dead letters.

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import json

from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # asyncpg runs one statement per execute.
    for statement in _DDL.split(";"):
        if statement.strip():
            op.execute(statement)
    for name, definition in _DEFAULT_RULES:
        text = json.dumps(definition).replace("'", "''")
        op.execute(
            "INSERT INTO alert_rules (name, enabled, builtin, definition)"
            f" VALUES ('{name}', true, true, '{text}'::jsonb)"
        )


_DDL = """
        CREATE TABLE alert_rules (
            rule_id     serial PRIMARY KEY,
            name        text NOT NULL UNIQUE,
            enabled     boolean NOT NULL DEFAULT true,
            builtin     boolean NOT NULL DEFAULT false,
            definition  jsonb NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE alerts (
            alert_id         bigserial PRIMARY KEY,
            rule_id          int REFERENCES alert_rules ON DELETE SET NULL,
            rule_name        text NOT NULL,
            subject          text NOT NULL,
            state            text NOT NULL DEFAULT 'open'
                             CHECK (state IN ('open', 'acknowledged', 'resolved')),
            severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
            series_id        int,
            site             text NOT NULL,
            factory          text,
            kind             text,
            sensor           text,
            metric           text,
            message          text NOT NULL DEFAULT '',
            value            double precision,
            peak_value       double precision,
            last_value       double precision,
            opened_at        timestamptz NOT NULL,
            last_seen_at     timestamptz,
            acknowledged_at  timestamptz,
            acknowledged_by  text,
            resolved_at      timestamptz,
            resolved_by      text,
            assignee         text,
            escalation_level int NOT NULL DEFAULT 0,
            escalated_at     timestamptz,
            notes            jsonb NOT NULL DEFAULT '[]'::jsonb
        );
        -- One active alert per rule and subject: repeated breaches update it.
        CREATE UNIQUE INDEX alerts_one_active ON alerts (rule_id, subject)
            WHERE state <> 'resolved';
        CREATE INDEX alerts_opened ON alerts (opened_at DESC);
        CREATE INDEX alerts_state ON alerts (state, opened_at DESC);
        CREATE INDEX alerts_site_factory ON alerts (site, factory, opened_at DESC);
        CREATE TABLE alert_history (
            id          bigserial PRIMARY KEY,
            alert_id    bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
            time        timestamptz NOT NULL DEFAULT now(),
            actor       text NOT NULL,
            transition  text NOT NULL,
            details     jsonb NOT NULL DEFAULT '{}'::jsonb
        );
        CREATE INDEX alert_history_alert ON alert_history (alert_id, time);
        CREATE TABLE alert_contacts (
            contact_id  serial PRIMARY KEY,
            level       int NOT NULL CHECK (level >= 1),
            name        text NOT NULL,
            phone       text,
            email       text,
            webhook_url text,
            site        text,
            enabled     boolean NOT NULL DEFAULT true
        );
        CREATE TABLE alert_webhooks (
            webhook_id   serial PRIMARY KEY,
            name         text NOT NULL,
            url          text NOT NULL,
            enabled      boolean NOT NULL DEFAULT true,
            min_severity text NOT NULL DEFAULT 'info'
                         CHECK (min_severity IN ('info', 'warning', 'critical'))
        );
        CREATE TABLE alert_dead_letters (
            id          bigserial PRIMARY KEY,
            created_at  timestamptz NOT NULL DEFAULT now(),
            channel     text NOT NULL,
            target      text NOT NULL,
            payload     jsonb NOT NULL,
            attempts    int NOT NULL,
            error       text NOT NULL DEFAULT ''
        );
        CREATE INDEX alert_dead_letters_created ON alert_dead_letters (created_at DESC)
"""


def _air(metric: str, raise_at: float, clear_at: float, very_bad: float, what: str) -> dict:
    return {
        "description": what,
        "scope": {"kind": "air"},
        "conditions": [{"metric": metric, "raise_at": raise_at, "clear_at": clear_at}],
        "severity": "warning",
        "steps": [{"at": very_bad, "severity": "critical"}],
        "clear_after_s": 300,
        "escalate_after_s": 900,
    }


# Frozen copy of the defaults at this revision (a migration never imports the package).
_DEFAULT_RULES: list[tuple[str, dict]] = [
    (
        "pm10-grade",
        _air("pm10", 80, 70, 150, "PM10 bad (81-150 ug/m3) / very bad (151+): Korean AQ grades"),
    ),
    (
        "pm25-grade",
        _air("pm25", 35, 30, 75, "PM2.5 bad (36-75 ug/m3) / very bad (76+): Korean AQ grades"),
    ),
    ("co2-limit", _air("co2", 1000, 900, 2000, "CO2 above 1000 ppm (critical above 2000)")),
    ("voc-limit", _air("voc", 500, 400, 1000, "VOC above 500 ppb (critical above 1000)")),
    (
        "power-factor-low",
        {
            "description": "power factor below 0.9 for 5 minutes",
            "scope": {"kind": "power"},
            "conditions": [{"metric": "pf", "op": "below", "raise_at": 0.9, "clear_at": 0.92}],
            "severity": "warning",
            "raise_after_s": 300,
            "clear_after_s": 300,
        },
    ),
    (
        "demand-over-contract",
        {
            "description": "demand above the factory's contracted kW for a minute",
            "scope": {"kind": "power"},
            "conditions": [
                {"metric": "kw", "raise_at": 1.0, "clear_at": 0.95, "relative_to": "contract_kw"}
            ],
            "severity": "warning",
            "steps": [{"at": 1.1, "severity": "critical"}],
            "raise_after_s": 60,
            "clear_after_s": 300,
            "escalate_after_s": 600,
        },
    ),
    (
        "parking-full",
        {
            "description": "car park above 95% of its capacity",
            "scope": {"kind": "parking"},
            "conditions": [
                {"metric": "occupied", "raise_at": 0.95, "clear_at": 0.9, "relative_to": "capacity"}
            ],
            "severity": "info",
            "clear_after_s": 120,
        },
    ),
    (
        "sensor-silent",
        {
            "description": "a sensor stopped reporting",
            "per": "sensor",
            "conditions": [{"detector": "silence"}],
            "severity": "warning",
            "escalate_after_s": 1800,
        },
    ),
    (
        "sensor-stuck",
        {
            "description": "a sensor reports the same value for too long",
            "per": "sensor",
            "conditions": [{"detector": "stuck"}],
            "severity": "warning",
        },
    ),
    (
        "gateway-offline",
        {
            "description": "a factory gateway went offline (MQTT last will)",
            "conditions": [{"gateway": "offline"}],
            "severity": "critical",
            "raise_after_s": 30,
            "escalate_after_s": 600,
        },
    ),
]


def downgrade() -> None:
    op.execute(
        "DROP TABLE alert_dead_letters, alert_webhooks, alert_contacts, alert_history, alerts,"
        " alert_rules"
    )

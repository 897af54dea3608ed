"""The service runs the report schedule as one of its tasks (and the tests' settings
switch it off, so that no other test's service mails anything)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg

from controlcenter.config import Settings
from controlcenter.reports.archive import ReportArchive, Subscriber
from controlcenter.reports.schedule import due_periods
from tests._support import running_service


def test_the_test_settings_switch_the_schedule_off(make_settings, database_url):
    assert make_settings(database_url).reports.schedule_enabled is False
    assert Settings().reports.schedule_enabled is True  # the service's default


async def test_the_service_mails_the_due_report_to_a_subscriber(make_settings, database_url, inbox):
    box, port = inbox
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    site = f"svc{uuid.uuid4().hex[:8]}"
    try:
        await pool.execute("INSERT INTO sites (code) VALUES ($1)", site)
        address = f"svc-{uuid.uuid4().hex[:6]}@example.com"
        await ReportArchive(pool).subscribe(Subscriber("svc", address, site, monthly=False))
        settings = make_settings(
            database_url,
            api={"enabled": False},
            reports={"schedule_enabled": True, "check_interval_s": 0.2},
            smtp={"host": "127.0.0.1", "port": port, "starttls": False},
        )
        async with running_service(settings):
            async with asyncio.timeout(90):
                while not box.to(address):  # noqa: ASYNC110 - aiosmtpd's thread fills it
                    await asyncio.sleep(0.1)
        day = due_periods(settings, datetime.now(UTC))[0].label
        (row,) = await ReportArchive(pool).stored(site, None, limit=5, offset=0)
        assert row["period"] == day
        assert row["scheduled"]
        assert row["mailed_to"] == 1
    finally:
        await pool.close()

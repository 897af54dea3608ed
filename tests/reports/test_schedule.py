"""Scheduled reports: made once when due, stored, and mailed to a real SMTP server
(aiosmtpd on loopback); the message as received is checked, attachment included."""

from __future__ import annotations

import asyncio
import email
import email.header
import io
import uuid
from datetime import UTC, date, datetime
from email.message import Message

import asyncpg
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from controlcenter.config import Settings
from controlcenter.embedded._port import free_port
from controlcenter.reports.archive import ReportArchive, Subscriber
from controlcenter.reports.schedule import ReportScheduler, due_periods
from tests.reports._seed import seed


@pytest.fixture
async def pool(database_url):
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield p
    finally:
        await p.close()


def _settings(port: int, **reports) -> Settings:
    return Settings(
        smtp={
            "host": "127.0.0.1",
            "port": port,
            "starttls": False,
            "from_address": "reports@complex.example",
        },
        reports=reports,
    )


def _subject(message: Message) -> str:
    return str(email.header.make_header(email.header.decode_header(message["Subject"])))


def _attachment(message: Message) -> tuple[str, bytes]:
    parts = [p for p in message.walk() if p.get_filename()]
    assert len(parts) == 1
    return parts[0].get_filename(), parts[0].get_payload(decode=True)


async def test_due_reports_are_made_once_stored_and_mailed_to_their_subscribers(pool, inbox):
    box, port = inbox
    cx = await seed(pool, [date(2026, 11, 10)])
    archive = ReportArchive(pool)
    ko, en = f"ko-{uuid.uuid4().hex[:6]}@example.com", f"en-{uuid.uuid4().hex[:6]}@example.com"
    await archive.subscribe(Subscriber("관제실", ko, cx.site))
    await archive.subscribe(
        Subscriber("Plant 1", en, cx.site, "f01", monthly=False, lang="en", format="xlsx")
    )
    scheduler = ReportScheduler(_settings(port), pool)
    now = datetime(2026, 11, 10, 21, 30, tzinfo=UTC)  # 2026-11-11 06:30 in Seoul
    made = await scheduler.run_due(now)
    ours = await archive.stored(cx.site, None, limit=10, offset=0)
    assert {(r["kind"], r["factory"], r["period"], r["format"]) for r in ours} == {
        ("daily", None, "2026-11-10", "pdf"),
        ("monthly", None, "2026-10", "pdf"),
        ("daily", "f01", "2026-11-10", "xlsx"),
    }
    assert {r["report_id"] for r in ours} <= set(made)
    assert all(r["mailed_to"] == 1 and r["mail_error"] is None for r in ours)

    daily_ko = [m for m in box.to(ko) if "2026-11-10" in m["Subject"]]
    assert len(daily_ko) == 1
    assert len(box.to(ko)) == 2  # the day and the month
    msg = daily_ko[0]
    assert msg["From"] == "reports@complex.example"
    assert _subject(msg) == f"{cx.site} 일간 보고서 2026-11-10"
    body = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    assert "첨부합니다" in body.get_payload(decode=True).decode("utf-8")
    name, content = _attachment(msg)
    assert name == f"report-daily-{cx.site}-2026-11-10-ko.pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    assert "일간 보고서" in text
    assert cx.site in text
    stored = await archive.get(
        next(r["report_id"] for r in ours if r["kind"] == "daily" and r["format"] == "pdf")
    )
    assert stored is not None
    assert stored["content"] == content  # kept for download

    (msg_en,) = box.to(en)
    assert msg_en["Subject"] == f"{cx.site} f01 Daily report 2026-11-10"
    name, content = _attachment(msg_en)
    assert name.endswith(".xlsx")
    book = load_workbook(io.BytesIO(content))
    assert book["Summary"]["A1"].value.startswith("Daily report")

    # Due again a minute later (or after a restart): nothing is made or sent twice.
    assert await scheduler.run_due(now.replace(minute=31)) == []
    assert len(box.to(ko)) == 2
    assert len(box.to(en)) == 1


async def test_nothing_is_due_before_the_hour(pool, inbox):
    box, port = inbox
    cx = await seed(pool, [date(2026, 11, 12)], alerts=False)
    archive = ReportArchive(pool)
    address = f"early-{uuid.uuid4().hex[:6]}@example.com"
    await archive.subscribe(Subscriber("early", address, cx.site, monthly=False))
    scheduler = ReportScheduler(_settings(port), pool)
    await scheduler.run_due(datetime(2026, 11, 12, 20, 59, tzinfo=UTC))  # 05:59 on the 13th
    assert [_subject(m).split()[-1] for m in box.to(address)] == ["2026-11-11"]
    await scheduler.run_due(datetime(2026, 11, 12, 21, 0, tzinfo=UTC))  # 06:00: the 12th
    assert [_subject(m).split()[-1] for m in box.to(address)] == ["2026-11-11", "2026-11-12"]


async def test_the_schedule_runs_as_a_task_and_a_dead_mail_server_is_recorded(pool, inbox):
    box, port = inbox
    cx = await seed(pool, [date(2026, 11, 10)], alerts=False)
    archive = ReportArchive(pool)
    address = f"task-{uuid.uuid4().hex[:6]}@example.com"
    await archive.subscribe(Subscriber("task", address, cx.site, monthly=False, format="xlsx"))
    stop = asyncio.Event()
    scheduler = ReportScheduler(_settings(port, check_interval_s=0.2), pool)
    task = asyncio.create_task(scheduler.run(stop))
    try:
        async with asyncio.timeout(60):
            while not box.to(address):  # noqa: ASYNC110 - aiosmtpd's thread fills it
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await task  # run(stop) returns once stop is set
    due_day = due_periods(Settings(), datetime.now(UTC))[0].label  # the latest due day
    assert _subject(box.to(address)[0]) == f"{cx.site} 일간 보고서 {due_day}"

    dead = f"dead-{uuid.uuid4().hex[:6]}@example.com"
    other = await seed(pool, [date(2026, 11, 10)], alerts=False)
    await archive.subscribe(Subscriber("dead", dead, other.site, monthly=False))
    refused = ReportScheduler(_settings(free_port()), pool)  # nothing listens there
    made = await refused.run_due(datetime(2026, 11, 10, 21, 30, tzinfo=UTC))
    (row,) = await archive.stored(other.site, None, limit=5, offset=0)
    assert row["report_id"] in made
    assert row["mailed_to"] == 0
    assert "127.0.0.1:" in row["mail_error"]  # recorded, and still downloadable
    assert "SMTPConnectError" in row["mail_error"]

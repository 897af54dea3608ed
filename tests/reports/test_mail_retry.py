"""Scheduled reports after trouble: a failed mail is tried again with backoff (every
attempt recorded, visible through the API, counted), and the periods missed while the
service was down are made at start, within ``backfill_days``. Real SMTP servers (aiosmtpd
on loopback, one with STARTTLS and AUTH that refuses for a while) and a real database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from controlcenter.api.auth import Role
from controlcenter.config import Settings
from controlcenter.metrics import REPORTS_MAIL
from controlcenter.reports.archive import ReportArchive, Subscriber
from controlcenter.reports.schedule import ReportScheduler
from tests.api._api import running_api
from tests.paging._mail import MailServer
from tests.reports._seed import seed


def _count(outcome: str) -> float:
    return REPORTS_MAIL.labels(outcome)._value.get()


async def test_a_failed_report_mail_is_retried_with_backoff_and_every_attempt_is_visible(
    pool, tmp_path, database_url, mqtt_url
):
    cx = await seed(pool, [date(2026, 11, 10)], alerts=False)
    archive = ReportArchive(pool)
    address = f"retry-{uuid.uuid4().hex[:6]}@example.com"
    await archive.subscribe(Subscriber("retry", address, cx.site, monthly=False, format="xlsx"))
    before = {o: _count(o) for o in ("retry", "sent", "failed")}
    async with MailServer(tmp_path, refuse=2) as srv:  # two transient 451s, then accepted
        settings = Settings(
            smtp=srv.settings(), reports={"mail_retry_initial_s": 60, "mail_max_attempts": 4}
        )
        scheduler = ReportScheduler(settings, pool)
        now = datetime(2026, 11, 10, 21, 30, tzinfo=UTC)  # 06:30 on the 11th in Seoul
        (report_id,) = await scheduler.run_due(now)
        row = await archive.get(report_id)
        assert row["mail_next_at"] == now + timedelta(seconds=60)
        assert await scheduler.retry_mail(now + timedelta(seconds=30)) == 0  # not yet
        assert await scheduler.retry_mail(now + timedelta(seconds=61)) == 1
        row = await archive.get(report_id)
        assert row["mail_next_at"] == now + timedelta(seconds=61 + 120)  # doubled
        assert await scheduler.retry_mail(now + timedelta(seconds=61 + 121)) == 1
        assert await scheduler.retry_mail(now + timedelta(days=1)) == 0  # done
        assert [m["X-Envelope-To"] for m in srv.inbox] == [address]
    attempts = await archive.mail_attempts(report_id)
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [
        (1, "retry"),
        (2, "retry"),
        (3, "sent"),
    ]
    assert "451" in attempts[0]["error"]
    assert _count("retry") - before["retry"] == 2
    assert _count("sent") - before["sent"] == 1
    api_settings = Settings(database_url=database_url, mqtt_url=mqtt_url)
    async with running_api(api_settings) as api:
        viewer, operator = await api.client(Role.VIEWER), await api.client(Role.OPERATOR)
        assert (await viewer.get(f"/api/v1/reports/{report_id}/mail")).status_code == 403
        got = (await operator.get(f"/api/v1/reports/{report_id}/mail")).json()
        listed = (await operator.get("/api/v1/reports", params={"site": cx.site})).json()
    assert [a["outcome"] for a in got["attempts"]] == ["retry", "retry", "sent"]
    assert (got["mailed_to"], got["next_attempt_at"]) == (1, None)
    assert listed["reports"][0]["mail_attempts"] == 3


async def test_report_mail_gives_up_after_its_attempts_and_says_why(pool, tmp_path):
    cx = await seed(pool, [date(2026, 11, 10)], alerts=False)
    archive = ReportArchive(pool)
    address = f"gone-{uuid.uuid4().hex[:6]}@example.com"
    await archive.subscribe(Subscriber("gone", address, cx.site, monthly=False, format="xlsx"))
    before = _count("failed")
    async with MailServer(tmp_path, refuse=10) as srv:
        settings = Settings(
            smtp=srv.settings(), reports={"mail_retry_initial_s": 1, "mail_max_attempts": 2}
        )
        scheduler = ReportScheduler(settings, pool)
        now = datetime(2026, 11, 10, 21, 30, tzinfo=UTC)
        (report_id,) = await scheduler.run_due(now)
        assert await scheduler.retry_mail(now + timedelta(seconds=2)) == 1
        assert await scheduler.retry_mail(now + timedelta(days=2)) == 0
        assert not srv.inbox
    attempts = await archive.mail_attempts(report_id)
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "retry"), (2, "failed")]
    row = await archive.get(report_id)
    assert row["mail_next_at"] is None
    assert "451" in row["mail_error"]
    assert _count("failed") - before == 1


def _labels(box, address):
    return [str(m["Subject"]).split()[-1] for m in box.to(address)]


async def test_periods_missed_while_down_are_made_at_start_within_the_bound(pool, inbox):
    box, port = inbox
    cx = await seed(pool, [date(2026, 11, 2), date(2026, 11, 5)], alerts=False)
    archive = ReportArchive(pool)
    daily = f"daily-{uuid.uuid4().hex[:6]}@example.com"
    await archive.subscribe(
        Subscriber("d", daily, cx.site, monthly=False, lang="en", format="xlsx")
    )

    def scheduler(days: int) -> ReportScheduler:
        smtp = {"host": "127.0.0.1", "port": port, "starttls": False, "from_address": "r@x.kr"}
        return ReportScheduler(Settings(smtp=smtp, reports={"backfill_days": days}), pool)

    def at(day: int) -> datetime:  # 06:30 in Seoul on 2026-11-<day>
        return datetime(2026, 11, day - 1, 21, 30, tzinfo=UTC)

    await scheduler(7).run_due(at(3))
    assert _labels(box, daily) == ["2026-11-02"]
    # down from the 3rd to the 8th: the start makes the five missed days, oldest first
    await scheduler(7).run_due(at(8), backfill=True)
    assert _labels(box, daily) == [f"2026-11-0{d}" for d in range(2, 8)]
    # down for twelve days with a bound of three: only the last three are made
    await scheduler(3).run_due(at(20), backfill=True)
    assert _labels(box, daily)[6:] == ["2026-11-17", "2026-11-18", "2026-11-19"]
    # a subscriber new to the schedule gets the latest report, not a burst of old ones
    fresh = f"fresh-{uuid.uuid4().hex[:6]}@example.com"
    await archive.subscribe(Subscriber("f", fresh, cx.site, monthly=False, format="xlsx"))
    await scheduler(7).run_due(at(21), backfill=True)
    assert _labels(box, fresh) == ["2026-11-20"]
    assert _labels(box, daily)[-1] == "2026-11-20"
    stored = await archive.stored(cx.site, None, limit=100, offset=0)
    assert len([r for r in stored if r["lang"] == "en"]) == 10  # each made once

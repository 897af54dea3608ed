"""Scheduled reports: the day before at ``daily_at``, the month before on ``monthly_day``.

:class:`ReportScheduler` runs in the service's TaskGroup. Every ``check_interval_s`` it
looks at the latest due day and month (in the complex's time zone) and makes each report
that subscribers want (their site or factory, language and format), stores it (for
download) and mails it to them. A report
already stored by the schedule is not made again, so a restart (or a second worker)
neither repeats nor misses one. At start, the periods missed while the service was down
are made too, oldest first: for each subscribed target, every period after the last one
the schedule made for it, at most ``backfill_days`` back (a target new to the schedule
gets only the latest, not a burst of old reports).

A mail that fails is tried again, ``mail_retry_initial_s`` later, doubling up to
``mail_retry_max_s``, at most ``mail_max_attempts`` times in all (a permanent refusal, or
no mail server configured, ends it at once). Every attempt is a row of
``report_mail_attempts`` (``GET /api/v1/reports/{id}/mail``), counted in
``controlcenter_reports_mail_total``; the next attempt's time is stored with the report,
so retries survive a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from controlcenter.config import Settings
from controlcenter.errors import ConfigError, ControlCenterError, MailError
from controlcenter.metrics import REPORTS_MAIL
from controlcenter.reports._scope import Scope
from controlcenter.reports._text import LABELS, Lang
from controlcenter.reports.archive import ReportArchive
from controlcenter.reports.build import MEDIA_TYPES, Format, ReportRequest, make_report
from controlcenter.reports.mail import send_mail
from controlcenter.reports.period import Period

__all__ = ["Mailer", "ReportScheduler", "due_periods", "missed_periods"]

logger = logging.getLogger(__name__)

#: ``(to, subject, body, (filename, content, media type))`` -> sent, or raises.
Mailer = Callable[[list[str], str, str, tuple[str, bytes, str]], Awaitable[None]]


def _due_at(settings: Settings, period: Period) -> datetime:
    """When the schedule makes ``period``'s report (UTC)."""
    at = time.fromisoformat(settings.reports.daily_at)
    after = period.last + timedelta(days=1)
    if period.kind == "monthly":
        after += timedelta(days=settings.reports.monthly_day - 1)
    return datetime.combine(after, at, ZoneInfo(settings.time_zone)).astimezone(UTC)


def missed_periods(settings: Settings, now: datetime) -> dict[str, list[Period]]:
    """Per kind, every period that fell due within ``backfill_days`` before ``now``, oldest
    first; the latest due one is always last.

    >>> s = Settings(reports={"backfill_days": 2})
    >>> got = missed_periods(s, datetime(2026, 12, 1, 21, 0, tzinfo=UTC))  # 06:00 on the 2nd
    >>> [p.label for p in got["daily"]], [p.label for p in got["monthly"]]
    (['2026-11-29', '2026-11-30', '2026-12-01'], ['2026-11'])
    """
    since = now - timedelta(days=settings.reports.backfill_days)
    out: dict[str, list[Period]] = {}
    for latest in due_periods(settings, now):
        periods = [latest]
        while True:
            p = periods[0]
            if p.kind == "daily":
                before = Period("daily", p.first - timedelta(days=1), 1, p.tz)
            else:
                prev = p.first - timedelta(days=1)
                before = Period.month(prev.year, prev.month, p.tz)
            if _due_at(settings, before) < since:
                break
            periods.insert(0, before)
        out[latest.kind] = periods
    return out


def due_periods(settings: Settings, now: datetime) -> list[Period]:
    """The latest daily and monthly periods whose report is due at ``now``.

    >>> s = Settings()
    >>> [p.label for p in due_periods(s, datetime(2026, 11, 30, 21, 0, tzinfo=UTC))]
    ['2026-11-30', '2026-11']
    >>> [p.label for p in due_periods(s, datetime(2026, 11, 30, 20, 0, tzinfo=UTC))]
    ['2026-11-29', '2026-10']
    """
    tz = settings.time_zone
    local = now.astimezone(ZoneInfo(tz))
    at = time.fromisoformat(settings.reports.daily_at)
    today = local.date()
    before = local.time() < at
    day = today - timedelta(days=2 if before else 1)
    month_start = date(today.year, today.month, 1)
    if today.day < settings.reports.monthly_day or (
        today.day == settings.reports.monthly_day and before
    ):
        month_start = (month_start - timedelta(days=1)).replace(day=1)
    last = month_start - timedelta(days=1)
    return [Period("daily", day, 1, tz), Period.month(last.year, last.month, tz)]


class ReportScheduler:
    """Make, store and mail the scheduled reports (see the module documentation)."""

    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, mailer: Mailer | None = None
    ) -> None:
        self._settings = settings
        self._archive = ReportArchive(pool)
        self._pool = pool
        self._mailer = mailer or self._smtp

    async def _smtp(
        self, to: list[str], subject: str, body: str, attachment: tuple[str, bytes, str]
    ) -> None:
        await send_mail(self._settings.smtp, to, subject, body, attachment)

    async def run(self) -> None:
        """Check the schedule until cancelled (the first pass makes what was missed); a
        failed pass is logged and retried."""
        backfill = True
        while True:
            try:
                now = datetime.now(UTC)
                await self.run_due(now, backfill=backfill)
                backfill = False
                await self.retry_mail(now)
                await self._archive.expire(self._settings.reports.keep_days)
            except (ControlCenterError, asyncpg.PostgresError, OSError) as exc:
                logger.warning("scheduled reports: %s (retried)", exc)
            await asyncio.sleep(self._settings.reports.check_interval_s)

    async def run_due(self, now: datetime, *, backfill: bool = False) -> list[int]:
        """Make what is due at ``now`` and not made yet (with ``backfill``, also the
        periods missed since each target's last report); the new reports' ids."""
        made: list[int] = []
        subscribers = await self._archive.subscribers()
        for kind, periods in missed_periods(self._settings, now).items():
            targets: dict[tuple[str, str | None, Lang, Format], list[str]] = {}
            for s in subscribers:
                if s[kind]:
                    key = (s["site"], s["factory"], s["lang"], s["format"])
                    targets.setdefault(key, []).append(s["email"])
            for (site, factory, lang, fmt), to in sorted(targets.items(), key=str):
                wanted = periods[-1:]
                if backfill:
                    last = await self._archive.last_scheduled(kind, site, factory, lang, fmt)
                    if last is not None:
                        wanted = [p for p in periods if p.label > last] or wanted
                for period in wanted:
                    request = ReportRequest(Scope(site, factory), period, lang, fmt)
                    try:
                        report_id = await self._one(request, to, now)
                    except ControlCenterError as exc:  # a site since removed: others go on
                        logger.warning("scheduled report %s: %s", request.filename, exc)
                        continue
                    if report_id is not None:
                        made.append(report_id)
        return made

    async def _one(self, request: ReportRequest, to: list[str], now: datetime) -> int | None:
        p, scope = request.period, request.scope
        if await self._archive.scheduled_exists(
            p.kind, scope.site, scope.factory, p.label, request.lang, request.format
        ):
            return None
        async with asyncio.timeout(self._settings.reports.generate_timeout_s):
            report = await make_report(self._pool, request)
        report_id = await self._archive.save(report, "schedule", scheduled=True)
        if report_id is None:  # another worker stored it first, and mails it
            return None
        logger.info("scheduled report %s: %s", report_id, request.filename)
        if to:
            fields = (p.kind, scope.site, scope.factory, p.label, request.lang, request.format)
            await self._mail(report_id, fields, request.filename, report.content, to, 1, now)
        return report_id

    async def retry_mail(self, now: datetime) -> int:
        """Mail again the reports whose retry is due at ``now``; how many were tried."""
        due = await self._archive.mail_due(now)
        for r in due:
            fields = (r["kind"], r["site"], r["factory"], r["period"], r["lang"], r["format"])
            attempt = int(r["mail_attempts"]) + 1
            to = list(r["mail_recipients"])
            await self._mail(r["report_id"], fields, r["filename"], r["content"], to, attempt, now)
        return len(due)

    async def _mail(
        self,
        report_id: int,
        fields: tuple[str, str, str | None, str, str, str],
        filename: str,
        content: bytes,
        to: list[str],
        attempt: int,
        now: datetime,
    ) -> None:
        kind, site, factory, period, lang, fmt = fields
        words = LABELS[lang]
        values = {
            "site": site + (f" {factory}" if factory else ""),
            "kind": words[kind],
            "period": period,
            "report_id": report_id,
        }
        media = MEDIA_TYPES[fmt]
        subject = words["mail_subject"].format(**values)
        try:
            await self._mailer(
                to, subject, words["mail_body"].format(**values), (filename, content, media)
            )
        except ControlCenterError as exc:
            cfg = self._settings.reports
            final = (
                attempt >= cfg.mail_max_attempts
                or isinstance(exc, ConfigError)
                or (isinstance(exc, MailError) and exc.permanent)
            )
            wait = min(cfg.mail_retry_initial_s * 2 ** (attempt - 1), cfg.mail_retry_max_s)
            next_at = None if final else now + timedelta(seconds=wait)
            outcome = "failed" if final else "retry"
            logger.warning(
                "report %s not mailed (attempt %d, %s): %s", report_id, attempt, outcome, exc
            )
            await self._archive.mail_attempt(report_id, attempt, outcome, to, str(exc), next_at)
            REPORTS_MAIL.labels(outcome).inc()
            return
        await self._archive.mail_attempt(report_id, attempt, "sent", to, None, None)
        REPORTS_MAIL.labels("sent").inc()

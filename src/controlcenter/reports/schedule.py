"""Scheduled reports: the day before at ``daily_at``, the month before on ``monthly_day``.

:class:`ReportScheduler` runs in the service's TaskGroup. Every ``check_interval_s`` it
looks at the latest due day and month (in the complex's time zone) and makes each report
that subscribers want (their site or factory, language and format), stores it (for
download) and mails it to them. A report
already stored by the schedule is not made again, so a restart (or a second worker)
neither repeats nor misses one; a period missed while the service was down is made at
the next start, only the latest of each kind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from controlcenter.config import Settings
from controlcenter.errors import ControlCenterError
from controlcenter.reports._scope import Scope
from controlcenter.reports._text import LABELS, Lang
from controlcenter.reports.archive import ReportArchive
from controlcenter.reports.build import MEDIA_TYPES, Format, ReportRequest, make_report
from controlcenter.reports.mail import send_mail
from controlcenter.reports.period import Period
from controlcenter.stage import sleep_or_stop

__all__ = ["Mailer", "ReportScheduler", "due_periods"]

logger = logging.getLogger(__name__)

#: ``(to, subject, body, (filename, content, media type))`` -> sent, or raises.
Mailer = Callable[[list[str], str, str, tuple[str, bytes, str]], Awaitable[None]]


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

    async def run(self, stop: asyncio.Event) -> None:
        """Check the schedule until ``stop`` is set; a failed pass is logged and retried."""
        while not stop.is_set():
            try:
                await self.run_due(datetime.now(UTC))
                await self._archive.expire(self._settings.reports.keep_days)
            except (ControlCenterError, asyncpg.PostgresError, OSError) as exc:
                logger.warning("scheduled reports: %s (retried)", exc)
            await sleep_or_stop(stop, self._settings.reports.check_interval_s)

    async def run_due(self, now: datetime) -> list[int]:
        """Make what is due at ``now`` and not made yet; the new reports' ids."""
        made: list[int] = []
        subscribers = await self._archive.subscribers()
        for period in due_periods(self._settings, now):
            targets: dict[tuple[str, str | None, Lang, Format], list[str]] = {}
            for s in subscribers:
                if s[period.kind]:
                    key = (s["site"], s["factory"], s["lang"], s["format"])
                    targets.setdefault(key, []).append(s["email"])
            for (site, factory, lang, fmt), to in sorted(targets.items(), key=str):
                request = ReportRequest(Scope(site, factory), period, lang, fmt)
                try:
                    report_id = await self._one(request, to)
                except ControlCenterError as exc:  # a site since removed: the others go on
                    logger.warning("scheduled report %s: %s", request.filename, exc)
                    continue
                if report_id is not None:
                    made.append(report_id)
        return made

    async def _one(self, request: ReportRequest, to: list[str]) -> int | None:
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
            await self._mail(report_id, request, report.content, to)
        return report_id

    async def _mail(
        self, report_id: int, request: ReportRequest, content: bytes, to: list[str]
    ) -> None:
        words = LABELS[request.lang]
        fields = {
            "site": request.scope.site
            + (f" {request.scope.factory}" if request.scope.factory else ""),
            "kind": words[request.period.kind],
            "period": request.period.label,
            "report_id": report_id,
        }
        media = MEDIA_TYPES[request.format]
        try:
            await self._mailer(
                to,
                words["mail_subject"].format(**fields),
                words["mail_body"].format(**fields),
                (request.filename, content, media),
            )
        except ControlCenterError as exc:
            logger.warning("report %s not mailed: %s", report_id, exc)
            await self._archive.mailed(report_id, 0, str(exc))
            return
        await self._archive.mailed(report_id, len(to), None)

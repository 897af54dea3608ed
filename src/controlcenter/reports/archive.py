"""Stored reports (kept for download) and report subscribers, in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from controlcenter.reports.build import Report

__all__ = ["ReportArchive", "Subscriber"]

_LIST_COLUMNS = (
    "report_id, kind, site, factory, period, lang, format, filename, size_bytes, scheduled, "
    "created_by, created_at, mailed_to, mail_error, mail_attempts, mail_next_at"
)


@dataclass(frozen=True, slots=True)
class Subscriber:
    """Who gets scheduled reports by e-mail, and in which language and format."""

    name: str
    email: str
    site: str
    factory: str | None = None
    daily: bool = True
    monthly: bool = True
    lang: str = "ko"
    format: str = "pdf"


class ReportArchive:
    """The ``reports`` and ``report_subscribers`` tables."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def save(self, report: Report, created_by: str, *, scheduled: bool = False) -> int | None:
        """Store ``report``; its id, or None when a scheduled one was already stored."""
        r = report.request
        return await self._pool.fetchval(  # type: ignore[no-any-return]
            "INSERT INTO reports (kind, site, factory, period, lang, format, filename, content,"
            " size_bytes, scheduled, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
            " $10, $11) ON CONFLICT DO NOTHING RETURNING report_id",
            r.period.kind,
            r.scope.site,
            r.scope.factory,
            r.period.label,
            r.lang,
            r.format,
            r.filename,
            report.content,
            len(report.content),
            scheduled,
            created_by,
        )

    async def scheduled_exists(
        self, kind: str, site: str, factory: str | None, period: str, lang: str, fmt: str
    ) -> bool:
        """Whether the schedule already made this report."""
        found = await self._pool.fetchval(
            "SELECT 1 FROM reports WHERE scheduled AND kind = $1 AND site = $2"
            " AND coalesce(factory, '') = coalesce($3, '') AND period = $4 AND lang = $5"
            " AND format = $6",
            kind,
            site,
            factory,
            period,
            lang,
            fmt,
        )
        return found is not None

    async def mail_attempt(
        self,
        report_id: int,
        attempt: int,
        outcome: str,
        to: list[str],
        error: str | None,
        next_at: datetime | None,
    ) -> None:
        """Record one attempt to mail a report (and when the next one is due, if any)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO report_mail_attempts (report_id, attempt, outcome, recipients,"
                " error) VALUES ($1, $2, $3, $4, $5)",
                report_id,
                attempt,
                outcome,
                len(to),
                (error or "")[:2000],
            )
            await conn.execute(
                "UPDATE reports SET mailed_to = $2, mail_error = $3, mail_attempts = $4,"
                " mail_next_at = $5, mail_recipients = $6 WHERE report_id = $1",
                report_id,
                len(to) if outcome == "sent" else 0,
                error,
                attempt,
                next_at,
                to,
            )

    async def mail_due(self, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
        """Reports whose next mail attempt is due, with their files."""
        rows = await self._pool.fetch(
            f"SELECT {_LIST_COLUMNS}, content, mail_recipients FROM reports"  # noqa: S608
            " WHERE mail_next_at <= $1 ORDER BY mail_next_at LIMIT $2",
            now,
            limit,
        )
        return [dict(r) for r in rows]

    async def mail_attempts(self, report_id: int) -> list[dict[str, Any]]:
        """Every attempt to mail a report, oldest first."""
        rows = await self._pool.fetch(
            "SELECT time, attempt, outcome, recipients, error FROM report_mail_attempts"
            " WHERE report_id = $1 ORDER BY time, id",
            report_id,
        )
        return [dict(r) for r in rows]

    async def last_scheduled(
        self, kind: str, site: str, factory: str | None, lang: str, fmt: str
    ) -> str | None:
        """The latest period the schedule made for this target (None: never)."""
        label = await self._pool.fetchval(
            "SELECT max(period) FROM reports WHERE scheduled AND kind = $1 AND site = $2"
            " AND coalesce(factory, '') = coalesce($3, '') AND lang = $4 AND format = $5",
            kind,
            site,
            factory,
            lang,
            fmt,
        )
        return None if label is None else str(label)

    async def stored(
        self, site: str | None, factory: str | None, *, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """Stored reports, newest first, without their files."""
        rows = await self._pool.fetch(
            f"SELECT {_LIST_COLUMNS} FROM reports"  # noqa: S608 - constant column list
            " WHERE ($1::text IS NULL OR site = $1) AND ($2::text IS NULL OR factory = $2)"
            " ORDER BY created_at DESC, report_id DESC LIMIT $3 OFFSET $4",
            site,
            factory,
            limit,
            offset,
        )
        return [dict(r) for r in rows]

    async def get(self, report_id: int) -> dict[str, Any] | None:
        """One stored report with its file (``content``), or None."""
        row = await self._pool.fetchrow(
            f"SELECT {_LIST_COLUMNS}, content FROM reports"  # noqa: S608 - constant columns
            " WHERE report_id = $1",
            report_id,
        )
        return dict(row) if row is not None else None

    async def expire(self, keep_days: int) -> int:
        """Delete reports older than ``keep_days``; how many."""
        done = await self._pool.execute(
            "DELETE FROM reports WHERE created_at < now() - make_interval(days => $1)", keep_days
        )
        return int(done.split()[-1])

    async def subscribers(self, site: str | None = None) -> list[dict[str, Any]]:
        """Subscribers (of one site), oldest first."""
        rows = await self._pool.fetch(
            "SELECT * FROM report_subscribers WHERE enabled AND ($1::text IS NULL OR site = $1)"
            " ORDER BY subscriber_id",
            site,
        )
        return [dict(r) for r in rows]

    async def subscribe(self, s: Subscriber) -> dict[str, Any]:
        """Add a subscriber; its row."""
        row = await self._pool.fetchrow(
            "INSERT INTO report_subscribers (name, email, site, factory, daily, monthly, lang,"
            " format) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
            s.name,
            s.email,
            s.site,
            s.factory,
            s.daily,
            s.monthly,
            s.lang,
            s.format,
        )
        return dict(row) if row is not None else {}

    async def unsubscribe(self, subscriber_id: int) -> bool:
        """Remove a subscriber; whether there was one."""
        done = await self._pool.execute(
            "DELETE FROM report_subscribers WHERE subscriber_id = $1", subscriber_id
        )
        return done != "DELETE 0"

    async def sites(self) -> list[str]:
        """Every site of the catalog."""
        return [r["code"] for r in await self._pool.fetch("SELECT code FROM sites ORDER BY code")]

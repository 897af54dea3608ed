"""Make a report: gather its figures from the rollups, compose it, write PDF or workbook."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from controlcenter.errors import ReportError
from controlcenter.reports._scope import Scope
from controlcenter.reports._text import Lang
from controlcenter.reports.air import air_data
from controlcenter.reports.alerting import alert_data
from controlcenter.reports.document import ReportData, compose
from controlcenter.reports.energy import energy_data
from controlcenter.reports.parking import parking_data
from controlcenter.reports.pdf import write_pdf
from controlcenter.reports.period import Period
from controlcenter.reports.xlsx import write_xlsx
from controlcenter.store.figures import scope_ids, snapshot

__all__ = ["MEDIA_TYPES", "Format", "Report", "ReportRequest", "gather", "make_report", "render"]

Format = Literal["pdf", "xlsx"]
MEDIA_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What to report on, for when, in which language and file format."""

    scope: Scope
    period: Period
    lang: Lang = "ko"
    format: Format = "pdf"

    @property
    def filename(self) -> str:
        """``report-daily-SITE[-FACTORY]-PERIOD-LANG.EXT``."""
        who = self.scope.site + (f"-{self.scope.factory}" if self.scope.factory else "")
        return f"report-{self.period.kind}-{who}-{self.period.label}-{self.lang}.{self.format}"


@dataclass(frozen=True, slots=True)
class Report:
    """A made report: its request, file and the figures in it."""

    request: ReportRequest
    content: bytes
    data: ReportData

    @property
    def media_type(self) -> str:
        """The file's MIME type."""
        return MEDIA_TYPES[self.request.format]


async def gather(pool: asyncpg.Pool, scope: Scope, period: Period) -> ReportData:
    """Every figure of a report, read in one snapshot of the database.

    Raises:
        ReportError: for a site or factory the catalog does not know.
    """
    async with snapshot(pool) as conn:
        found = await scope_ids(conn, scope.site, scope.factory)
        if found is None:
            raise ReportError(f"no such site: {scope.site}")
        if scope.factory is not None and found["factory_id"] is None:
            raise ReportError(f"no such factory in {scope.site}: {scope.factory}")
        return ReportData(
            scope,
            period,
            await air_data(conn, scope, period),
            await energy_data(conn, scope, period),
            await parking_data(conn, scope, period),
            await alert_data(conn, scope, period),
        )


#: One report renders at a time in a process: matplotlib's and ReportLab's caches are
#: shared, and two cores are better left to ingest than to a second chart.
_RENDERING = threading.Lock()


def render(data: ReportData, lang: Lang, fmt: Format, now: datetime | None = None) -> bytes:
    """The file of ``data``: charts and layout are CPU work (run it in a thread)."""
    with _RENDERING:
        doc = compose(data, lang, now)
        return write_pdf(doc) if fmt == "pdf" else write_xlsx(doc)


async def make_report(pool: asyncpg.Pool, request: ReportRequest) -> Report:
    """Gather and render one report (the rendering in a worker thread)."""
    data = await gather(pool, request.scope, request.period)
    content = await asyncio.to_thread(render, data, request.lang, request.format)
    return Report(request, content, data)

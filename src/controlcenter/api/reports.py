"""Report routes: make a daily or monthly report, list and download stored ones, and
manage who gets the scheduled ones by e-mail.

Roles: ``operator`` makes, lists and downloads reports; ``admin`` manages subscribers.
A factory-scoped key makes and sees its own factory's reports only (``factory`` defaults
to it), and cannot manage subscribers.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from controlcenter.api.auth import Principal
from controlcenter.api.deps import ERRORS, Admin, Operator, narrow
from controlcenter.api.state import State
from controlcenter.errors import ReportError
from controlcenter.reports import (
    MEDIA_TYPES,
    Kind,
    Period,
    PeriodError,
    ReportRequest,
    Scope,
    make_report,
)
from controlcenter.reports.archive import ReportArchive, Subscriber
from controlcenter.smtp import ADDRESS_PATTERN

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=ERRORS)
_CODE = r"^[A-Za-z0-9_.\-]{1,64}$"
Site = Annotated[str, Query(pattern=_CODE, description="site code")]
Factory = Annotated[str | None, Query(pattern=_CODE, description="factory code (all: omit)")]
Lang = Annotated[Literal["ko", "en"], Query(description="language of the report")]
Fmt = Annotated[Literal["pdf", "xlsx"], Query(description="file format")]
_TEXT = r"^[^\x00]*$"


class SubscriberIn(BaseModel):
    """Someone who gets the scheduled reports of a site, or of one factory of it."""

    # Strict: ``"monthly": 0`` is not a boolean (the schema says so, and so do we).
    model_config = ConfigDict(strict=True)

    name: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    email: str = Field(max_length=320, pattern=ADDRESS_PATTERN)
    site: str = Field(pattern=_CODE)
    factory: str | None = Field(None, pattern=_CODE)
    daily: bool = True
    monthly: bool = True
    lang: Literal["ko", "en"] = "ko"
    format: Literal["pdf", "xlsx"] = "pdf"


def _scope(who: Principal, site: str, factory: str | None) -> Scope:
    """The report's scope narrowed to the key's factory (403 for another one)."""
    return Scope(site, narrow(who, site, factory).factory)


def _file(content: bytes, filename: str, media_type: str, report_id: int | None) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if report_id is not None:
        headers["X-Report-Id"] = str(report_id)
    return Response(content, media_type=media_type, headers=headers)


async def _make(
    state: State, who: Principal, kind: Kind, value: str, scope: Scope, lang: str, fmt: str
) -> Response:
    try:
        period = Period.parse(kind, value, state.settings.time_zone)
    except PeriodError as exc:
        raise HTTPException(400, str(exc)) from exc
    request = ReportRequest(scope, period, lang, fmt)  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(state.settings.reports.generate_timeout_s):
            report = await make_report(state.pool, request)
    except ReportError as exc:
        raise HTTPException(404, str(exc)) from exc
    except TimeoutError as exc:
        raise HTTPException(503, "the report took too long; try a factory or a day") from exc
    report_id = await ReportArchive(state.pool).save(report, who.name or who.key_id)
    return _file(report.content, request.filename, report.media_type, report_id)


_FILE: dict[int | str, dict[str, Any]] = {
    200: {"content": {media: {} for media in MEDIA_TYPES.values()}}
}


@router.get("/daily", responses=_FILE, response_class=Response)
async def daily_report(
    state: State,
    who: Operator,
    site: Site,
    date: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="local day")],
    factory: Factory = None,
    format: Fmt = "pdf",
    lang: Lang = "ko",
) -> Response:
    """The report of one local day (the complex's time zone), made now and stored."""
    return await _make(state, who, "daily", date, _scope(who, site, factory), lang, format)


@router.get("/monthly", responses=_FILE, response_class=Response)
async def monthly_report(
    state: State,
    who: Operator,
    site: Site,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="local month")],
    factory: Factory = None,
    format: Fmt = "pdf",
    lang: Lang = "ko",
) -> Response:
    """The report of one local month, made now and stored."""
    return await _make(state, who, "monthly", month, _scope(who, site, factory), lang, format)


@router.get("")
async def list_reports(
    state: State,
    who: Operator,
    site: Annotated[str | None, Query(pattern=_CODE)] = None,
    factory: Factory = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Stored reports, newest first (made through this API or by the schedule)."""
    site, factory = narrow(who, site, factory)
    rows = await ReportArchive(state.pool).stored(site, factory, limit=limit, offset=offset)
    for row in rows:
        row["created_at"] = row["created_at"].isoformat()
        row["mail_next_at"] = row["mail_next_at"] and row["mail_next_at"].isoformat()
        row["url"] = f"/api/v1/reports/{row['report_id']}"
    return {"reports": rows, "limit": limit, "offset": offset}


@router.get("/subscribers")
async def list_subscribers(
    state: State, who: Admin, site: Annotated[str | None, Query(pattern=_CODE)] = None
) -> dict[str, Any]:
    """Who gets the scheduled reports."""
    who.check_unscoped("subscribers")
    rows = await ReportArchive(state.pool).subscribers(site)
    for row in rows:
        row["created_at"] = row["created_at"].isoformat()
    return {"subscribers": rows}


@router.post("/subscribers", status_code=201)
async def add_subscriber(state: State, who: Admin, body: SubscriberIn) -> dict[str, Any]:
    """Send the scheduled reports of a site (or factory) to someone."""
    who.check_unscoped("subscribers")
    row = await ReportArchive(state.pool).subscribe(Subscriber(**body.model_dump()))
    row["created_at"] = row["created_at"].isoformat()
    return row


@router.delete("/subscribers/{subscriber_id}", status_code=204)
async def remove_subscriber(
    state: State, who: Admin, subscriber_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> Response:
    """Stop sending the scheduled reports to someone."""
    who.check_unscoped("subscribers")
    if not await ReportArchive(state.pool).unsubscribe(subscriber_id):
        raise HTTPException(404, "no such subscriber")
    return Response(status_code=204)


ReportId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def _visible(state: State, who: Principal, report_id: int) -> dict[str, Any]:
    row = await ReportArchive(state.pool).get(report_id)
    if row is None or not who.allows(row["site"], row["factory"] or ""):
        raise HTTPException(404, "no such report")
    if who.scoped and row["factory"] is None:  # a whole-site report spans factories
        raise HTTPException(404, "no such report")
    return row


@router.get("/{report_id}", responses=_FILE, response_class=Response)
async def download_report(state: State, who: Operator, report_id: ReportId) -> Response:
    """A stored report's file."""
    row = await _visible(state, who, report_id)
    return _file(row["content"], row["filename"], MEDIA_TYPES[row["format"]], report_id)


@router.get("/{report_id}/mail")
async def report_mail(state: State, who: Operator, report_id: ReportId) -> dict[str, Any]:
    """Every attempt to mail a scheduled report to its subscribers, and the next one."""
    row = await _visible(state, who, report_id)
    attempts = await ReportArchive(state.pool).mail_attempts(report_id)
    for a in attempts:
        a["time"] = a["time"].isoformat()
    next_at = row["mail_next_at"]
    return {
        "report_id": report_id,
        "mailed_to": row["mailed_to"],
        "mail_error": row["mail_error"],
        "next_attempt_at": next_at.isoformat() if next_at is not None else None,
        "attempts": attempts,
    }

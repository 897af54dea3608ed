"""Alert routes: list and inspect alerts, act on them, and manage rules.

Roles: ``viewer`` lists alerts and rules; ``operator`` acknowledges and adds notes;
``maintenance`` assigns and resolves; ``admin`` creates, changes and deletes rules.
A factory-scoped key sees its factory's alerts only, and cannot touch rules.

The routes act through the worker's :class:`~controlcenter.alerts.AlertService` (found as
``request.state.cc.alerts`` or ``app.state.alerts``) so that its active-alert book stays
exact; without one (an API-only replica) reads still work and changes answer 503.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from controlcenter.alerts import (
    AlertFilter,
    AlertRepository,
    AlertService,
    AlertStateError,
    Rule,
    RuleConflictError,
)
from controlcenter.api._http import ERRORS
from controlcenter.api._params import Instant
from controlcenter.api.auth import Principal, Role, require_role
from controlcenter.kinds import packaged

__all__ = ["router"]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"description": "the alert's state does not allow it, or the rule name is taken"},
}
router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=_RESPONSES)
Viewer = Annotated[Principal, Depends(require_role(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
Maintenance = Annotated[Principal, Depends(require_role(Role.MAINTENANCE))]
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]
_CODE = r"^[A-Za-z0-9_.\-]{1,64}$"
State = Literal["open", "acknowledged", "resolved"]
Sev = Literal["info", "warning", "critical"]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
RuleId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_TEXT = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL


class NoteIn(BaseModel):
    """A note on an alert."""

    text: str = Field(min_length=1, max_length=2_000, pattern=_TEXT)


class AssignIn(BaseModel):
    """Who works on an alert."""

    assignee: str = Field(min_length=1, max_length=200, pattern=_TEXT)


class ResolveIn(BaseModel):
    """An optional note when resolving by hand."""

    note: str | None = Field(None, max_length=2_000, pattern=_TEXT)


def _service(request: Request) -> AlertService | None:
    cc = getattr(request.state, "cc", None)
    svc = getattr(cc, "alerts", None) or getattr(request.app.state, "alerts", None)
    return svc if isinstance(svc, AlertService) else None


def _repo(request: Request) -> AlertRepository:
    svc = _service(request)
    if svc is not None:
        return svc.repo
    cc = getattr(request.state, "cc", None)
    if cc is None:
        raise HTTPException(503, "alerts are not available")
    return AlertRepository(cc.pool)


def _acting(request: Request) -> AlertService:
    svc = _service(request)
    if svc is None:
        raise HTTPException(503, "alert changes need the ingest worker (not this replica)")
    return svc


def _actor(who: Principal) -> str:
    return who.name or who.key_id


async def _visible(request: Request, who: Principal, alert_id: int) -> dict[str, Any]:
    alert = await _repo(request).alert(alert_id)
    if alert is None or not who.allows(alert["site"], alert["factory"] or ""):
        raise HTTPException(404, "no such alert")
    return alert


@router.get("/alerts")
async def list_alerts(
    request: Request,
    who: Viewer,
    state: Annotated[list[State] | None, Query()] = None,
    severity: Annotated[list[Sev] | None, Query()] = None,
    site: Annotated[str | None, Query(pattern=_CODE)] = None,
    factory: Annotated[str | None, Query(pattern=_CODE)] = None,
    kind: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = None,
    rule: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Alerts, newest first, filtered by state, severity, site, factory, kind, rule, time."""
    if who.factory is not None:
        if (site not in (None, who.site)) or (factory not in (None, who.factory)):
            raise HTTPException(403, "this key is scoped to another factory")
        site, factory = who.site, who.factory
    flt = AlertFilter(
        state=state or (),
        severity=severity or (),
        site=site,
        factory=factory,
        kind=kind,
        rule=rule,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return {"alerts": await _repo(request).list_alerts(flt), "limit": limit, "offset": offset}


@router.get("/alerts/{alert_id}")
async def get_alert(request: Request, who: Viewer, alert_id: AlertId) -> dict[str, Any]:
    """One alert with its audit history."""
    alert = await _visible(request, who, alert_id)
    alert["history"] = await _repo(request).history(alert_id)
    return alert


async def _act(request: Request, who: Principal, alert_id: int, what: str, **kw: Any) -> Any:
    await _visible(request, who, alert_id)
    book = _acting(request).book
    try:
        return await getattr(book, what)(alert_id, _actor(who), **kw)
    except KeyError:
        raise HTTPException(404, "no such alert") from None
    except AlertStateError as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(request: Request, who: Operator, alert_id: AlertId) -> dict[str, Any]:
    """open -> acknowledged (stops escalation). 409 when not open."""
    result: dict[str, Any] = await _act(request, who, alert_id, "acknowledge")
    return result


@router.post("/alerts/{alert_id}/assign")
async def assign(
    request: Request, who: Maintenance, alert_id: AlertId, body: AssignIn
) -> dict[str, Any]:
    """Set the assignee of an active alert."""
    result: dict[str, Any] = await _act(request, who, alert_id, "assign", assignee=body.assignee)
    return result


@router.post("/alerts/{alert_id}/resolve")
async def resolve(
    request: Request, who: Maintenance, alert_id: AlertId, body: ResolveIn | None = None
) -> dict[str, Any]:
    """Resolve by hand. 409 when already resolved."""
    note = body.note if body is not None else None
    result: dict[str, Any] = await _act(request, who, alert_id, "resolve", note=note)
    return result


@router.post("/alerts/{alert_id}/notes")
async def add_note(
    request: Request, who: Operator, alert_id: AlertId, body: NoteIn
) -> dict[str, Any]:
    """Add a note (kept on the alert and in its history)."""
    result: dict[str, Any] = await _act(request, who, alert_id, "note", text=body.text)
    return result


# -- rules ------------------------------------------------------------------------------


def _applies_to(rule: Rule, who: Principal) -> bool:
    """A factory-scoped key sees the rules that can apply to its factory, no others."""
    if who.factory is None:
        return True
    sc = rule.scope
    return sc.site is None or (sc.site == who.site and sc.factory in (None, who.factory))


@router.get("/alert-rules")
async def list_rules(request: Request, who: Viewer) -> list[dict[str, Any]]:
    """Every rule (for a factory-scoped key: those that can apply to its factory)."""
    rules = await _repo(request).rules()
    return [r.model_dump(mode="json") for r in rules if _applies_to(r, who)]


@router.get("/alert-rules/{rule_id}")
async def get_rule(request: Request, who: Viewer, rule_id: RuleId) -> dict[str, Any]:
    """One rule (404 for a factory-scoped key when it cannot apply to its factory)."""
    rule = await _repo(request).rule(rule_id)
    if rule is None or not _applies_to(rule, who):
        raise HTTPException(404, "no such rule")
    return rule.model_dump(mode="json")


async def _save(request: Request, who: Principal, rule: Rule) -> dict[str, Any]:
    who.check_unscoped("rules")
    cc = getattr(request.state, "cc", None)  # None in an app of the alert routes alone
    try:
        rule.check_kinds(cc.kinds.current if cc is not None else packaged())
    except ValueError as exc:
        # Well-formed names the registry does not know: they contradict the data (400).
        raise HTTPException(400, str(exc)) from None
    svc = _acting(request)
    try:
        saved = await svc.repo.save_rule(rule)
    except RuleConflictError as exc:
        raise HTTPException(409, str(exc)) from None
    except KeyError:
        raise HTTPException(404, "no such rule") from None
    await svc.reload_rules()
    return saved.model_dump(mode="json")


@router.post("/alert-rules", status_code=201)
async def create_rule(request: Request, who: Admin, rule: Rule) -> dict[str, Any]:
    """Create a rule (400 with the reason when it is not valid, 422 when it is malformed,
    409 when the name is taken)."""
    return await _save(request, who, rule.model_copy(update={"id": None}))


@router.put("/alert-rules/{rule_id}")
async def replace_rule(request: Request, who: Admin, rule_id: RuleId, rule: Rule) -> dict[str, Any]:
    """Replace a rule (its cells start afresh; its open alerts stay open)."""
    return await _save(request, who, rule.model_copy(update={"id": rule_id}))


@router.delete("/alert-rules/{rule_id}", status_code=204)
async def delete_rule(request: Request, who: Admin, rule_id: RuleId) -> Response:
    """Delete a rule; its active alerts are resolved by the system."""
    who.check_unscoped("rules")
    svc = _acting(request)
    if not await svc.repo.delete_rule(rule_id):
        raise HTTPException(404, "no such rule")
    await svc.reload_rules()
    return Response(status_code=204)

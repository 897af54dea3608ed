"""Alert routes: list and inspect alerts, act on them, and manage rules.

Roles: ``viewer`` lists alerts and rules; ``operator`` acknowledges and adds notes;
``maintenance`` assigns and resolves; ``admin`` creates, changes and deletes rules.
A factory-scoped key sees its factory's alerts only, and cannot touch rules.

The routes act through the worker's :class:`~controlcenter.alerts.AlertService` (found as
``ApiState.alerts``, through the ``alert_access`` dependency) so that its active-alert book stays
exact; without one (an API-only replica) reads still work and changes answer 503.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from controlcenter.alerts import (
    AlertFilter,
    AlertRepository,
    AlertService,
    Rule,
)
from controlcenter.api._params import Instant
from controlcenter.api.auth import Principal
from controlcenter.api.deps import ERRORS, Admin, Maintenance, Operator, Scope, Viewer
from controlcenter.api.state import state_of
from controlcenter.episodes import alert_episode
from controlcenter.kinds import Registry, packaged

__all__ = ["AlertAccess", "alert_access", "router"]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"description": "the alert's state does not allow it, or the rule name is taken"},
}
router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=_RESPONSES)
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


@dataclass(frozen=True, slots=True)
class AlertAccess:
    """What the alert routes act through: the worker's service (None in a replica) and the
    alert tables."""

    service: AlertService | None
    repo: AlertRepository
    #: the sensor-kind registry a rule's kinds and metrics are checked against
    kinds: Registry = field(default_factory=packaged)
    #: the complex's time zone (an IANA name): the air's day or night for an episode
    time_zone: str | None = None

    def acting(self) -> AlertService:
        """The service, for a change; 503 in a replica."""
        if self.service is None:
            raise HTTPException(503, "alert changes need the ingest worker (not this replica)")
        return self.service


def alert_access(conn: HTTPConnection) -> AlertAccess:
    """The worker's :class:`AlertService` from the API state, or the bare tables."""
    state = state_of(conn)
    svc = state.alerts
    repo = svc.repo if svc is not None else AlertRepository(state.pool)
    return AlertAccess(svc, repo, state.kinds.current, state.settings.time_zone)


Access = Annotated[AlertAccess, Depends(alert_access)]


def _actor(who: Principal) -> str:
    return who.name or who.key_id


async def _visible(access: Access, who: Principal, alert_id: int) -> dict[str, Any]:
    alert = await access.repo.alert(alert_id)
    if alert is None or not who.allows(alert["site"], alert["factory"] or ""):
        raise HTTPException(404, "no such alert")
    return alert


@router.get("/alerts")
async def list_alerts(
    access: Access,
    who: Viewer,
    scope: Scope,
    state: Annotated[list[State] | None, Query()] = None,
    severity: Annotated[list[Sev] | None, Query()] = None,
    kind: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = None,
    rule: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Alerts, newest first, filtered by state, severity, site, factory, kind, rule, time."""
    site, factory = scope
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
    return {"alerts": await access.repo.list_alerts(flt), "limit": limit, "offset": offset}


@router.get("/alerts/{alert_id}")
async def get_alert(access: Access, who: Viewer, alert_id: AlertId) -> dict[str, Any]:
    """One alert with its audit history and, for a pollutant's alert, its episode (id,
    likely source factory, confidence, top candidates; see *Source attribution*)."""
    alert = await _visible(access, who, alert_id)
    alert["history"] = await access.repo.history(alert_id)
    alert["episode"] = await alert_episode(
        access.repo.pool, access.kinds, alert, time_zone=access.time_zone
    )
    return alert


async def _act(access: Access, who: Principal, alert_id: int, what: str, **kw: Any) -> Any:
    await _visible(access, who, alert_id)
    book = access.acting().book
    try:
        return await getattr(book, what)(alert_id, _actor(who), **kw)
    except KeyError:
        raise HTTPException(404, "no such alert") from None


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(access: Access, who: Operator, alert_id: AlertId) -> dict[str, Any]:
    """open -> acknowledged (stops escalation). 409 when not open."""
    result: dict[str, Any] = await _act(access, who, alert_id, "acknowledge")
    return result


@router.post("/alerts/{alert_id}/assign")
async def assign(
    access: Access, who: Maintenance, alert_id: AlertId, body: AssignIn
) -> dict[str, Any]:
    """Set the assignee of an active alert."""
    result: dict[str, Any] = await _act(access, who, alert_id, "assign", assignee=body.assignee)
    return result


@router.post("/alerts/{alert_id}/resolve")
async def resolve(
    access: Access, who: Maintenance, alert_id: AlertId, body: ResolveIn | None = None
) -> dict[str, Any]:
    """Resolve by hand. 409 when already resolved."""
    note = body.note if body is not None else None
    result: dict[str, Any] = await _act(access, who, alert_id, "resolve", note=note)
    return result


@router.post("/alerts/{alert_id}/notes")
async def add_note(
    access: Access, who: Operator, alert_id: AlertId, body: NoteIn
) -> dict[str, Any]:
    """Add a note (kept on the alert and in its history)."""
    result: dict[str, Any] = await _act(access, who, alert_id, "note", text=body.text)
    return result


# -- rules ------------------------------------------------------------------------------


def _applies_to(rule: Rule, who: Principal) -> bool:
    """A factory-scoped key sees the rules that can apply to its factory, no others."""
    if who.factory is None:
        return True
    sc = rule.scope
    return sc.site is None or (sc.site == who.site and sc.factory in (None, who.factory))


@router.get("/alert-rules")
async def list_rules(access: Access, who: Viewer) -> list[dict[str, Any]]:
    """Every rule (for a factory-scoped key: those that can apply to its factory)."""
    rules = await access.repo.rules()
    return [r.model_dump(mode="json") for r in rules if _applies_to(r, who)]


@router.get("/alert-rules/{rule_id}")
async def get_rule(access: Access, who: Viewer, rule_id: RuleId) -> dict[str, Any]:
    """One rule (404 for a factory-scoped key when it cannot apply to its factory)."""
    rule = await access.repo.rule(rule_id)
    if rule is None or not _applies_to(rule, who):
        raise HTTPException(404, "no such rule")
    return rule.model_dump(mode="json")


async def _save(access: Access, who: Principal, rule: Rule) -> dict[str, Any]:
    who.check_unscoped("rules")
    try:
        rule.check_kinds(access.kinds)
    except ValueError as exc:
        # Well-formed names the registry does not know: they contradict the data (400).
        raise HTTPException(400, str(exc)) from None
    svc = access.acting()
    try:
        saved = await svc.repo.save_rule(rule)
    except KeyError:
        raise HTTPException(404, "no such rule") from None
    await svc.reload_rules()
    return saved.model_dump(mode="json")


@router.post("/alert-rules", status_code=201)
async def create_rule(access: Access, who: Admin, rule: Rule) -> dict[str, Any]:
    """Create a rule (400 with the reason when it is not valid, 422 when it is malformed,
    409 when the name is taken)."""
    return await _save(access, who, rule.model_copy(update={"id": None}))


@router.put("/alert-rules/{rule_id}")
async def replace_rule(access: Access, who: Admin, rule_id: RuleId, rule: Rule) -> dict[str, Any]:
    """Replace a rule (its cells start afresh; its open alerts stay open)."""
    return await _save(access, who, rule.model_copy(update={"id": rule_id}))


@router.delete("/alert-rules/{rule_id}", status_code=204)
async def delete_rule(access: Access, who: Admin, rule_id: RuleId) -> Response:
    """Delete a rule; its active alerts are resolved by the system."""
    who.check_unscoped("rules")
    svc = access.acting()
    if not await svc.repo.delete_rule(rule_id):
        raise HTTPException(404, "no such rule")
    await svc.reload_rules()
    return Response(status_code=204)

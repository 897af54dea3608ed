"""Paging routes: contacts, on-call schedules and overrides (admin), who is on call now
(viewer), an alert's deliveries (viewer, within the key's factory scope), and the
websocket ``/api/v1/paging/live`` that carries a person's pages to their dashboard.

``/api/v1/paging/live``: authenticate as ``/api/v1/live`` does; the key must be bound to a
contact (``Contact.key_id``, else 4403) whose preferred channels include ``websocket``.
Frames: ``{"type": "page", ...}`` (the document a webhook gets: reason, rule, site,
severity, count, alert_ids, text, link, ack_link), plus heartbeats; ``{"type": "ping"}``
answers ``{"type": "pong"}``. Only a worker that runs the pager serves it (1013 elsewhere).

Contacts hold personal data (e-mail, phone): only admins read them whole; the on-call view
shows each person's name and phone, which the control room needs to call them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Path, Response, WebSocket

from controlcenter.alerts import AlertRepository
from controlcenter.api.auth import Principal
from controlcenter.api.deps import ERRORS, Admin, Viewer
from controlcenter.api.hub import AlertClient
from controlcenter.api.live import FORBIDDEN, TRY_LATER, close_socket, open_socket, serve_socket
from controlcenter.api.state import State, state_of
from controlcenter.errors import StorageError
from controlcenter.paging import Contact, OverrideIn, PagingRepository, Rota, Schedule

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    tags=["paging"],
    responses={
        **ERRORS,
        409: {"description": "the name is taken, or a rotation names no existing contact"},
    },
)
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
M = TypeVar("M", Contact, Schedule)


def _repo(state: State) -> PagingRepository:
    return PagingRepository(state.pool)


async def _save(state: State, who: Principal, item: M) -> dict[str, Any]:
    who.check_unscoped("paging")
    try:
        saved = await _repo(state).save(item)
    except KeyError:
        raise HTTPException(404, "not found") from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return saved.model_dump(mode="json")


async def _one(state: State, who: Principal, model: type[M], item_id: int) -> dict[str, Any]:
    who.check_unscoped("paging")
    item = await _repo(state).get(model, item_id)
    if item is None:
        raise HTTPException(404, "not found")
    return item.model_dump(mode="json")


async def _delete(state: State, who: Principal, model: type[M], item_id: int) -> Response:
    who.check_unscoped("paging")
    if not await _repo(state).delete(model, item_id):
        raise HTTPException(404, "not found")
    return Response(status_code=204)


# -- contacts ---------------------------------------------------------------------------


@router.get("/paging/contacts")
async def list_contacts(state: State, who: Admin) -> list[dict[str, Any]]:
    """Every contact."""
    who.check_unscoped("paging")
    return [c.model_dump(mode="json") for c in await _repo(state).all(Contact)]


@router.post("/paging/contacts", status_code=201)
async def create_contact(state: State, who: Admin, contact: Contact) -> dict[str, Any]:
    """Add a person (400 when a preferred channel lacks its address)."""
    return await _save(state, who, contact.model_copy(update={"id": None}))


@router.get("/paging/contacts/{contact_id}")
async def get_contact(state: State, who: Admin, contact_id: ItemId) -> dict[str, Any]:
    """One contact."""
    return await _one(state, who, Contact, contact_id)


@router.put("/paging/contacts/{contact_id}")
async def replace_contact(
    state: State, who: Admin, contact_id: ItemId, contact: Contact
) -> dict[str, Any]:
    """Replace a contact."""
    return await _save(state, who, contact.model_copy(update={"id": contact_id}))


@router.delete("/paging/contacts/{contact_id}", status_code=204)
async def delete_contact(state: State, who: Admin, contact_id: ItemId) -> Response:
    """Delete a contact (its overrides and pending pages go with it)."""
    return await _delete(state, who, Contact, contact_id)


# -- schedules --------------------------------------------------------------------------


@router.get("/paging/schedules")
async def list_schedules(state: State, who: Admin) -> list[dict[str, Any]]:
    """Every schedule."""
    who.check_unscoped("paging")
    return [s.model_dump(mode="json") for s in await _repo(state).all(Schedule)]


@router.post("/paging/schedules", status_code=201)
async def create_schedule(state: State, who: Admin, schedule: Schedule) -> dict[str, Any]:
    """Add a weekly rotation (409 when the name is taken or a contact does not exist)."""
    return await _save(state, who, schedule.model_copy(update={"id": None}))


@router.get("/paging/schedules/{schedule_id}")
async def get_schedule(state: State, who: Admin, schedule_id: ItemId) -> dict[str, Any]:
    """One schedule with its overrides that are not over."""
    out = await _one(state, who, Schedule, schedule_id)
    now = datetime.now(UTC)
    out["overrides"] = [
        o for o in await _repo(state).overrides(now) if o["schedule_id"] == schedule_id
    ]
    return out


@router.put("/paging/schedules/{schedule_id}")
async def replace_schedule(
    state: State, who: Admin, schedule_id: ItemId, schedule: Schedule
) -> dict[str, Any]:
    """Replace a schedule."""
    return await _save(state, who, schedule.model_copy(update={"id": schedule_id}))


@router.delete("/paging/schedules/{schedule_id}", status_code=204)
async def delete_schedule(state: State, who: Admin, schedule_id: ItemId) -> Response:
    """Delete a schedule and its overrides."""
    return await _delete(state, who, Schedule, schedule_id)


@router.post("/paging/schedules/{schedule_id}/overrides", status_code=201)
async def add_override(
    state: State, who: Admin, schedule_id: ItemId, body: OverrideIn
) -> dict[str, Any]:
    """Put someone else on call for a while (a holiday, a swap)."""
    who.check_unscoped("paging")
    try:
        return await _repo(state).add_override(schedule_id, body)
    except KeyError:
        raise HTTPException(404, "no such schedule or contact") from None


@router.delete("/paging/schedules/{schedule_id}/overrides/{override_id}", status_code=204)
async def delete_override(
    state: State, who: Admin, schedule_id: ItemId, override_id: ItemId
) -> Response:
    """Remove an override."""
    who.check_unscoped("paging")
    if not await _repo(state).delete_override(schedule_id, override_id):
        raise HTTPException(404, "not found")
    return Response(status_code=204)


# -- views ------------------------------------------------------------------------------


@router.get("/oncall")
async def on_call_now(state: State, who: Viewer) -> dict[str, Any]:
    """Who is on call now, per site and level (a factory-scoped key: its site's people
    who cover its factory)."""
    tz = ZoneInfo(state.settings.time_zone)
    now = datetime.now(tz)
    rota = await Rota.load(_repo(state), tz, now)
    out = []
    for d in rota.now_on_call(now):
        site = d.schedule.site
        if who.factory is not None and (
            site not in (None, who.site) or not d.contact.covers(who.site or "", who.factory)
        ):
            continue
        out.append(
            {
                "site": site,
                "level": d.schedule.level,
                "schedule": d.schedule.name,
                "min_severity": d.schedule.min_severity,
                "name": d.contact.name,
                "phone": d.contact.phone,
                "channels": list(d.contact.channels),
                "until": d.until.isoformat(),
                "override": d.override,
            }
        )
    return {"time": now.isoformat(), "on_call": out}


@router.get("/alerts/{alert_id}/deliveries")
async def alert_deliveries(state: State, who: Viewer, alert_id: AlertId) -> dict[str, Any]:
    """Every page of an alert: attempts, failures and retries, and the pages still due."""
    row = await AlertRepository(state.pool).alert(alert_id)
    if row is None or not who.allows(row["site"], row["factory"] or ""):
        raise HTTPException(404, "no such alert")
    repo = _repo(state)
    return {
        "alert_id": alert_id,
        "deliveries": await repo.deliveries(alert_id),
        "pending": await repo.pending(alert_id),
    }


@router.websocket("/paging/live")
async def paging_live(ws: WebSocket) -> None:
    """This person's pages as the pager sends them (see the module docstring)."""
    state = state_of(ws)
    who = await open_socket(ws, state)
    if who is None:
        return
    if state.pages is None:
        await close_socket(ws, TRY_LATER, "pages are served by the worker that runs the pager")
        return
    try:
        contact = await _repo(state).by_key(who.key_id)
    except StorageError:
        await close_socket(ws, TRY_LATER, "the database is unavailable")
        return
    if contact is None or contact.id is None:
        await close_socket(ws, FORBIDDEN, "this key is not bound to a contact (key_id)")
        return
    client = AlertClient(who)  # its queue is the person's inbox; sessions see it as one
    refused = state.sessions.admit(client)
    if refused is not None:
        await close_socket(ws, TRY_LATER, refused)
        return
    inbox = state.pages.subscribe(contact.id, client.frames, client.wakeup)
    try:
        await serve_socket(ws, state, client)
    finally:
        state.pages.unsubscribe(inbox)
        state.sessions.release(client)

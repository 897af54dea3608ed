"""Dead-letter routes: what ingest could not use, for operators who help factories fix
their gateways. A factory-scoped key sees its own factory's topics only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from controlcenter.api._http import query_timeout
from controlcenter.api._params import Instant, check_max, setting_max
from controlcenter.api.deps import ERRORS, FactoryScope, Operator, Scope, problems
from controlcenter.api.models import DeadLetterPage, ReasonCount
from controlcenter.api.state import ApiState, State
from controlcenter.store import listing

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["dead letters"], responses=ERRORS)
_PREVIEW = 4_096
_ERRORS = problems(400, 401, 403, 422, 503)


def _prefix(state: ApiState, scope: FactoryScope) -> str | None:
    site, factory = scope
    if factory is not None and site is None:
        raise HTTPException(400, "factory needs site")
    root = state.settings.mqtt.topic_root
    if site is None:
        return None
    return f"{root}/v1/{site}/" + (f"{factory}/" if factory is not None else "")


@router.get("/dead-letters", response_model=DeadLetterPage, responses=_ERRORS)
async def dead_letters(
    state: State,
    who: Operator,
    scope: Scope,
    reason: Annotated[str | None, Query(pattern=r"^[a-z_]{1,64}$", examples=["bad_topic"])] = None,
    since: Instant | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[
        int | None, Query(ge=1, json_schema_extra=setting_max("max_page_size"))
    ] = None,
) -> dict[str, Any]:
    """Recent dead letters, newest first, by site/factory (topic) and reason."""
    lim = state.api.default_page_size if limit is None else limit
    check_max(lim, state.api.max_page_size, ("query", "limit"))
    prefix = _prefix(state, scope)
    async with query_timeout(state):
        rows = await listing.dead_letters(
            state.pool, prefix, reason, since, before_id, lim + 1, _PREVIEW
        )
    items = [
        {
            "id": r["id"],
            "received_at": r["received_at"],
            "topic": r["topic"],
            "reason": r["reason"],
            "detail": r["detail"],
            "payload": bytes(r["preview"]).decode("utf-8", "replace"),
            "payload_bytes": r["payload_bytes"],
        }
        for r in rows[:lim]
    ]
    more = len(rows) > lim
    return {"items": items, "next_before_id": items[-1]["id"] if more else None}


@router.get("/dead-letters/reasons", response_model=list[ReasonCount], responses=_ERRORS)
async def dead_letter_reasons(
    state: State,
    who: Operator,
    scope: Scope,
    since: Instant | None = None,
) -> list[dict[str, Any]]:
    """Dead letters counted by reason (since a time), most frequent first."""
    prefix = _prefix(state, scope)
    start: datetime | None = since
    async with query_timeout(state):
        rows = await listing.dead_letter_reasons(state.pool, prefix, start)
    return [dict(r) for r in rows]

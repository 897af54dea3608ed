"""Catalog routes: sites, factories, sensors and series, filtered and paginated."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query

from controlcenter.api._http import query_timeout
from controlcenter.api._params import check_max, setting_max
from controlcenter.api.deps import ERRORS, Code, Scope, Viewer, narrow
from controlcenter.api.live.index import SeriesId
from controlcenter.api.models import FactoryPage, SensorPage, SeriesPage, SitePage
from controlcenter.api.state import ApiState, State
from controlcenter.kinds import KIND_PATTERN
from controlcenter.store.listing import catalog_page

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["catalog"], responses=ERRORS)


def _page(state: ApiState, limit: int | None, offset: int) -> tuple[int, int]:
    api = state.api
    limit = api.default_page_size if limit is None else limit
    check_max(limit, api.max_page_size, ("query", "limit"))
    return limit, offset


async def _fetch(
    state: ApiState,
    what: Literal["sites", "factories", "sensors", "series"],
    limit: int,
    offset: int,
    *args: Any,
) -> tuple[list[dict[str, Any]], int | None]:
    async with query_timeout(state):
        rows = await catalog_page(state.pool, what, limit + 1, offset, *args)
    items = [dict(r) for r in rows[:limit]]
    return items, (offset + limit if len(rows) > limit else None)


Limit = Annotated[
    int | None,
    Query(ge=1, description="page size", json_schema_extra=setting_max("max_page_size")),
]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@router.get("/sites", response_model=SitePage, summary="Sites")
async def sites(
    state: State, who: Viewer, limit: Limit = None, offset: Offset = 0
) -> dict[str, Any]:
    """Sites of the complex, with their factory count (a scoped key sees its own)."""
    lim, off = _page(state, limit, offset)
    site, factory = narrow(who)
    items, nxt = await _fetch(state, "sites", lim, off, site, factory)
    return {"items": items, "limit": lim, "offset": off, "next_offset": nxt}


@router.get("/factories", response_model=FactoryPage, summary="Factories")
async def factories(
    state: State,
    who: Viewer,
    scope: Scope,
    limit: Limit = None,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Factories, by site; with their contract power and gateway status."""
    lim, off = _page(state, limit, offset)
    items, nxt = await _fetch(state, "factories", lim, off, *scope)
    return {"items": items, "limit": lim, "offset": off, "next_offset": nxt}


KindParam = Annotated[str | None, Query(pattern=KIND_PATTERN, examples=["gas"])]


@router.get("/sensors", response_model=SensorPage, summary="Sensors")
async def sensors(
    state: State,
    who: Viewer,
    scope: Scope,
    kind: KindParam = None,
    sensor: Code = None,
    limit: Limit = None,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Sensors, by site, factory and kind."""
    lim, off = _page(state, limit, offset)
    kind_text = kind
    items, nxt = await _fetch(state, "sensors", lim, off, *scope, kind_text, sensor)
    for item in items:
        item["metadata"] = orjson.loads(item["metadata"])
    return {"items": items, "limit": lim, "offset": off, "next_offset": nxt}


@router.get("/series", response_model=SeriesPage, summary="Series")
async def series(
    state: State,
    who: Viewer,
    scope: Scope,
    kind: KindParam = None,
    sensor: Code = None,
    metric: Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,32}$", examples=["pm25"])] = None,
    ids: Annotated[
        list[SeriesId] | None, Query(max_length=1_000, description="series ids", alias="id")
    ] = None,
    limit: Limit = None,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Series (one metric of one sensor) and their ids, by site, factory, kind, sensor,
    metric or id."""
    lim, off = _page(state, limit, offset)
    args = (*scope, kind, sensor, metric, ids)
    items, nxt = await _fetch(state, "series", lim, off, *args)
    return {"items": items, "limit": lim, "offset": off, "next_offset": nxt}

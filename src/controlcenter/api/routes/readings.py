"""Reading routes: latest values, downsampled history and streamed CSV export."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import ValidationError
from starlette.responses import Response, StreamingResponse

from controlcenter.api._http import json_response, query_timeout
from controlcenter.api._params import (
    MIN_US,
    Instant,
    check_max,
    instant_us,
    setting_max,
)
from controlcenter.api.auth import Principal
from controlcenter.api.deps import CODE, ERRORS, Operator, Viewer, problems
from controlcenter.api.live.index import Selection, SeriesId
from controlcenter.api.models import HistoryOut, LatestOut
from controlcenter.api.state import ApiState, State
from controlcenter.kinds import KIND_PATTERN
from controlcenter.store.downsample import fetch_history, plan
from controlcenter.store.reads import export_rows, latest_rows

__all__ = ["latest_values", "router", "select_ids", "validation_errors"]

router = APIRouter(prefix="/api/v1", tags=["readings"], responses=ERRORS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_ERRORS = problems(400, 401, 403, 404, 422, 503, 504)


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Validation errors without the offending input (it may be huge or unencodable)."""
    return [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False)
    ]


async def selection(
    site: Annotated[str | None, Query(pattern=CODE, examples=["namdong"])] = None,
    factory: Annotated[str | None, Query(pattern=CODE, examples=["f001"])] = None,
    kind: Annotated[str | None, Query(pattern=KIND_PATTERN, examples=["air"])] = None,
    sensor: Annotated[str | None, Query(pattern=CODE, examples=["aq1"])] = None,
    metric: Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,32}$", examples=["pm25"])] = None,
    series: Annotated[
        list[SeriesId] | None,
        Query(
            max_length=1_000, description="series ids (repeat the parameter; use filters for more)"
        ),
    ] = None,
) -> Selection:
    """A selection from query parameters; every given filter must match."""
    try:
        return Selection(
            site=site,
            factory=factory,
            kind=kind,
            sensor=sensor,
            metric=metric,
            series=tuple(series) if series is not None else None,
        )
    except ValidationError as exc:
        raise HTTPException(422, validation_errors(exc)) from None


Select = Annotated[Selection, Depends(selection)]


def select_ids(
    state: ApiState, who: Principal, sel: Selection, limit: int
) -> npt.NDArray[np.int32]:
    """The series ids ``who`` may see in ``sel``; 403 for another factory, 404 for none,
    400 for more than ``limit``."""
    scoped = sel.within(who)
    if scoped is None:
        raise HTTPException(403, "this key is scoped to another factory")
    state.index.sync()
    ids = state.index.select(scoped)
    if ids.size == 0:
        raise HTTPException(404, "no series match the selection")
    if ids.size > limit:
        raise HTTPException(400, f"{ids.size} series match; at most {limit} per request")
    return ids


async def latest_values(
    state: ApiState, ids: npt.NDArray[np.int32]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.float64], int]:
    """(known, time µs, value) per id: the live cache, then the database for the rest."""
    known, t, v = state.hub.latest(ids)
    missing = np.flatnonzero(~known)
    if missing.size == 0:
        return known, t, v, 0
    async with query_timeout(state):
        rows = await latest_rows(state.pool, ids[missing].tolist())
    if rows:
        pos = {int(ids[i]): int(i) for i in missing}
        for r in rows:
            i = pos[r["series_id"]]
            known[i], t[i], v[i] = True, (r["time"] - _EPOCH) // _ONE_US, r["value"]
    return known, t, v, len(rows)


@router.get(
    "/latest",
    response_model=LatestOut,
    responses=_ERRORS,
    summary="Latest values of a selection",
)
async def latest(
    state: State,
    who: Viewer,
    sel: Select,
    keys: Annotated[bool, Query(description="also return each series' names")] = False,
) -> Response:
    """Latest value of every selected series (e.g. ``?site=namdong&metric=pm25``: every
    PM2.5 station of a site), from the live cache; the database answers for the rest."""
    ids = select_ids(state, who, sel, state.api.max_latest_series)
    known, t, v, from_db = await latest_values(state, ids)
    body: dict[str, Any] = {
        "count": int(known.sum()),
        "series": ids[known],
        "time": t[known].astype("datetime64[us]"),
        "value": v[known],
        "missing": ids[~known],
        "from_database": from_db,
        "keys": None,
    }
    if keys:
        body["keys"] = [_key_doc(state, int(i)) for i in ids[known]]
    return json_response(body)


def _key_doc(state: ApiState, sid: int) -> dict[str, Any] | None:
    key = state.index.key(sid)
    if key is None:
        return None
    s = key.sensor
    return {
        "series_id": sid,
        "site": s.site,
        "factory": s.factory,
        "kind": s.kind,
        "sensor": s.sensor,
        "metric": key.metric,
        "unit": state.kinds.current.unit(s.kind, key.metric),
    }


def _range(start: datetime | None, end: datetime | None) -> tuple[int, int]:
    """``[start, end)`` in µs since the epoch (in microseconds: a default start a day
    before 0001-01-01 would overflow a datetime)."""
    end_us = instant_us(end or datetime.now(UTC))
    start_us = instant_us(start) if start is not None else max(end_us - _DAY_US, MIN_US)
    if start_us >= end_us:
        raise HTTPException(400, "start must be before end")
    return start_us, end_us


_TIMES = "RFC 3339; times outside years 1-9999 UTC are clamped to them"
Start = Annotated[Instant | None, Query(description=f"inclusive; default end - 1 day ({_TIMES})")]
End = Annotated[Instant | None, Query(description=f"exclusive; default now ({_TIMES})")]


@router.get(
    "/history",
    response_model=HistoryOut,
    responses=_ERRORS,
    summary="Downsampled history of one or many series",
)
async def history(
    state: State,
    who: Viewer,
    sel: Select,
    start: Start = None,
    end: End = None,
    max_points: Annotated[
        int | None,
        Query(ge=1, description="buckets per series", json_schema_extra=setting_max("max_points")),
    ] = None,
) -> Response:
    """Buckets (avg, min, max, last, count) of each selected series over ``[start, end)``:
    at most ``max_points`` per series. The server reads raw rows, the 1-minute or the
    1-hour rollup, whichever the bucket width allows (see ``source`` and ``bucket_s``)."""
    api = state.api
    points = api.default_points if max_points is None else max_points
    check_max(points, api.max_points, ("query", "max_points"))
    start_us, end_us = _range(start, end)
    ids = select_ids(state, who, sel, api.max_history_series)
    if ids.size * points > api.max_total_points:
        raise HTTPException(
            400, f"{ids.size} series x {points} points exceeds {api.max_total_points}"
        )
    p = plan(start_us, end_us, points)
    async with query_timeout(state):
        series = await fetch_history(state.pool, ids, p)
    return json_response(
        {
            "source": p.source,
            "bucket_s": p.width_us / 1e6,
            "start": _EPOCH + timedelta(microseconds=p.start_us),
            "end": _EPOCH + timedelta(microseconds=p.end_us),
            "series": series,
        }
    )


_CHUNK_ROWS = 5_000


@router.get(
    "/export.csv",
    responses={200: {"content": {"text/csv": {}}}, **_ERRORS},
    response_class=StreamingResponse,
    summary="CSV export of a selection and range (streamed)",
)
async def export_csv(
    state: State,
    who: Operator,
    sel: Select,
    start: Start = None,
    end: End = None,
    resolution: Annotated[
        Literal["raw", "1m", "5m", "1h"], Query(description="raw readings or a rollup")
    ] = "raw",
) -> StreamingResponse:
    """Readings (or rollup buckets) of the selection, streamed as CSV with one header row:
    ``time,series_id,site,factory,kind,sensor,metric,value`` (rollups: ``avg,min,max,
    last,count`` instead of ``value``)."""
    start_us, end_us = _range(start, end)
    ids = select_ids(state, who, sel, state.api.max_export_series)
    span = (_EPOCH + start_us * _ONE_US, _EPOCH + end_us * _ONE_US)
    names = {int(i): _names(state, int(i)) for i in ids}
    header = ["time", "series_id", "site", "factory", "kind", "sensor", "metric"]
    header += ["value"] if resolution == "raw" else ["avg", "min", "max", "last", "count"]
    filename = f"readings-{resolution}.csv"
    return StreamingResponse(
        _csv_chunks(state, resolution, ids.tolist(), span, names, header),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _names(state: ApiState, sid: int) -> list[str]:
    key = state.index.key(sid)
    if key is None:
        return ["", "", "", "", ""]
    s = key.sensor
    return [s.site, s.factory, s.kind, s.sensor, key.metric]


async def _csv_chunks(
    state: ApiState,
    resolution: Literal["raw", "1m", "5m", "1h"],
    ids: list[int],
    span: tuple[datetime, datetime],
    names: dict[int, list[str]],
    header: list[str],
) -> AsyncIterator[str]:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(header)
    yield buf.getvalue()
    chunks = export_rows(
        state.pool,
        resolution,
        ids,
        *span,
        timeout_s=state.api.query_timeout_s,
        chunk_rows=_CHUNK_ROWS,
    )
    async with contextlib.aclosing(chunks):
        async for rows in chunks:
            buf.seek(0)
            buf.truncate()
            for r in rows:
                rest = list(r.values())[2:]
                out.writerow([r["time"].isoformat(), r["series_id"], *names[r["series_id"]], *rest])
            yield buf.getvalue()

"""Dashboard summaries of a factory and of a site.

Air: the worst latest PM10 and PM2.5 among the stations and their grades
(:mod:`controlcenter.grades`). Power: the sum of the latest ``kw`` readings against the
contracted power (``factories.contract_kw``). Parking: occupied / capacity. Safety: gas and
fire alarms and the worst gas reading against its set points (:mod:`.safety`). Alerts: open
(not resolved) alerts by severity; before the alerts table exists (revision 0007) the
counts are zero and ``available`` is false.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, HTTPException, Path

from controlcenter.alerts import AlertRepository
from controlcenter.api._http import query_timeout
from controlcenter.api.deps import CODE, ERRORS, Viewer, problems
from controlcenter.api.live.index import Selection
from controlcenter.api.models import FactorySummary, SiteSummary
from controlcenter.api.routes.readings import latest_values
from controlcenter.api.routes.safety import safety_line
from controlcenter.api.state import ApiState, State
from controlcenter.grades import Grade, grade_codes, worst
from controlcenter.store.listing import factory_row, site_row

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["summaries"], responses=ERRORS)
Code = Annotated[str, Path(pattern=CODE)]
_GRADES = list(Grade)
_ERRORS = problems(401, 403, 404, 503)


async def _alerts(state: ApiState, site: str, factory: str | None) -> dict[str, Any]:
    async with query_timeout(state):
        counts = await AlertRepository(state.pool).open_counts("severity", site, factory)
    by = counts or {}
    return {"available": counts is not None, "by_severity": by, "total": sum(by.values())}


async def _readings(
    state: ApiState, site: str, factory: str | None
) -> dict[str, tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]]:
    """Latest values per metric of interest: (series ids, values) with a value."""
    state.index.sync()
    out = {}
    for kind, metric in (
        ("air", "pm10"),
        ("air", "pm25"),
        ("power", "kw"),
        ("parking", "occupied"),
        ("parking", "capacity"),
    ):
        ids = state.index.select(Selection(site=site, factory=factory, kind=kind, metric=metric))
        known, _, v, _ = await latest_values(state, ids)
        out[metric] = (ids[known], v[known])
    return out


def _air(values: dict[str, tuple[Any, npt.NDArray[np.float64]]]) -> dict[str, Any]:
    doc: dict[str, Any] = {"stations": 0}
    grades: list[Grade] = []
    for metric in ("pm10", "pm25"):
        v = values[metric][1]
        doc["stations"] = max(doc["stations"], int(v.size))
        top = float(v.max()) if v.size else None
        g = _GRADES[int(grade_codes(metric, np.asarray([top]))[0])] if top is not None else None
        doc[metric], doc[f"{metric}_grade"] = top, g
        if g is not None:
            grades.append(g)
    doc["grade"] = worst(grades)
    return doc


def _power(values: dict[str, Any], contract: float | None) -> dict[str, Any]:
    kw = values["kw"][1]
    demand = float(kw.sum())
    ratio = demand / contract if contract else None
    return {"demand_kw": demand, "contract_kw": contract, "utilisation": ratio, "meters": kw.size}


def _parking(values: dict[str, Any]) -> dict[str, Any]:
    occupied, capacity = float(values["occupied"][1].sum()), float(values["capacity"][1].sum())
    return {
        "occupied": occupied,
        "capacity": capacity,
        "occupancy": occupied / capacity if capacity > 0 else None,
    }


@router.get(
    "/factories/{site}/{factory}/summary",
    response_model=FactorySummary,
    responses=_ERRORS,
    summary="A factory's dashboard summary",
)
async def factory_summary(state: State, who: Viewer, site: Code, factory: Code) -> dict[str, Any]:
    """Current air-quality grade, power demand against contract, parking occupancy and open
    alerts by severity of one factory."""
    who.check_factory(site, factory)
    async with query_timeout(state):
        row = await factory_row(state.pool, site, factory)
    if row is None:
        raise HTTPException(404, f"no factory {site}/{factory}")
    values = await _readings(state, site, factory)
    return {
        "site": site,
        "factory": factory,
        "name": row["name"],
        "gateway_status": row["gateway_status"],
        "air": _air(values),
        "power": _power(values, row["contract_kw"]),
        "parking": _parking(values),
        "safety": await safety_line(state, site, factory),
        "alerts": await _alerts(state, site, factory),
    }


@router.get(
    "/sites/{site}/summary",
    response_model=SiteSummary,
    responses=_ERRORS,
    summary="A site's dashboard summary",
)
async def site_summary(state: State, who: Viewer, site: Code) -> dict[str, Any]:
    """The site's worst air grade and factories per grade, total power demand against the
    sum of contracts, parking occupancy and open alerts. Factory-scoped keys: 403."""
    who.check_unscoped("a site summary")
    async with query_timeout(state):
        row = await site_row(state.pool, site)
    if row is None or not row["factories"]:
        raise HTTPException(404, f"no site {site} (or it has no factories)")
    values = await _readings(state, site, None)
    return {
        "site": site,
        "factories": row["factories"],
        "air": _air(values),
        "factory_grades": _factory_grades(state, values),
        "power": _power(values, row["contract_kw"]),
        "parking": _parking(values),
        "safety": await safety_line(state, site, None),
        "alerts": await _alerts(state, site, None),
    }


def _factory_grades(state: ApiState, values: dict[str, Any]) -> dict[str, int]:
    """Factories per air grade: each factory graded by its worst station."""
    worst_code: dict[str, int] = {}
    for metric in ("pm10", "pm25"):
        ids, v = values[metric]
        codes = grade_codes(metric, v)
        for sid, code in zip(ids.tolist(), codes.tolist(), strict=True):
            key = state.index.key(sid)
            if key is not None:
                f = key.sensor.factory
                worst_code[f] = max(worst_code.get(f, 0), code)
    counts: dict[str, int] = {}
    for code in worst_code.values():
        counts[_GRADES[code].value] = counts.get(_GRADES[code].value, 0) + 1
    return counts

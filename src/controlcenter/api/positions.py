"""Positions of factories and sensors: admins set them, the map reads them.

``PUT /api/v1/sites/{site}/factories/{factory}/position`` and
``PUT /api/v1/sites/{site}/sensors/{sensor}/position`` take ``{"lat", "lon"}`` (WGS84
degrees), ``{"plan_x", "plan_y"}`` (metres on the site plan: origin at its top-left corner,
``x`` east, ``y`` south) or both. A pair that is left out stays as it is; a pair sent as
nulls is cleared. Out of range, half a pair or no pair at all: 422. A sensor is named by its
code; ``factory`` and ``kind`` (query) pick one when several sensors of the site share the
code (400 otherwise). A factory-scoped admin key positions its own factory's only.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from controlcenter.api._http import query_timeout
from controlcenter.api.deps import CODE, ERRORS, Admin, narrow, problems
from controlcenter.api.state import State
from controlcenter.kinds import KIND_PATTERN
from controlcenter.store.positions import (
    KEEP,
    Keep,
    Pair,
    find_sensors,
    set_factory_position,
    set_sensor_position,
)

__all__ = ["FactoryPositionOut", "PositionIn", "SensorPositionOut", "router"]

router = APIRouter(prefix="/api/v1", tags=["map"], responses=ERRORS)
_ERRORS = problems(400, 401, 403, 404, 422, 503, 504)

SitePath = Annotated[str, Path(pattern=CODE, examples=["namdong-1"])]
FactoryPath = Annotated[str, Path(pattern=CODE, examples=["cast-0003"])]
SensorPath = Annotated[str, Path(pattern=CODE, examples=["gas1"])]
#: Plan coordinates are metres from the plan's corner; a complex is far smaller than this.
PLAN_MAX_M = 1e6


class PositionIn(BaseModel):
    """A position: WGS84 ``lat``/``lon``, plan ``plan_x``/``plan_y`` in metres, or both."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # numbers only: no true/false or "37.4"
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {"lat": 37.4051, "lon": 126.6932},
                {"plan_x": 412.5, "plan_y": 288.0},
                {"lat": 37.4051, "lon": 126.6932, "plan_x": 412.5, "plan_y": 288.0},
            ]
        },
    )

    lat: float | None = Field(None, ge=-90, le=90, description="WGS84 latitude, degrees")
    lon: float | None = Field(None, ge=-180, le=180, description="WGS84 longitude, degrees")
    plan_x: float | None = Field(
        None, ge=0, le=PLAN_MAX_M, description="metres east of the plan's left edge"
    )
    plan_y: float | None = Field(
        None, ge=0, le=PLAN_MAX_M, description="metres south of the plan's top edge"
    )

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        given = 0
        for a, b in (("lat", "lon"), ("plan_x", "plan_y")):
            sent = {a, b} & self.model_fields_set
            if not sent:
                continue
            if len(sent) == 1 or (getattr(self, a) is None) != (getattr(self, b) is None):
                raise ValueError(f"{a} and {b} go together: give both, or both as null")
            given += 1
        if not given:
            raise ValueError("give lat and lon, plan_x and plan_y, or both")
        return self

    def pair(self, a: str, b: str) -> Pair | Keep | None:
        """The pair ``(a, b)`` to store: a value, None (clear) or KEEP (not sent)."""
        if a not in self.model_fields_set:
            return KEEP
        x, y = getattr(self, a), getattr(self, b)
        return None if x is None else (float(x), float(y))


class FactoryPositionOut(BaseModel):
    """A factory's position as stored."""

    site: str = Field(examples=["namdong-1"])
    factory: str = Field(examples=["cast-0003"])
    lat: float | None = Field(examples=[37.4051])
    lon: float | None = Field(examples=[126.6932])
    plan_x: float | None = Field(examples=[412.5])
    plan_y: float | None = Field(examples=[288.0])


class SensorPositionOut(FactoryPositionOut):
    """A sensor's own position as stored (None: it stands at its factory's)."""

    kind: str = Field(examples=["gas"])
    sensor: str = Field(examples=["gas1"])


@router.put(
    "/sites/{site}/factories/{factory}/position",
    response_model=FactoryPositionOut,
    responses=_ERRORS,
    summary="Set a factory's position",
)
async def put_factory_position(
    state: State, who: Admin, site: SitePath, factory: FactoryPath, body: PositionIn
) -> dict[str, Any]:
    """Set or clear a factory's WGS84 and plan coordinates (admin)."""
    narrow(who, site, factory)
    async with query_timeout(state):
        f = await set_factory_position(
            state.pool,
            site,
            factory,
            geo=body.pair("lat", "lon"),
            plan=body.pair("plan_x", "plan_y"),
        )
    if f is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no factory {factory} in site {site}")
    return {"site": site, "factory": f.factory, "lat": f.lat, "lon": f.lon,
            "plan_x": f.plan_x, "plan_y": f.plan_y}  # fmt: skip


@router.put(
    "/sites/{site}/sensors/{sensor}/position",
    response_model=SensorPositionOut,
    responses=_ERRORS,
    summary="Set a sensor's position",
)
async def put_sensor_position(
    state: State,
    who: Admin,
    site: SitePath,
    sensor: SensorPath,
    body: PositionIn,
    factory: Annotated[str | None, Query(pattern=CODE, description="the sensor's factory")] = None,
    kind: Annotated[
        str | None, Query(pattern=KIND_PATTERN, description="the sensor's kind")
    ] = None,
) -> dict[str, Any]:
    """Set or clear a sensor's own WGS84 and plan coordinates (admin)."""
    factory = narrow(who, site, factory).factory
    async with query_timeout(state):
        found = await find_sensors(state.pool, site, sensor, factory, kind)
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sensor {sensor} in site {site}")
        if len(found) > 1:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                f"{len(found)}+ sensors of site {site} are coded {sensor}: name one with the"
                " factory and kind query parameters",
            )
        one = found[0]
        s = await set_sensor_position(
            state.pool,
            site,
            one.factory,
            one.kind,
            one.sensor,
            geo=body.pair("lat", "lon"),
            plan=body.pair("plan_x", "plan_y"),
        )
    if s is None:  # deleted in between
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sensor {sensor} in site {site}")
    return {"site": site, "factory": s.factory, "kind": s.kind, "sensor": s.sensor,
            "lat": s.lat, "lon": s.lon, "plan_x": s.plan_x, "plan_y": s.plan_y}  # fmt: skip

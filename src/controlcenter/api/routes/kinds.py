"""Sensor kinds: the registry for everyone authenticated; admins add and extend kinds.

``GET /api/v1/kinds`` lists every kind (metrics with unit, limits, value type and engine
settings, default rules, set points); ``POST /api/v1/kinds`` adds a kind (``{"name": ...,
"metrics": {...}, ...}``, 409 when it exists) and ``PUT /api/v1/kinds/{kind}`` adds one or
changes one (metrics may be added; a metric's unit and value type stay). A bad or
contradictory entry is a 422 with the reason. Gateways may publish the new kind at once;
other processes take it within ``kinds.refresh_interval_s``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controlcenter.alerts import Rule
from controlcenter.api._http import query_timeout
from controlcenter.api.deps import ERRORS, Admin, Viewer
from controlcenter.api.models import Problem
from controlcenter.api.state import ApiState, State
from controlcenter.kinds import KIND_PATTERN, KindError, KindSpec, ValueType

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["kinds"], responses=ERRORS)
KindName = Annotated[str, Path(pattern=KIND_PATTERN, examples=["gas"])]
_SAVE_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "POST: the kind exists"},
    422: {
        "model": Problem,
        "description": "the entry breaks its schema or the registry's rules (the reason)",
    },
}
_LIMIT = 1e15


class MetricEntry(BaseModel):
    """One metric of a kind (``controlcenter/kinds.yaml`` documents every field)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    unit: str = Field(max_length=16, pattern=r"^[^\x00-\x1f]*$", examples=["ppm"])
    type: ValueType = "measurement"
    limits: tuple[
        Annotated[float, Field(ge=-_LIMIT, le=_LIMIT)],
        Annotated[float, Field(ge=-_LIMIT, le=_LIMIT)],
    ] = Field(description="physical limits [lo, hi]; ingest dead-letters values outside")
    engine: dict[str, float | int | bool | str | None] = Field(
        default_factory=dict, max_length=32, description="detector settings (MetricProfile)"
    )


class KindEntry(BaseModel):
    """A sensor kind: metrics, default alert rules, title and expected report interval."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "name": "noise",
                    "title": {"en": "Noise", "ko": "소음"},
                    "interval_s": 10,
                    "metrics": {"laeq": {"unit": "dB", "limits": [0, 200]}},
                    "rules": [
                        {
                            "name": "noise-night",
                            "conditions": [{"metric": "laeq", "raise_at": 65, "clear_at": 60}],
                        }
                    ],
                }
            ]
        },
    )

    name: str | None = Field(None, pattern=KIND_PATTERN, description="required by POST")
    title: dict[str, Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=dict, max_length=8
    )
    interval_s: float = Field(10.0, ge=0.1, le=86_400)
    safety: bool = False
    metrics: dict[str, MetricEntry] = Field(min_length=1, max_length=64)
    rules: list[dict[str, Any]] = Field(default_factory=list, max_length=32)

    def entry(self) -> dict[str, Any]:
        """The registry entry (without the name)."""
        return self.model_dump(mode="json", exclude={"name"})


def _doc(spec: KindSpec) -> dict[str, Any]:
    points = spec.set_points()
    return {
        "name": spec.name,
        **spec.as_json(),
        "set_points": {m: [{"op": op, "at": at} for op, at in p] for m, p in points.items()},
    }


@router.get("/kinds", summary="Sensor kinds")
async def list_kinds(state: State, who: Viewer) -> list[dict[str, Any]]:
    """Every sensor kind of the registry, with its metrics and default rules."""
    async with query_timeout(state):
        registry = await state.kinds.refresh()
    return [_doc(spec) for k in registry.names if (spec := registry.kind(k))]


@router.get("/kinds/{kind}", summary="A sensor kind")
async def get_kind(state: State, who: Viewer, kind: KindName) -> dict[str, Any]:
    """One sensor kind (404 when the registry has none of that name)."""
    async with query_timeout(state):
        spec = (await state.kinds.refresh()).kind(kind)
    if spec is None:
        raise HTTPException(404, f"no sensor kind {kind!r}")
    return _doc(spec)


@router.post("/kinds", status_code=201, summary="Add a sensor kind", responses=_SAVE_ERRORS)
async def create_kind(state: State, who: Admin, body: KindEntry) -> dict[str, Any]:
    """Add a kind; 409 when it exists, 422 with the reason when the entry is not valid."""
    who.check_unscoped("sensor kinds")
    if body.name is None:
        raise HTTPException(422, 'the entry needs a "name"')
    return await _save(state, body.name, body.entry(), create=True)


@router.put("/kinds/{kind}", summary="Add or change a sensor kind", responses=_SAVE_ERRORS)
async def put_kind(state: State, who: Admin, kind: KindName, body: KindEntry) -> dict[str, Any]:
    """Add a kind or change one: add metrics, change limits, engine settings and default
    rules (a metric's unit and value type stay; nothing is removed). 422 with the reason
    when the entry is not valid (a ``name`` other than the path's, too)."""
    who.check_unscoped("sensor kinds")
    if body.name not in (None, kind):
        raise HTTPException(422, "the entry's name differs from the path's")
    return await _save(state, kind, body.entry(), create=False)


async def _save(
    state: ApiState, name: str, entry: dict[str, Any], *, create: bool
) -> dict[str, Any]:
    _check_rules(name, entry.get("rules"))
    try:
        async with query_timeout(state):
            spec = await state.kinds.save(name, entry, create=create)
    except KindError as exc:
        exists = create and str(exc).endswith(f"PUT /api/v1/kinds/{name} changes it")
        raise HTTPException(409 if exists else 422, str(exc)) from None
    if state.alerts is not None:
        await state.alerts.reload_rules()  # the kind's default rules apply at once
    return _doc(spec)


def _check_rules(kind: str, rules: Any) -> None:
    """Each default rule must be a valid alert rule (the registry checks the rest)."""
    if not isinstance(rules, list):
        return
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        try:
            Rule.model_validate({**rule, "scope": {"kind": kind}})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            reason = f"{kind}.rules[{i}]: {where + ': ' if where else ''}{first['msg']}"
            raise HTTPException(422, reason) from None

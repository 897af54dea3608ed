"""The map of a site: ``GET /api/v1/sites/{site}/map``.

One document draws the complex without any tile server: the factories with their position,
gateway status and worst current state (the most severe alert not resolved: ``critical``,
``warning``, ``info``, else ``ok``), the sensors with their kind, own position and state (a
sensor without a position stands at its factory's), the site plan's metadata when one was
uploaded (the image: ``GET /api/v1/sites/{site}/plan``), the latest wind of the site's
``weather`` stations, and the active pollution episodes (``episodes``: estimated source
factory and the sensors reached, filled by source attribution; see :class:`MapEpisode`).

A factory-scoped key gets its own factory, its sensors and the wind of its own stations.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from controlcenter.alerts import AlertRepository
from controlcenter.api._http import query_timeout
from controlcenter.api.deps import ERRORS, Viewer, narrow, problems
from controlcenter.api.live.index import Selection
from controlcenter.api.routes.episodes import visible
from controlcenter.api.routes.positions import FactoryPositionOut, SensorPositionOut, SitePath
from controlcenter.api.routes.readings import latest_values
from controlcenter.api.state import ApiState, State
from controlcenter.episodes import site_episodes
from controlcenter.kinds import KIND_PATTERN
from controlcenter.store.positions import site_positions

__all__ = ["MapEpisode", "MapOut", "map_episodes", "router"]

router = APIRouter(prefix="/api/v1", tags=["map"], responses=ERRORS)
_ERRORS = problems(401, 403, 404, 422, 503, 504)
_SEVERITIES = ("critical", "warning", "info")
MapState = Literal["critical", "warning", "info", "ok"]


class AlertCounts(BaseModel):
    """Alerts not resolved, by severity."""

    critical: int = 0
    warning: int = 0
    info: int = 0


class MapFactory(FactoryPositionOut):
    """A factory on the map."""

    name: str | None = Field(examples=["Namdong Casting"])
    industry: str | None = Field(examples=["casting"])
    gateway_status: str | None = Field(examples=["online"])
    state: MapState = Field(description="its worst alert not resolved, else ok")
    alerts: AlertCounts


class MapSensor(SensorPositionOut):
    """A sensor on the map (no position of its own: draw it at its factory)."""

    state: MapState = Field(description="its worst alert not resolved, else ok")


class PlanMeta(BaseModel):
    """The uploaded site plan: ground size in metres (the image: GET .../plan)."""

    content_type: str = Field(examples=["image/png"])
    width_m: float = Field(examples=[1400.0])
    height_m: float = Field(examples=[1000.0])
    uploaded_at: datetime


class Wind(BaseModel):
    """The site's latest wind: vector mean over its ``weather`` stations."""

    speed: float = Field(description="m/s", examples=[3.2])
    dir: float = Field(description="degrees from north it blows from", examples=[270.0])
    at: datetime = Field(description="the newest reading used")
    stations: int = Field(examples=[2])


class SensorRef(BaseModel):
    """A sensor an episode reached: its onset there and its peak (times its alarm level)."""

    factory: str = Field(examples=["surf-0012"])
    kind: str = Field(examples=["odor"])
    sensor: str = Field(examples=["od1"])
    onset: datetime | None = None
    peak_ratio: float | None = Field(None, examples=[2.4])


class Candidate(BaseModel):
    """A candidate source and its probability."""

    factory: str
    probability: float = Field(ge=0, le=1)


class MapEpisode(BaseModel):
    """An active leak or odour episode: its estimated source and the sensors it reached
    (the shape of ``GET /api/v1/sites/{site}/episodes``'s items, fewer fields)."""

    id: int | None = Field(None, description="the episode's id")
    kind: str = Field(examples=["odor"])
    pollutant: str | None = Field(None, examples=["gas.h2s"])
    source_factory: str | None = Field(description="most likely source", examples=["surf-0012"])
    confidence: float = Field(ge=0, le=1, description="likelihood of that source")
    onset: datetime
    candidates: list[Candidate] = Field(default_factory=list, description="best first")
    sensors_reached: list[SensorRef]


class MapOut(BaseModel):
    """Everything the dashboard's map draws for one site."""

    site: str
    plan: PlanMeta | None
    factories: list[MapFactory]
    sensors: list[MapSensor]
    sensors_truncated: bool = Field(description="more sensors than api.max_map_sensors")
    wind: Wind | None
    episodes: list[MapEpisode]


async def map_episodes(state: ApiState, site: str, factory: str | None) -> list[dict[str, Any]]:
    """Active episodes of ``site`` (of ``factory``'s sensors only when given), shaped as
    :class:`MapEpisode`: those of ``GET /api/v1/sites/{site}/episodes`` with an alert still
    open, seen by a key scoped to ``factory`` as that route shows them."""
    async with query_timeout(state):
        # Since now: only alerts not resolved take part, so only active episodes form.
        found = await site_episodes(
            state.pool,
            state.kinds.current,
            site,
            datetime.now(UTC),
            time_zone=state.settings.time_zone,
        )
    return [e for e in found or [] if e["active"] and visible(e, factory)]


async def _states(
    state: ApiState, site: str, factory: str | None
) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str, str], str]]:
    async with query_timeout(state):
        rows = await AlertRepository(state.pool).open_by_sensor(site, factory)
    by_factory: dict[str, dict[str, int]] = {}
    by_sensor: dict[tuple[str, str, str], str] = {}
    for r in rows:
        if r["factory"] is None:
            continue
        counts = by_factory.setdefault(r["factory"], {})
        counts[r["severity"]] = counts.get(r["severity"], 0) + int(r["n"])
        if r["sensor"] is not None and r["kind"] is not None:
            key = (r["factory"], r["kind"], r["sensor"])
            by_sensor[key] = _worse(by_sensor.get(key, "ok"), r["severity"])
    return by_factory, by_sensor


def _worse(a: str, b: str) -> str:
    rank = {s: i for i, s in enumerate(_SEVERITIES)}
    return a if rank.get(a, 9) <= rank.get(b, 9) else b


def _worst(counts: dict[str, int]) -> str:
    return next((s for s in _SEVERITIES if counts.get(s)), "ok")


async def _wind(state: ApiState, site: str, factory: str | None) -> dict[str, Any] | None:
    """Vector mean of the latest (wind_speed, wind_dir) pairs of the site's stations."""
    state.index.sync()
    pairs: dict[tuple[str, str], dict[str, tuple[float, int]]] = {}
    for metric in ("wind_speed", "wind_dir"):
        ids = state.index.select(
            Selection(site=site, factory=factory, kind="weather", metric=metric)
        )
        if ids.size == 0:
            return None
        known, t_us, values, _ = await latest_values(state, ids)
        for sid, t, v in zip(
            ids[known].tolist(), t_us[known].tolist(), values[known].tolist(), strict=True
        ):
            key = state.index.key(sid)
            if key is not None:
                station = (key.sensor.factory, key.sensor.sensor)
                pairs.setdefault(station, {})[metric] = (float(v), int(t))
    full = [p for p in pairs.values() if len(p) == 2]
    if not full:
        return None
    speed = np.array([p["wind_speed"][0] for p in full])
    theta = np.radians([p["wind_dir"][0] for p in full])
    u, v = float(np.mean(speed * np.sin(theta))), float(np.mean(speed * np.cos(theta)))
    direction = (
        math.degrees(math.atan2(u, v)) % 360.0 if (u or v) else float(np.degrees(theta[0]) % 360)
    )
    newest = max(max(p["wind_speed"][1], p["wind_dir"][1]) for p in full)
    return {
        "speed": float(np.mean(speed)),
        "dir": round(direction, 1),
        "at": datetime.fromtimestamp(newest / 1e6, UTC),
        "stations": len(full),
    }


@router.get("/sites/{site}/map", response_model=MapOut, responses=_ERRORS, summary="A site's map")
async def site_map(
    state: State,
    who: Viewer,
    site: SitePath,
    kinds: Annotated[
        list[Annotated[str, Query(pattern=KIND_PATTERN)]] | None,
        Query(alias="kind", max_length=32, description="list these sensor kinds only"),
    ] = None,
) -> dict[str, Any]:
    """Factories, sensors, wind and active episodes of a site, to draw it as a map."""
    scope = narrow(who, site)
    async with query_timeout(state):
        pos = await site_positions(state.pool, site, scope.factory, kinds)
    if pos is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site}")
    by_factory, by_sensor = await _states(state, site, scope.factory)
    factories = [
        {
            "site": site, "factory": f.factory, "name": f.name, "industry": f.industry,
            "lat": f.lat, "lon": f.lon, "plan_x": f.plan_x, "plan_y": f.plan_y,
            "gateway_status": f.gateway_status,
            "state": _worst(by_factory.get(f.factory, {})),
            "alerts": by_factory.get(f.factory, {}),
        }
        for f in pos.factories
    ]  # fmt: skip
    cap = state.api.max_map_sensors
    sensors = [
        {
            "site": site, "factory": s.factory, "kind": s.kind, "sensor": s.sensor,
            "lat": s.lat, "lon": s.lon, "plan_x": s.plan_x, "plan_y": s.plan_y,
            "state": by_sensor.get((s.factory, s.kind, s.sensor), "ok"),
        }
        for s in pos.sensors[:cap]
    ]  # fmt: skip
    plan = pos.plan
    return {
        "site": site,
        "plan": None if plan is None else {
            "content_type": plan.content_type, "width_m": plan.width_m,
            "height_m": plan.height_m, "uploaded_at": plan.uploaded_at,
        },
        "factories": factories,
        "sensors": sensors,
        "sensors_truncated": len(pos.sensors) > cap,
        "wind": await _wind(state, site, scope.factory),
        "episodes": await map_episodes(state, site, scope.factory),
    }  # fmt: skip

"""Pollution episodes of a site with their estimated source factory.

``GET /api/v1/sites/{site}/episodes``: episodes (runs of gas, odour or PM alerts, see
:mod:`controlcenter.episodes`) still active or begun in the last ``hours``, newest first,
each with the factory it most likely came from, the confidence, the top three candidates
and the sensors it reached. Viewer and up; a key scoped to a factory sees the site's
episodes its factory is part of (one of its sensors was reached, or it is among the
candidates) and gets 403 for another site.

``GET /api/v1/sites/{site}/episodes/{id}``: one episode (``id``: its first alert), same
object and scope rules; 404 when the site has no episode of that id or the key may not see it.
``GET /api/v1/episodes/{id}``: the same, found by its id alone (the site is its first
alert's); 404 also for an episode of a site the key may not see.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from controlcenter.alerts import AlertRepository
from controlcenter.api._http import query_timeout
from controlcenter.api.deps import CODE, ERRORS, Viewer, narrow, problems
from controlcenter.api.state import State
from controlcenter.episodes import site_episode, site_episodes

__all__ = ["router", "visible"]

router = APIRouter(prefix="/api/v1", tags=["episodes"], responses=ERRORS)
Code = Annotated[str, Path(pattern=CODE)]
_PROBLEMS = problems(401, 403, 404, 503, 504)


def visible(episode: dict[str, Any], factory: str | None) -> bool:
    """Whether a key scoped to ``factory`` (None: the whole complex) sees ``episode``.

    >>> ep = {"sensors_reached": [{"factory": "f1"}], "candidates": [{"factory": "f2"}]}
    >>> visible(ep, None), visible(ep, "f1"), visible(ep, "f2"), visible(ep, "f3")
    (True, True, True, False)
    """
    if factory is None:
        return True
    reached = {s["factory"] for s in episode["sensors_reached"]}
    return factory in reached or factory in {c["factory"] for c in episode["candidates"]}


@router.get(
    "/sites/{site}/episodes",
    summary="Pollution episodes of a site and their likely source",
    responses=_PROBLEMS,
)
async def episodes(
    state: State,
    who: Viewer,
    site: Code,
    hours: Annotated[float, Query(gt=0, le=168, description="recent window, hours")] = 24.0,
    limit: Annotated[int, Query(ge=1, le=200, description="most episodes")] = 50,
) -> dict[str, Any]:
    """Active and recent episodes of ``site`` (see the module documentation)."""
    scope = narrow(who, site)
    since = datetime.now(UTC) - timedelta(hours=hours)
    async with query_timeout(state):
        found = await site_episodes(
            state.pool, state.kinds.current, site, since, limit, time_zone=state.settings.time_zone
        )
    if found is None:
        raise HTTPException(404, f"no site {site!r}")
    return {"site": site, "episodes": [e for e in found if visible(e, scope.factory)]}


EpisodeId = Annotated[int, Path(ge=1, le=2**63 - 1, description="its first alert's id")]
_ONE = "One pollution episode of a site and its likely source"


@router.get("/sites/{site}/episodes/{episode_id}", summary=_ONE, responses=_PROBLEMS)
async def episode(state: State, who: Viewer, site: Code, episode_id: EpisodeId) -> dict[str, Any]:
    """Episode ``episode_id`` of ``site`` (see the module documentation)."""
    scope = narrow(who, site)
    async with query_timeout(state):
        found = await site_episode(
            state.pool, state.kinds.current, site, episode_id, time_zone=state.settings.time_zone
        )
    if found is None or not visible(found, scope.factory):
        raise HTTPException(404, f"no episode {episode_id} at site {site!r}")
    return {"site": site, **found}


@router.get("/episodes/{episode_id}", summary=_ONE, responses=_PROBLEMS)
async def episode_by_id(state: State, who: Viewer, episode_id: EpisodeId) -> dict[str, Any]:
    """Episode ``episode_id`` wherever it is (see the module documentation)."""
    async with query_timeout(state):
        first = await AlertRepository(state.pool).alert(episode_id)
    if first is None or (who.site is not None and who.site != first["site"]):
        raise HTTPException(404, f"no episode {episode_id}")
    return await episode(state, who, first["site"], episode_id)

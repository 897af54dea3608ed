"""The API's routers, one module per resource; :data:`ROUTERS` is the one list the app
includes, in order."""

from fastapi import APIRouter

from controlcenter.api.routes import (
    ack,
    alerts,
    catalog,
    deadletters,
    episodes,
    keys,
    kinds,
    live,
    ops,
    paging,
    plan,
    positions,
    readings,
    reports,
    summary,
)
from controlcenter.api.routes import map as site_map

__all__ = ["ROUTERS"]

#: Every router of the API (the dashboard's are mounted by ``controlcenter.web``).
ROUTERS: list[APIRouter] = [
    m.router
    for m in (
        catalog,
        kinds,
        readings,
        summary,
        deadletters,
        keys,
        live,
        ops,
        paging,
        ack,
        reports,
        positions,
        site_map,
        plan,
        episodes,
        alerts,
    )
]

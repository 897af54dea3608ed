"""The app factory: ``create_app(state)`` builds the FastAPI app around an ApiState.

No globals: the service builds the state (pool, series index, live hub, keys, broker
link) and hands it over; the lifespan yields it as ``{"cc": state}`` so that every request
and websocket sees it (``controlcenter.api.state.state_of``). Long-lived tasks (the hub's
ticker, the replica's MQTT feed) belong to the service's TaskGroup, not to the lifespan.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from controlcenter import __version__
from controlcenter.api import (
    ack,
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
from controlcenter.api import map as site_map
from controlcenter.api._params import apply_setting_bounds
from controlcenter.api._single import single_query_values
from controlcenter.api.handlers import HANDLERS
from controlcenter.api.state import ApiState
from controlcenter.config import ApiSettings

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_DESCRIPTION = """
The operators' API of the control center: catalog, latest values, downsampled history,
dashboard summaries, dead letters, CSV export, and live websocket feeds.

**Authentication**: every `/api/v1` route needs an API key, as `X-API-Key: <key>` or
`Authorization: Bearer <key>` (websockets: `?key=<key>` or a first `{"type": "auth"}`
message). Missing or invalid key: 401. Insufficient role or another factory: 403.

**Roles** (each includes the ones before it): `viewer` reads catalog, latest values,
history, summaries and live feeds; `operator` also dead letters, CSV export and alert
acknowledgement; `maintenance` also works on alerts; `admin` also manages keys. A key
scoped to one factory sees that factory only, on every route.

**Limits**: page sizes, points per series, series per request and request bodies are
bounded; exceeding one answers 4xx with a message.

**Errors**: 422 when a parameter or body breaks its schema (every bound is in the
schema, the configured ones included); 400 when well-formed values contradict each other
or the data (`start` after `end`, a rule whose conditions do not fit together, more
matching series than allowed). Times are RFC 3339 date-times only.
"""


class _App(FastAPI):
    """FastAPI whose OpenAPI document states the bounds configured in ``ApiSettings``."""

    def __init__(self, api: ApiSettings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._api_settings = api
        self._paths: list[tuple[re.Pattern[str], dict[str, Any]]] | None = None

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            apply_setting_bounds(super().openapi(), self._api_settings)
        return self.openapi_schema or {}

    def allowed_methods(self, path: str) -> str | None:
        """The methods the schema lists for ``path`` (several routes may share a path, and
        Starlette's 405 names only the first one's), or None for a path it does not list."""
        if self._paths is None:
            self._paths = [
                (re.compile(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))), methods)
                for template, methods in self.openapi().get("paths", {}).items()
            ]
        for pattern, methods in self._paths:
            if pattern.fullmatch(path):
                return ", ".join(sorted(m.upper() for m in methods))
        return None


def create_app(state: ApiState) -> FastAPI:
    """The API app over ``state`` (see the module documentation).

    >>> create_app.__name__
    'create_app'
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        logger.info("API ready (%s)", state.mode)
        yield {"cc": state}
        logger.info("API stopped")

    app = _App(
        state.api,
        title="controlcenter API",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(single_query_values)],
    )
    for module in (
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
    ):
        app.include_router(module.router)
    if importlib.util.find_spec("controlcenter.api.alerts") is not None:
        # The alerts routes (acknowledge, resolve, rules) live with their engineer's module.
        alerts = importlib.import_module("controlcenter.api.alerts")
        app.include_router(alerts.router)
    # The dashboard: / and /static without a key (no data in them), /api/v1/me with one.
    from controlcenter.web import mount_dashboard  # web imports api: import it here

    mount_dashboard(app)
    app.add_middleware(
        ops.BodyLimitMiddleware,
        max_bytes=state.api.max_request_body_bytes,
        wider=((plan.PLAN_PATH, state.api.max_plan_image_bytes),),
    )
    app.add_middleware(ops.TimingMiddleware)
    for exc_type, handler in HANDLERS.items():
        app.add_exception_handler(exc_type, handler)
    return app

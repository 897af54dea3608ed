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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from controlcenter import __version__
from controlcenter.api import catalog, deadletters, keys, live, ops, readings, summary
from controlcenter.api._http import json_response
from controlcenter.api.state import ApiState
from controlcenter.errors import StorageError

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
"""


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

    app = FastAPI(
        title="controlcenter API",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    for module in (catalog, readings, summary, deadletters, keys, live, ops):
        app.include_router(module.router)
    if importlib.util.find_spec("controlcenter.api.alerts") is not None:
        # The alerts routes (acknowledge, resolve, rules) live with their engineer's module.
        alerts = importlib.import_module("controlcenter.api.alerts")
        app.include_router(alerts.router)
    # The dashboard: / and /static without a key (no data in them), /api/v1/me with one.
    from controlcenter.web import mount_dashboard  # web imports api: import it here

    mount_dashboard(app)
    app.add_middleware(ops.BodyLimitMiddleware, max_bytes=state.api.max_request_body_bytes)
    app.add_middleware(ops.TimingMiddleware)
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    return app


async def _storage_error(request: Request, exc: Exception) -> Response:
    cause = exc.__cause__
    if isinstance(cause, asyncpg.DataError):
        # SQLSTATE class 22: a value the database cannot take (a NUL character, a number
        # out of range): the request's fault, not the server's.
        return json_response({"detail": f"a value is not valid: {cause}"}, 422)
    logger.warning("database error in %s: %s", request.url.path, exc)
    return json_response({"detail": "the database is unavailable"}, 503)


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover - registered for it
        raise exc
    errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
    return json_response({"detail": errors}, 422)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for it
        raise exc
    response = json_response({"detail": exc.detail}, exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response

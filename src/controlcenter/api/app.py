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

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from controlcenter import __version__
from controlcenter.api import catalog, deadletters, keys, live, ops, readings, reports, summary
from controlcenter.api._http import json_response
from controlcenter.api._params import apply_setting_bounds
from controlcenter.api.state import ApiState
from controlcenter.config import ApiSettings
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
    )
    for module in (catalog, readings, summary, deadletters, keys, live, ops, reports):
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


def _consequential(error: Any) -> bool:
    """pydantic's "too short" on a tuple whose items failed: the input itself was long
    enough, and the items' own errors say what is wrong."""
    value, ctx = error.get("input"), error.get("ctx") or {}
    return (
        error.get("type") == "too_short"
        and isinstance(value, list | tuple)
        and len(value) >= ctx.get("min_length", 0)
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover - registered for it
        raise exc
    errors = [
        {k: v for k, v in e.items() if k in ("loc", "msg", "type")}
        for e in exc.errors()
        if not _consequential(e)
    ]
    # Only our own validators raise "value_error": values that fit the schema but not
    # each other (400). Anything else breaks the schema (422).
    relational = bool(errors) and all(e["type"] == "value_error" for e in errors)
    return json_response({"detail": errors}, 400 if relational else 422)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for it
        raise exc
    response = json_response({"detail": exc.detail}, exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    finder = getattr(request.app, "allowed_methods", None)  # None in a mounted sub-app
    allowed = finder(request.url.path) if exc.status_code == 405 and finder else None
    if allowed:
        response.headers["Allow"] = allowed
    return response

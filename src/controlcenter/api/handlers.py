"""The one table from exceptions to HTTP answers, registered by ``create_app``.

=============================  ===========================================================
``HTTPException``              its status and detail (405 also names the allowed methods)
``RequestValidationError``     422 (400 when only our own validators object: values that
                               fit the schema but not each other)
``ConflictError``              409 with the reason (an alert's state, a taken rule name)
``asyncpg.DataError``          400: a value the database cannot take (SQLSTATE class 22)
``StorageError``               503 (400 when caused by an ``asyncpg.DataError``)
=============================  ===========================================================

Websockets close with Starlette's ``WebSocketException`` (``controlcenter.api.routes.live``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from controlcenter.api._http import json_response
from controlcenter.errors import ConflictError, StorageError

__all__ = ["HANDLERS"]

logger = logging.getLogger(__name__)

Handler = Callable[[Request, Exception], Awaitable[Response]]


def _data_error(exc: BaseException) -> Response:
    # SQLSTATE class 22: a value the database cannot take (a NUL character, a number out
    # of range): the request's fault, not the server's.
    return json_response({"detail": f"invalid value: {exc}"}, 400)


async def _storage_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, asyncpg.DataError):
        return _data_error(exc)
    if isinstance(exc.__cause__, asyncpg.DataError):
        return _data_error(exc.__cause__)
    logger.warning("database error in %s: %s", request.url.path, exc)
    return json_response({"detail": "the database is unavailable"}, 503)


async def _conflict(request: Request, exc: Exception) -> Response:
    return json_response({"detail": str(exc)}, 409)


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


#: Every exception the API maps, to its handler (``app.add_exception_handler`` each).
HANDLERS: dict[type[Exception], Handler] = {
    HTTPException: _http_error,
    RequestValidationError: _validation_error,
    ConflictError: _conflict,
    asyncpg.DataError: _storage_error,
    StorageError: _storage_error,
}

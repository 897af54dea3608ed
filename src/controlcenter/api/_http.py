"""HTTP helpers of the API routes: query deadlines, error mapping and fast JSON bodies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson
from fastapi import HTTPException
from starlette.responses import Response

if TYPE_CHECKING:
    from controlcenter.api.state import ApiState

__all__ = ["json_response", "query_timeout"]

logger = logging.getLogger(__name__)

#: numpy arrays as lists, naive numpy datetimes as UTC, "Z" rather than "+00:00".
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


@contextlib.asynccontextmanager
async def query_timeout(state: ApiState, seconds: float | None = None) -> AsyncIterator[None]:
    """Bound a database query: 504 when it is too slow, 503 when the database fails.

    A query error caused by the request (a value out of range for the database) is a 400.
    """
    try:
        async with asyncio.timeout(seconds or state.api.query_timeout_s):
            yield
    except TimeoutError:
        raise HTTPException(504, "the query took too long; narrow the selection or range") from None
    except asyncpg.DataError:
        raise  # 400 by the handler table (controlcenter.api.handlers)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        logger.warning("database error in a request: %s", exc)
        raise HTTPException(503, "the database is unavailable") from exc


def json_response(content: Any, status_code: int = 200) -> Response:
    """A JSON response encoded by orjson (numpy arrays and datetimes included)."""
    return Response(
        orjson.dumps(content, option=_OPTIONS),
        status_code=status_code,
        media_type="application/json",
    )

"""The asyncpg pool: created with timeouts, closed within a bound, errors mapped; the
transient errors and the one loop that retries them (:func:`retry_transient`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

import asyncpg

from controlcenter.backoff import Backoff
from controlcenter.config import Settings
from controlcenter.errors import StorageError

__all__ = ["TRANSIENT_ERRORS", "map_storage_errors", "open_pool", "retry_transient"]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Errors after which the same statement may succeed on a retry (link down, server restart).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionFailureError,
)


async def retry_transient(
    step: Callable[[], Awaitable[_T]],
    backoff: Backoff,
    what: str,
    on_retry: Callable[[], None] | None = None,
) -> _T:
    """Run ``step`` (safe to repeat) until it succeeds, sleeping ``backoff``'s delays after
    a :class:`StorageError` caused by one of :data:`TRANSIENT_ERRORS` (``on_retry`` is
    called before each wait, e.g. to count it).

    Raises:
        StorageError: a database error that retrying cannot fix.
    """
    while True:
        try:
            return await step()
        except StorageError as exc:
            if not isinstance(exc.__cause__, TRANSIENT_ERRORS):
                raise
            if on_retry is not None:
                on_retry()
            delay = backoff.next()
            logger.warning("%s: database unavailable (%s); retrying in %.1f s", what, exc, delay)
            await asyncio.sleep(delay)


@contextlib.contextmanager
def map_storage_errors(what: str) -> Iterator[None]:
    """Re-raise database driver errors as StorageError (cancellation passes through)."""
    try:
        yield
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        raise StorageError(f"{what}: {exc}") from exc


@contextlib.asynccontextmanager
async def open_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """Open a pool on ``settings``' database; close it within ``db.close_timeout_s``.

    On timeout the pool is terminated, so shutdown never hangs on a dead server.
    """
    db = settings.db
    with map_storage_errors("cannot open the database pool"):
        pool = await asyncpg.create_pool(
            settings.dsn(),
            min_size=db.pool_min_size,
            max_size=db.pool_max_size,
            timeout=db.connect_timeout_s,
            command_timeout=db.command_timeout_s,
        )
    logger.info("database pool open (min %d, max %d)", db.pool_min_size, db.pool_max_size)
    try:
        yield pool
    finally:
        try:
            async with asyncio.timeout(db.close_timeout_s):
                await pool.close()
        except (Exception, asyncio.CancelledError):
            pool.terminate()
            logger.warning("database pool terminated (close did not finish in time)")
            raise
        logger.info("database pool closed")

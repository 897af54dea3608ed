"""Alembic environment: the database URL comes from Settings (CC_DATABASE_URL).

Migrations run through SQLAlchemy's asyncpg dialect, under a PostgreSQL advisory lock so
that several workers starting at once migrate one after the other.
"""

from __future__ import annotations

import asyncio
import logging

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from controlcenter.config import Settings

logger = logging.getLogger("controlcenter.migrations")
_LOCK_KEY = 7_243_001  # advisory lock id for schema migrations


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url") or Settings().dsn()
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    elif url.startswith("postgres://"):
        url = "postgresql+asyncpg://" + url[len("postgres://") :]
    return url


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
    connection.commit()
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
        connection.commit()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit(
        "offline (SQL script) migrations are not supported; run `controlcenter migrate`"
    )
asyncio.run(_run_async())

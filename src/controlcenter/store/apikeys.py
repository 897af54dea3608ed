"""The ``api_keys`` table: stored keys (a SHA-256 of the secret, never the secret), their
role and optional factory scope, and revocation. :class:`~controlcenter.api.auth.ApiKeys`
caches and verifies over it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import asyncpg

from controlcenter.store.pool import map_storage_errors

__all__ = ["ApiKeyTable"]


class ApiKeyTable:
    """Statements on ``api_keys``; every database failure becomes ``StorageError``."""

    def __init__(self, pool: asyncpg.Pool | asyncpg.Connection) -> None:
        self._pool = pool

    async def insert(
        self,
        key_id: str,
        digest: bytes,
        name: str,
        role: str,
        site: str | None,
        factory: str | None,
    ) -> None:
        """Store a new key."""
        with map_storage_errors("cannot store the API key"):
            await self._pool.execute(
                "INSERT INTO api_keys (key_id, secret_sha256, name, role, site_code, factory_code)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                key_id,
                digest,
                name,
                role,
                site,
                factory,
            )

    async def revoke(self, key_id: str) -> bool:
        """Revoke an active key; False when there is none."""
        with map_storage_errors("cannot revoke the API key"):
            result = await self._pool.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
                key_id,
            )
        return bool(result.endswith(" 1"))

    async def all(self) -> list[dict[str, Any]]:
        """Every key's metadata (never a secret), newest first."""
        with map_storage_errors("cannot list API keys"):
            rows = await self._pool.fetch(
                "SELECT key_id, name, role, site_code AS site, factory_code AS factory,"
                " created_at, revoked_at FROM api_keys ORDER BY created_at DESC"
            )
        return [dict(r) for r in rows]

    async def active(self, key_ids: Collection[str]) -> list[asyncpg.Record]:
        """``(key_id, name, role, site_code, factory_code)`` of the active ones of ``key_ids``."""
        with map_storage_errors("cannot read API keys"):
            return list(
                await self._pool.fetch(
                    "SELECT key_id, name, role, site_code, factory_code FROM api_keys"
                    " WHERE key_id = ANY($1::text[]) AND revoked_at IS NULL",
                    list(key_ids),
                )
            )

    async def active_row(self, key_id: str) -> asyncpg.Record | None:
        """``(secret_sha256, name, role, site_code, factory_code)`` of an active key."""
        with map_storage_errors("cannot verify the API key"):
            row: asyncpg.Record | None = await self._pool.fetchrow(
                "SELECT secret_sha256, name, role, site_code, factory_code FROM api_keys"
                " WHERE key_id = $1 AND revoked_at IS NULL",
                key_id,
            )
        return row

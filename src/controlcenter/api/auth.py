"""API keys, roles and the ``require_role`` dependency.

A key looks like ``cc_<key id>_<secret>``: the key id (12 hex digits) is public and finds
the row; only ``sha256(secret)`` is stored, and it is compared in constant time. The secret
has 256 bits of entropy, so a plain hash is enough (no slow KDF needed). Keys are created
with ``controlcenter create-key`` (or ``POST /api/v1/keys`` by an admin) and shown once.

Roles are ordered; each may do what the roles below it may do:

- ``viewer``: read the catalog, latest values, history, summaries and live feeds.
- ``operator``: also dead letters, CSV exports and acknowledging alerts.
- ``maintenance``: also work on alerts (resolve, rules) as the alerts routes define.
- ``admin``: also manage API keys.

A key may be scoped to one factory (site code + factory code): it then sees that factory
only, on every route, websockets included; site-wide routes answer 403.

Use in a route::

    @router.get("/things")
    async def things(who: Annotated[Principal, Depends(require_role(Role.OPERATOR))]):
        who.check_factory(site, factory)  # 403 when the key is scoped elsewhere
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any, Final, cast

import asyncpg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from controlcenter.store import map_storage_errors

__all__ = [
    "ApiKeys",
    "Principal",
    "Role",
    "authenticate_request",
    "require_role",
]

_PREFIX: Final = "cc"
_CACHE_MAX: Final = 10_000


class Role(IntEnum):
    """Roles, ordered: a role may do everything a lower one may.

    >>> Role.parse("operator") >= Role.VIEWER
    True
    >>> Role.ADMIN.label
    'admin'
    """

    VIEWER = 1
    OPERATOR = 2
    MAINTENANCE = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        """The lower-case name used in the database, the CLI and the API."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named ``text`` (case-insensitive).

        Raises:
            ValueError: for an unknown role.
        """
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise ValueError(f"unknown role {text!r}; one of {names}") from None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id and name, its role and its optional factory scope.

    >>> p = Principal("k1", "plant 7", Role.VIEWER, "namdong", "f007")
    >>> p.allows("namdong", "f007"), p.allows("namdong", "f008")
    (True, False)
    >>> Principal("k2", "", Role.ADMIN).allows("namdong", "f008")
    True
    """

    key_id: str
    name: str
    role: Role
    site: str | None = None
    factory: str | None = None

    @property
    def scoped(self) -> bool:
        """True when the key sees one factory only."""
        return self.factory is not None

    def allows(self, site: str, factory: str) -> bool:
        """Whether this key may see ``site``/``factory``."""
        return self.factory is None or (self.site == site and self.factory == factory)

    def check_factory(self, site: str, factory: str) -> None:
        """Raise 403 unless this key may see ``site``/``factory``."""
        if not self.allows(site, factory):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this key is scoped to another factory")

    def check_unscoped(self, what: str) -> None:
        """Raise 403 for a factory-scoped key on a route that spans factories."""
        if self.scoped:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"{what} spans factories; this key sees one factory"
            )

    def check_role(self, role: Role) -> None:
        """Raise 403 unless this key has at least ``role``."""
        if self.role < role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"needs role {role.label}, this key is {self.role.label}"
            )


def _split_key(key: str) -> tuple[str, str] | None:
    parts = key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1], parts[2]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class ApiKeys:
    """The ``api_keys`` table, with a short cache of verified keys.

    A revoked key keeps working for at most ``cache_ttl_s`` seconds in a process that
    verified it just before.
    """

    def __init__(
        self, pool: asyncpg.Pool | asyncpg.Connection, *, cache_ttl_s: float = 10.0
    ) -> None:
        self._pool = pool
        self._ttl = cache_ttl_s
        self._cache: dict[str, tuple[bytes, Principal, float]] = {}

    async def create(
        self,
        role: Role,
        *,
        name: str = "",
        site: str | None = None,
        factory: str | None = None,
    ) -> tuple[Principal, str]:
        """Store a new key; return its principal and the key text (shown only once).

        Raises:
            ValueError: when only one of ``site`` and ``factory`` is given.
            StorageError: when the database fails.
        """
        if (site is None) != (factory is None):
            raise ValueError("a factory scope needs both the site and the factory code")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with map_storage_errors("cannot store the API key"):
            await self._pool.execute(
                "INSERT INTO api_keys (key_id, secret_sha256, name, role, site_code, factory_code)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                key_id,
                _digest(secret),
                name,
                role.label,
                site,
                factory,
            )
        return Principal(key_id, name, role, site, factory), f"{_PREFIX}_{key_id}_{secret}"

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when there is no such active key."""
        self._cache.pop(key_id, None)
        with map_storage_errors("cannot revoke the API key"):
            result = await self._pool.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
                key_id,
            )
        return bool(result.endswith(" 1"))

    async def list(self) -> list[dict[str, Any]]:
        """Every key's metadata (never a secret), newest first."""
        with map_storage_errors("cannot list API keys"):
            rows = await self._pool.fetch(
                "SELECT key_id, name, role, site_code AS site, factory_code AS factory,"
                " created_at, revoked_at FROM api_keys ORDER BY created_at DESC"
            )
        return [dict(r) for r in rows]

    async def verify(self, key: str) -> Principal | None:
        """The principal of a valid, unrevoked key, else None.

        Raises:
            StorageError: when the database fails.
        """
        split = _split_key(key)
        if split is None:
            return None
        key_id, secret = split
        digest = _digest(secret)
        hit = self._cache.get(key_id)
        if hit is not None and hit[2] > time.monotonic():
            return hit[1] if hmac.compare_digest(hit[0], digest) else None
        with map_storage_errors("cannot verify the API key"):
            row = await self._pool.fetchrow(
                "SELECT secret_sha256, name, role, site_code, factory_code FROM api_keys"
                " WHERE key_id = $1 AND revoked_at IS NULL",
                key_id,
            )
        if row is None or not hmac.compare_digest(bytes(row["secret_sha256"]), digest):
            return None
        who = Principal(
            key_id, row["name"], Role.parse(row["role"]), row["site_code"], row["factory_code"]
        )
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key_id] = (digest, who, time.monotonic() + self._ttl)
        return who


_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key: `cc_<id>_<secret>`."
)
_bearer = HTTPBearer(auto_error=False, description="The API key as a bearer token.")


def _keys_of(request: Request) -> ApiKeys:
    # The lifespan puts the typed ApiState in the request state (see api.state).
    return cast(ApiKeys, request.state.cc.keys)


async def authenticate_request(
    request: Request,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of an HTTP request; 401 without a valid key (header or bearer token)."""
    key = api_key or (bearer.credentials if bearer is not None else None)
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an API key is required (X-API-Key header or Authorization: Bearer)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    who = await _keys_of(request).verify(key)
    if who is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return who


def require_role(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller and demands at least ``role``.

    Unauthenticated: 401. Authenticated with a lower role: 403.

    >>> dep = require_role(Role.OPERATOR)
    >>> dep.__name__
    'require_operator'
    """

    async def dependency(who: Annotated[Principal, Depends(authenticate_request)]) -> Principal:
        who.check_role(role)
        return who

    dependency.__name__ = f"require_{role.label}"
    return dependency

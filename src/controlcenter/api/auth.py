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
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any, Final, cast

import asyncpg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from controlcenter.api._limit import FailureLimiter
from controlcenter.config import ApiSettings
from controlcenter.store.apikeys import ApiKeyTable

__all__ = [
    "ApiKeys",
    "Denied",
    "Principal",
    "Role",
    "authenticate_request",
    "client_address",
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

    def outside(self, site: str | None, factory: str | None) -> bool:
        """True when a factory-scoped key names another site or factory (None: its own).

        >>> who = Principal("k", "", Role.VIEWER, "s1", "f1")
        >>> who.outside(None, "f1"), who.outside("s2", None), who.outside("s1", None)
        (False, True, False)
        """
        if self.factory is None:
            return False
        return (site is not None and site != self.site) or (
            factory is not None and factory != self.factory
        )

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


#: ``cc_<12 hex>_<secret>``; secrets are URL-safe base64 (``secrets.token_urlsafe``).
_KEY = re.compile(r"cc_([0-9a-f]{12})_([A-Za-z0-9_-]{1,128})")


def _split_key(key: str) -> tuple[str, str] | None:
    """(key id, secret), or None for anything not shaped like a key (nothing else, a NUL
    character least of all, ever reaches the database).

    >>> _split_key("cc_0123456789ab_s3cr-t_")
    ('0123456789ab', 's3cr-t_')
    >>> _split_key("cc_\\x00123456789ab_s"), _split_key("cc_0123456789ab_a\\x00")
    (None, None)
    """
    m = _KEY.fullmatch(key.strip())
    return (m[1], m[2]) if m else None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True, slots=True)
class Denied:
    """Why a key was not accepted; ``retry_after_s`` set: too many failures (429)."""

    reason: str
    retry_after_s: int | None = None


#: A cached ``api_keys`` row: its digest and principal, or None for no active key.
_Row = tuple[bytes, Principal] | None


class ApiKeys:
    """The ``api_keys`` table, a short cache of its rows, and failure limits.

    A row (or its absence) is cached for ``key_cache_ttl_s`` (absent or revoked keys for
    ``auth_bad_key_cache_s``): a wrong secret for a known key id, or a key id known to be
    bad, costs no query. Failed authentications are limited per client address and per
    key id (:class:`~controlcenter.api._limit.FailureLimiter`, in this process): beyond
    the limit the answer is :class:`Denied` with a retry time, without a query. A revoked
    key keeps working for at most ``key_cache_ttl_s`` in a process that verified it just
    before (open websockets: see ``controlcenter.api.live.sessions``).
    """

    def __init__(
        self,
        pool: asyncpg.Pool | asyncpg.Connection,
        *,
        cache_ttl_s: float | None = None,
        settings: ApiSettings | None = None,
    ) -> None:
        api = settings or ApiSettings()
        self._table = ApiKeyTable(pool)
        self._ttl = api.key_cache_ttl_s if cache_ttl_s is None else cache_ttl_s
        self._bad_ttl = api.auth_bad_key_cache_s
        self._cache: dict[str, tuple[_Row, float]] = {}
        window = api.auth_failure_window_s
        entries = api.auth_limiter_max_entries
        self._by_client = FailureLimiter(api.auth_max_failures_per_client, window, entries)
        self._by_key = FailureLimiter(api.auth_max_failures_per_key, window, entries)

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
        await self._table.insert(key_id, _digest(secret), name, role.label, site, factory)
        self._cache.pop(key_id, None)
        return Principal(key_id, name, role, site, factory), f"{_PREFIX}_{key_id}_{secret}"

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when there is no such active key."""
        self._cache.pop(key_id, None)
        return await self._table.revoke(key_id)

    def forget(self, key_id: str) -> None:
        """Drop a cached row (the key was found revoked or changed elsewhere)."""
        self._cache.pop(key_id, None)

    async def list(self) -> list[dict[str, Any]]:
        """Every key's metadata (never a secret), newest first."""
        return await self._table.all()

    async def active(self, key_ids: Collection[str]) -> dict[str, Principal]:
        """The principals of those of ``key_ids`` that are active now, in one query.

        Raises:
            StorageError: when the database fails.
        """
        rows = await self._table.active(key_ids)
        return {r["key_id"]: _principal(r["key_id"], r) for r in rows}

    async def verify(self, key: str) -> Principal | None:
        """The principal of a valid, unrevoked key, else None (no failure limits).

        Raises:
            StorageError: when the database fails.
        """
        split = _split_key(key)
        if split is None:
            return None
        key_id, secret = split
        row = await self._row(key_id)
        if row is None or not hmac.compare_digest(row[0], _digest(secret)):
            return None
        return row[1]

    async def authenticate(self, key: str, client: str) -> Principal | Denied:
        """:meth:`verify` under the failure limits of ``client`` (an address) and key id.

        Raises:
            StorageError: when the database fails.
        """
        wait = self._by_client.retry_after(client)
        if wait > 0:
            return _too_many(wait)
        split = _split_key(key)
        if split is None:
            self._by_client.fail(client)
            return Denied("invalid or revoked API key")
        key_id, secret = split
        digest = _digest(secret)
        wait = self._by_key.retry_after(key_id)
        if wait > 0:
            # Under attack: only a fresh cached row may still let its real holder in.
            hit = self._cache.get(key_id)
            row = hit[0] if hit is not None and hit[1] > time.monotonic() else None
            if row is not None and hmac.compare_digest(row[0], digest):
                return row[1]
            return _too_many(wait)
        row = await self._row(key_id)
        if row is not None and hmac.compare_digest(row[0], digest):
            return row[1]
        self._by_client.fail(client)
        self._by_key.fail(key_id)
        return Denied("invalid or revoked API key")

    async def _row(self, key_id: str) -> _Row:
        hit = self._cache.get(key_id)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        rec = await self._table.active_row(key_id)
        row: _Row = None
        if rec is not None:
            row = (bytes(rec["secret_sha256"]), _principal(key_id, rec))
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key_id] = (row, now + (self._ttl if row is not None else self._bad_ttl))
        return row


def _principal(key_id: str, rec: Any) -> Principal:
    return Principal(
        key_id, rec["name"], Role.parse(rec["role"]), rec["site_code"], rec["factory_code"]
    )


def _too_many(wait_s: float) -> Denied:
    seconds = max(1, math.ceil(wait_s))
    return Denied(f"too many failed authentications; retry after {seconds} s", seconds)


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
    who = await _keys_of(request).authenticate(key, client_address(request))
    if isinstance(who, Denied):
        if who.retry_after_s is not None:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                who.reason,
                headers={"Retry-After": str(who.retry_after_s)},
            )
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, who.reason, headers={"WWW-Authenticate": "Bearer"}
        )
    return who


def client_address(conn: HTTPConnection) -> str:
    """The client's address (uvicorn takes it from X-Forwarded-For when the peer is one of
    ``api.forwarded_allow_ips``)."""
    return conn.client.host if conn.client is not None else "unknown"


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

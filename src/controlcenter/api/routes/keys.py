"""Key management routes (admin only): create, list and revoke API keys."""

from __future__ import annotations

import logging
import re
import sys
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from controlcenter.api._http import query_timeout
from controlcenter.api.auth import ApiKeys, Role
from controlcenter.api.deps import CODE, ERRORS, Admin, problems
from controlcenter.api.models import ApiKeyCreated, ApiKeyInfo, Problem
from controlcenter.api.state import State
from controlcenter.config import DbSettings, Settings
from controlcenter.errors import ConfigError
from controlcenter.store import open_pool

__all__ = ["KeyRequest", "create_key_cli", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["keys"], responses=ERRORS)
_ERRORS = problems(400, 401, 403, 503)


class KeyRequest(BaseModel):
    """A key to create: a role, and optionally a factory scope and a name."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(pattern="^(viewer|operator|maintenance|admin)$", examples=["viewer"])
    site: str | None = Field(None, pattern=CODE, examples=["namdong"])
    factory: str | None = Field(None, pattern=CODE, examples=["f001"])
    name: str = Field("", max_length=200, pattern=r"^[^\x00]*$", examples=["plant 1 tablet"])


@router.post("/keys", response_model=ApiKeyCreated, status_code=201, responses=_ERRORS)
async def create_key(state: State, who: Admin, body: KeyRequest) -> dict[str, Any]:
    """Create a key; the answer holds the key text, shown this once."""
    who.check_unscoped("key management")
    if (body.site is None) != (body.factory is None):
        raise HTTPException(400, "a factory scope needs both site and factory")
    async with query_timeout(state):
        p, key = await state.keys.create(
            Role.parse(body.role), name=body.name, site=body.site, factory=body.factory
        )
    return {
        "key_id": p.key_id,
        "name": p.name,
        "role": p.role.label,
        "site": p.site,
        "factory": p.factory,
        "key": key,
    }


@router.get("/keys", response_model=list[ApiKeyInfo], responses=_ERRORS)
async def list_keys(state: State, who: Admin) -> list[dict[str, Any]]:
    """Every key's metadata, newest first (never a secret)."""
    who.check_unscoped("key management")
    async with query_timeout(state):
        return await state.keys.list()


@router.delete("/keys/{key_id}", status_code=204, responses={404: {"model": Problem}, **_ERRORS})
async def revoke_key(
    state: State, who: Admin, key_id: Annotated[str, Path(pattern="^[0-9a-f]{12}$")]
) -> None:
    """Revoke a key: its websockets here close now, elsewhere within
    ``live_key_recheck_s``; other processes may accept it on REST routes for
    ``key_cache_ttl_s`` more."""
    who.check_unscoped("key management")
    async with query_timeout(state):
        found = await state.keys.revoke(key_id)
    if not found:
        raise HTTPException(404, f"no active key {key_id}")
    state.sessions.close_key(key_id, "API key revoked")


async def create_key_cli(settings: Settings, role: str, factory: str | None, name: str) -> str:
    """``controlcenter create-key``: store a key and write it to standard output, once.

    Raises:
        ConfigError: a malformed ``--factory`` (expected SITE/FACTORY).
        StorageError: when the database fails.
    """
    site = code = None
    if factory is not None:
        site, _, code = factory.partition("/")
        if not (re.fullmatch(CODE, site) and re.fullmatch(CODE, code)):
            raise ConfigError(f"--factory must be SITE/FACTORY, got {factory!r}")
    async with open_pool(settings.model_copy(update={"db": _small_pool(settings)})) as pool:
        who, key = await ApiKeys(pool).create(Role.parse(role), name=name, site=site, factory=code)
    scope = f" for {site}/{code}" if site else ""
    logger.info("created %s key %s%s", who.role.label, who.key_id, scope)
    sys.stdout.write(key + "\n")
    return key


def _small_pool(settings: Settings) -> DbSettings:
    return settings.db.model_copy(update={"pool_min_size": 1, "pool_max_size": 1})

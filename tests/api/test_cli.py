"""``controlcenter create-key`` prints a working key once."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

from controlcenter.api import ApiKeys, Role


async def _create_key(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "CC_DATABASE_URL": database_url, "CC_LOG_LEVEL": "INFO"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controlcenter", "create-key", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_create_key_prints_a_scoped_key_that_verifies(database_url):
    code, out, err = await _create_key(
        database_url, "--role", "operator", "--factory", "namdong/f007", "--name", "plant 7"
    )
    assert code == 0, err
    key = out.strip()
    assert key.startswith("cc_")
    assert key not in err  # printed once, on standard output only
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        who = await ApiKeys(pool).verify(key)
    finally:
        await pool.close()
    assert who is not None
    assert (who.role, who.site, who.factory, who.name) == (
        Role.OPERATOR,
        "namdong",
        "f007",
        "plant 7",
    )


async def test_create_key_refuses_a_malformed_factory(database_url):
    code, out, err = await _create_key(database_url, "--role", "viewer", "--factory", "nope")
    assert code == 2
    assert out == ""
    assert "SITE/FACTORY" in err

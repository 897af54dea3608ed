"""The browser tests' fixture: one service and one Chromium per test module."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from controlcenter.api.auth import ApiKeys
from tests._support import running_service
from tests.web._browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Complex, seed, settings_for


@pytest.fixture(scope="module")
async def cx(
    request: pytest.FixtureRequest,
    database_url: str,
    mqtt_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Complex]:
    """The module's service and browser; a module's ``API`` dict overrides API settings."""
    from playwright.async_api import async_playwright

    root = f"ccweb{uuid.uuid4().hex[:8]}"
    api = getattr(request.module, "API", None)
    settings = settings_for(database_url, mqtt_url, root, tmp_path_factory.mktemp("web"), api)
    ARTIFACTS.mkdir(exist_ok=True)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        async with running_service(settings), async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
            )
            url = f"http://127.0.0.1:{settings.api.port}"
            cx = Complex(url, f"site{uuid.uuid4().hex[:8]}", root, mqtt_url, pool, browser,
                         ApiKeys(pool, cache_ttl_s=0.5))  # fmt: skip
            await seed(cx)
            try:
                yield cx
            finally:
                await browser.close()
    finally:
        await pool.close()

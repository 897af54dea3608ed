"""Fixtures of the API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api._api import Api, running_api


@pytest.fixture(scope="module")
async def api(database_url: str, mqtt_url: str) -> AsyncIterator[Api]:
    """One API server per test module, over this run's database."""
    from controlcenter.config import Settings

    settings = Settings(database_url=database_url, mqtt_url=mqtt_url)
    async with running_api(settings) as running:
        yield running

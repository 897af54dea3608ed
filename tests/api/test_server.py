"""Running the server: a taken port fails fast; stop closes live clients and returns."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import pytest
from websockets.asyncio.client import connect

from controlcenter.api import ApiKeys, ApiState, LiveHub, Role, SeriesIndex, create_app, serve
from controlcenter.errors import ConfigError
from controlcenter.store import Catalog
from tests.api._api import close_code


@pytest.fixture
async def state(database_url, make_settings):
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    catalog = Catalog(pool)
    index = SeriesIndex(catalog)
    connected = asyncio.Event()
    settings = make_settings(database_url)
    yield ApiState(settings, pool, index, LiveHub(settings.api, index), ApiKeys(pool), connected)
    await pool.close()


def _with_port(state: ApiState, port: int) -> ApiState:
    api = state.settings.api.model_copy(update={"port": port, "shutdown_timeout_s": 2})
    state.settings = state.settings.model_copy(update={"api": api})
    return state


async def test_the_server_fails_fast_when_its_port_is_taken(state):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        _with_port(state, taken.getsockname()[1])
        with pytest.raises(ConfigError, match=r"could not start.*--port N or CC_API__PORT=N"):
            async with asyncio.timeout(10):
                await serve(create_app(state), state.settings, asyncio.Event())


async def test_stop_closes_live_clients_and_the_server_returns(state):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _with_port(state, port)
    _, key = await state.keys.create(Role.VIEWER)
    stop, started = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve(create_app(state), state.settings, stop, started))
    async with asyncio.timeout(10):
        await started.wait()
    async with connect(f"ws://127.0.0.1:{port}/api/v1/live?key={key}") as ws:
        stop.set()
        assert await close_code(ws) == 1012  # "service restart": reconnect elsewhere
    async with asyncio.timeout(10):
        await server

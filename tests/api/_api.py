"""Helpers of the API tests: a real uvicorn server on a free port over the test database."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import httpx
import numpy as np

from controlcenter.api.app import create_app
from controlcenter.api.auth import ApiKeys, Role
from controlcenter.api.hub import LiveHub
from controlcenter.api.index import SeriesIndex
from controlcenter.api.server import serve
from controlcenter.api.state import ApiState
from controlcenter.config import Settings
from controlcenter.domain import Batch, SensorKey, SeriesKey
from controlcenter.embedded._port import free_port
from controlcenter.store import Catalog, ReadingWriter, read_storage_mode


def unique_site() -> str:
    return f"site{uuid.uuid4().hex[:8]}"


@dataclass
class Api:
    """A running API: its URL, state and helpers to seed data and make keys."""

    url: str
    state: ApiState
    pool: asyncpg.Pool
    catalog: Catalog
    writer: ReadingWriter
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    async def key(self, role: Role = Role.VIEWER, scope: tuple[str, str] | None = None) -> str:
        site, factory = scope if scope else (None, None)
        _, key = await self.state.keys.create(role, name="test", site=site, factory=factory)
        return key

    async def client(self, role: Role | None = Role.VIEWER, scope=None) -> httpx.AsyncClient:
        headers = {"X-API-Key": await self.key(role, scope)} if role is not None else {}
        c = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=20)
        self.clients.append(c)
        return c

    async def series(
        self, site: str, factory: str, kind: str, sensor: str, metrics: list[str]
    ) -> list[int]:
        keys = [SeriesKey(SensorKey(site, factory, kind, sensor), m) for m in metrics]
        return await self.catalog.resolve(keys)

    async def write(self, series: list[int], time_us: list[int], value: list[float]) -> None:
        await self.writer.write(Batch.from_lists(series, time_us, value))


@contextlib.asynccontextmanager
async def running_api(
    settings: Settings, *, alerts: bool = False, pages=None
) -> AsyncIterator[Api]:
    """Serve the API (no ingest) until the block ends; the broker link counts as up.

    With ``alerts`` an alert service runs beside it, as in a worker (the alert routes act).
    """
    settings = settings.model_copy(
        update={"api": settings.api.model_copy(update={"port": free_port()})}
    )
    pool = await asyncpg.create_pool(settings.dsn(), min_size=1, max_size=8)
    stop = asyncio.Event()
    started = asyncio.Event()
    try:
        mode = await read_storage_mode(pool)
        catalog = Catalog(pool)
        await catalog.load()
        index = SeriesIndex(catalog)
        hub = LiveHub(settings.api, index)
        keys = ApiKeys(pool, cache_ttl_s=0.5, settings=settings.api)
        connected = asyncio.Event()
        connected.set()
        service = None
        if alerts:
            from controlcenter.alerts import AlertService

            service = AlertService(settings, pool, catalog)
            service.add_listener(hub.publish_alert)
        state = ApiState(settings, pool, index, hub, keys, connected, alerts=service, pages=pages)
        writer = ReadingWriter(
            pool, partitioned=not mode.timescale, partition_width_us=mode.partition_width_us
        )
        async with asyncio.TaskGroup() as tg:
            if service is not None:
                tg.create_task(service.run(stop))
                async with asyncio.timeout(20):
                    await service.started.wait()
            tg.create_task(serve(create_app(state), settings, stop, started))
            tg.create_task(hub.run(stop))
            tg.create_task(state.sessions.run(stop))
            async with asyncio.timeout(10):
                await started.wait()
            api = Api(f"http://127.0.0.1:{settings.api.port}", state, pool, catalog, writer)
            try:
                yield api
            finally:
                for c in api.clients:
                    await c.aclose()
                stop.set()
    finally:
        await pool.close()


def us(seconds: float) -> int:
    return int(seconds * 1_000_000)


def batch(series: list[int], time_us: list[int], value: list[float]) -> Batch:
    return Batch(
        np.asarray(series, np.int32), np.asarray(time_us, np.int64), np.asarray(value, np.float64)
    )


async def close_code(ws) -> int:
    """Receive until the server closes ``ws``; return its close code (5 s at most)."""
    from websockets.exceptions import ConnectionClosed

    code = -1
    try:
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd is not None else -1
    return code


def stalled_websocket(port: int, path: str, first_message: bytes) -> socket.socket:
    """A websocket client that sends one message and then never reads (a tiny receive
    window, so the server's buffers fill after a few frames). Close the socket when done."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    mask = os.urandom(4)
    n = len(first_message)
    length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(first_message))
    sock.sendall(b"\x81" + length + mask + masked)
    return sock

"""Test helpers: a TCP proxy that cuts links, a service runner, waiting and publishing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import asyncpg

from controlcenter.config import Settings
from controlcenter.service import run_service

#: Holds True when the suite runs on the embedded MQTT broker (amqtt: MQTT 3.1.1 only, no
#: shared subscriptions, no redelivery); set by the ``mqtt_url`` fixture.
EMBEDDED_MQTT: list[bool] = []


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; :meth:`cut` drops every link and refuses
    new ones until :meth:`restore` (like asyncpg's adversity tests).

    ``replies``: when set, each link opened from then on forwards only that many reads of
    the target's answers and swallows the rest, link kept open (with 1, an MQTT broker's
    CONNACK comes through and then nothing: a broker that stops answering); each link that
    swallowed something is counted in ``stalled``.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.replies: int | None = None
        self.stalled = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._cut = False

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> None:
        """Drop every open link; refuse new ones."""
        self._cut = True
        for w in list(self._links):
            w.transport.abort()
        self._links.clear()

    def restore(self) -> None:
        """Accept and forward again."""
        self._cut = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links.update((writer, up_writer))
        for src, dst, limit in ((reader, up_writer, None), (up_reader, writer, self.replies)):
            task = asyncio.create_task(self._pipe(src, dst, limit))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, limit: int | None = None
    ) -> None:
        reads = 0
        try:
            while data := await src.read(65536):
                reads += 1
                if limit is not None and reads > limit:
                    self.stalled += reads == limit + 1
                    continue  # swallowed: the link stays open, silent
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._links.discard(dst)
            dst.transport.abort()


def via_proxy(url: str, proxy: TcpProxy) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    netloc = f"127.0.0.1:{proxy.port}"
    if parts.username:
        auth = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{auth}@{netloc}"
    return parts._replace(netloc=netloc).geturl()


def target_of(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


@contextlib.asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    """Run the service until the block ends; then stop it gracefully and re-raise its errors."""
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(run_service(settings, stop, ready))
    try:
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # raises what made the service stop
        assert ready.is_set(), "the service did not subscribe within 30 s"
        yield task
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await task


@contextlib.asynccontextmanager
async def own_database(server_url: str, mqtt_url: str) -> AsyncIterator[str]:
    """A fresh migrated database for a test that fills it with thousands of series, so
    that the run's shared database stays small for the others (the dashboard reads the
    latest value of every series); dropped afterwards."""
    from controlcenter.store import migrate
    from tests.conftest import create_database, drop_database

    name = f"cc_test_own_{uuid.uuid4().hex[:10]}"
    url = await create_database(server_url, name)
    try:
        await migrate(Settings(database_url=url, mqtt_url=mqtt_url))
        yield url
    finally:
        await drop_database(server_url, name)


async def gaps_while(awaitable: Awaitable[Any]) -> list[float]:
    """How late a 10 ms heartbeat on the event loop ran, each time, while ``awaitable`` ran
    (its largest value is the longest stall)."""
    loop = asyncio.get_running_loop()
    gaps: list[float] = []

    async def heartbeat() -> None:
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            gaps.append(loop.time() - t - 0.01)

    beat = asyncio.create_task(heartbeat())
    try:
        await asyncio.sleep(0.05)
        await awaitable
        await asyncio.sleep(0.05)  # records the stretch that ended with the awaitable
    finally:
        beat.cancel()
    return gaps


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 20.0, every: float = 0.05
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {result!r})")
        await asyncio.sleep(every)


async def publish(mqtt_url: str, messages: list[tuple[str, bytes]], *, qos: int = 1) -> None:
    """Publish (topic, payload) pairs in order and wait until the broker has them all."""
    host, port = target_of(mqtt_url, 1883)
    parts = urlsplit(mqtt_url)
    async with aiomqtt.Client(
        host, port, username=parts.username, password=parts.password, max_inflight_messages=200
    ) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=qos)


def reading(ts_ms: int, **values: float) -> bytes:
    """A single-reading payload."""
    return json.dumps({"ts": ts_ms, "values": values}).encode()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def count_readings(pool: asyncpg.Pool, site: str) -> int:
    """Rows in ``readings`` that belong to ``site``."""
    return int(
        await pool.fetchval(
            """
            SELECT count(*) FROM readings r
            JOIN series se USING (series_id) JOIN sensors s USING (sensor_id)
            JOIN factories f USING (factory_id) JOIN sites si USING (site_id)
            WHERE si.code = $1
            """,
            site,
        )
    )


def serve_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``controlcenter serve`` subprocess on ``settings``' database,
    broker, topic root and client id (and ``extra`` ``CC_`` variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    env.update(
        CC_DATABASE_URL=settings.dsn(),
        CC_MQTT_URL=settings.mqtt_url or "",
        CC_MQTT__TOPIC_ROOT=settings.mqtt.topic_root,
        CC_MQTT__CLIENT_ID=settings.mqtt.client_id,
        CC_MQTT__SESSION_EXPIRY_S=str(settings.mqtt.session_expiry_s),
        CC_INGEST__BATCH_SIZE=str(settings.ingest.batch_size),
        CC_INGEST__FLUSH_INTERVAL_S=str(settings.ingest.flush_interval_s),
        CC_DB__MIGRATE_ON_START="false",
        CC_API__PORT="0",  # a free port: never collide with another service on 8000
        CC_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


async def start_serve(env: dict[str, str]) -> asyncio.subprocess.Process:
    """``controlcenter serve`` as a subprocess with ``env`` (see :func:`serve_env`)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controlcenter", "serve", env=env
    )


async def wait_ingesting(pool: asyncpg.Pool, mqtt_url: str, root: str) -> None:
    """Publish a probe until the (subprocess) service has stored it: it is subscribed."""
    site = f"probe{uuid.uuid4().hex[:8]}"

    async def probe() -> int:
        await publish(mqtt_url, [(f"{root}/v1/{site}/probe/air/p", reading(now_ms(), pm10=1))])
        await asyncio.sleep(0.2)
        return await count_readings(pool, site)

    await eventually(probe, timeout=30)

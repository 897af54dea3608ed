"""Shared fixtures: the real PostgreSQL and MQTT broker of the machine, or embedded ones.

CC_TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test) names a server
where the suite may create databases; CC_TEST_MQTT_URL (default mqtt://127.0.0.1:1883) a
broker. When one is unreachable, the suite starts the embedded one instead. Each run gets
its own database and its own MQTT topic root, so runs never collide.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from controlcenter.config import Settings
from tests._support import EMBEDDED_MQTT

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
MQTT_DEFAULT = "mqtt://127.0.0.1:1883"
RUN_ID = uuid.uuid4().hex[:10]


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1.0
        ):
            return True
    except OSError:
        return False


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture(scope="session")
def run_id() -> str:
    """A short id unique to this test run."""
    return RUN_ID


@pytest.fixture(scope="session")
async def pg_server_url() -> AsyncIterator[str]:
    """A PostgreSQL server URL on which the suite may create databases."""
    url = os.environ.get("CC_TEST_DATABASE_URL", PG_DEFAULT)
    if _reachable(url, 5432):
        yield url
        return
    from controlcenter.embedded import embedded_postgres

    # Not under pytest's temporary root: another pytest session resets it to 0700, and a
    # server running as another account (we are root) then PANICs. A directory of its own.
    async with embedded_postgres() as embedded_url:
        yield embedded_url


@pytest.fixture(scope="session")
def mqtt_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An MQTT broker URL (real broker when reachable, else embedded)."""
    url = os.environ.get("CC_TEST_MQTT_URL", MQTT_DEFAULT)
    if _reachable(url, 1883):
        yield url
        return
    EMBEDDED_MQTT.append(True)
    with _broker_in_a_thread(Path(tmp_path_factory.mktemp("mqtt"))) as embedded_url:
        yield embedded_url


@contextlib.contextmanager
def _broker_in_a_thread(data_dir: Path) -> Iterator[str]:
    """The embedded broker on its own event loop: synchronous tests (subprocesses, the
    browser) block the tests' loop, and a broker on that loop would stop answering."""
    from controlcenter.embedded import embedded_broker

    ready = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        async with embedded_broker(data_dir) as url:
            box["url"], box["loop"], box["stop"] = url, asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await box["stop"].wait()

    def run() -> None:
        try:
            asyncio.run(serve())
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="embedded-mqtt", daemon=True)
    thread.start()
    if not ready.wait(60) or "url" not in box:
        raise RuntimeError("the embedded MQTT broker did not start")
    try:
        yield box["url"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)


@pytest.fixture
def real_broker(mqtt_url: str) -> str:
    """``mqtt_url``, for tests of what only a real broker gives (skipped on the embedded
    amqtt: MQTT 3.1.1, no shared subscriptions, no redelivery, 5 s to acknowledge)."""
    if EMBEDDED_MQTT:
        pytest.skip("needs a real MQTT broker (set CC_TEST_MQTT_URL); amqtt lacks the feature")
    return mqtt_url


async def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server and return its URL."""
    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name``, disconnecting whoever is still on it."""
    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def empty_database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database of this run (dropped at the end)."""
    name = f"cc_test_{RUN_ID}"
    url = await create_database(pg_server_url, name)
    yield url
    await drop_database(pg_server_url, name)


@pytest.fixture(scope="session")
async def database_url(empty_database_url: str, mqtt_url: str) -> str:
    """This run's database, migrated to head."""
    from controlcenter.store import migrate

    await migrate(Settings(database_url=empty_database_url, mqtt_url=mqtt_url))
    return empty_database_url


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A small pool on this run's migrated database."""
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    yield p
    await p.close()


@pytest.fixture
def topic_root() -> str:
    """A topic root of this test alone (its own slice of the broker)."""
    return f"cct{RUN_ID}{uuid.uuid4().hex[:6]}"


@pytest.fixture
def make_settings(mqtt_url: str, topic_root: str, tmp_path: Path):
    """Build Settings for a test: this run's broker and this test's topic root.

    Keyword arguments override; nested dicts are merged into the defaults.
    """

    def make(database_url: str, **overrides: object) -> Settings:
        base: dict[str, object] = {
            "database_url": database_url,
            "mqtt_url": mqtt_url,
            "data_dir": tmp_path / "data",
            "mqtt": {
                # amqtt speaks MQTT 3.1.1 only (the demo switches the same way).
                "protocol": "3.1.1" if EMBEDDED_MQTT else "5",
                "topic_root": topic_root,
                "client_id": f"cc-test-{uuid.uuid4().hex[:8]}",
                "session_expiry_s": 300,
                "reconnect_initial_s": 0.05,
                "reconnect_max_s": 0.5,
            },
            "ingest": {
                "flush_interval_s": 0.05,
                "write_retry_initial_s": 0.05,
                "write_retry_max_s": 0.5,
            },
            "engine": {"retry_initial_s": 0.05, "retry_max_s": 0.5},
            "db": {"migrate_on_start": False, "rollup_interval_s": 0.5},
            # The API binds an ephemeral port: tests never collide on 8000.
            "api": {"port": 0},
            # No scheduled reports beside a test's service (the report tests run their own).
            "reports": {"schedule_enabled": False},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}  # type: ignore[dict-item]
            else:
                base[key] = value
        return Settings(**base)  # type: ignore[arg-type]

    return make

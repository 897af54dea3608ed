"""``controlcenter demo``: the whole system on one machine, from a fresh clone.

Uses the configured database and broker, or starts embedded ones (data under
``data_dir``) when ``CC_DATABASE_URL`` / ``CC_MQTT_URL`` are unset, then runs the service and
a simulated complex (``python -m simulators run``, a separate process speaking only the
MQTT contract, exactly as factory gateways would), and reports what arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator

import asyncpg
from pydantic import SecretStr

from controlcenter.config import Settings
from controlcenter.service import run_service, stop_on_signals

__all__ = ["run_demo"]

logger = logging.getLogger(__name__)


async def run_demo(settings: Settings, *, factories: int, rate: float) -> None:
    """Run until SIGINT/SIGTERM: services, ingest and a simulated complex."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with contextlib.AsyncExitStack() as stack:
        settings = await _with_services(settings, stack)
        ready = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            service = tg.create_task(run_service(settings, stop, ready))
            waiter = tg.create_task(ready.wait())
            await asyncio.wait({service, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if service.done():
                return  # it failed; the TaskGroup raises its error
            await _announce_api(settings)
            async with _simulator(settings, factories, rate):
                tg.create_task(_report(settings, stop))
                await stop.wait()


async def _announce_api(settings: Settings) -> None:
    """Create an admin API key and log it with the dashboard's address (shown once)."""
    if not settings.api.enabled:
        return
    from controlcenter.api.auth import ApiKeys, Role

    conn = await asyncpg.connect(settings.dsn(), timeout=10)
    try:
        async with asyncio.timeout(10):
            _, key = await ApiKeys(conn).create(Role.ADMIN, name="demo")
    finally:
        await conn.close()
    base = f"http://{settings.api.host}:{settings.api.port}"
    logger.info(
        "dashboard: %s/  API docs: %s/docs  admin API key (shown once): %s", base, base, key
    )


async def _with_services(settings: Settings, stack: contextlib.AsyncExitStack) -> Settings:
    if settings.database_url is None:
        from controlcenter.embedded import embedded_postgres

        url = await stack.enter_async_context(embedded_postgres(settings.data_dir / "postgres"))
        logger.info("embedded PostgreSQL at %s", url)
        settings = settings.model_copy(update={"database_url": SecretStr(url)})
    if settings.mqtt_url is None:
        from controlcenter.embedded import embedded_broker

        url = await stack.enter_async_context(embedded_broker(settings.data_dir / "mqtt"))
        logger.info("embedded MQTT broker (MQTT 3.1.1) on %s", url.rsplit("@", 1)[-1])
        # amqtt speaks MQTT 3.1.1 only (see README: embedded services).
        mqtt = settings.mqtt.model_copy(update={"protocol": "3.1.1"})
        settings = settings.model_copy(update={"mqtt_url": url, "mqtt": mqtt})
    return settings


@contextlib.asynccontextmanager
async def _simulator(settings: Settings, factories: int, rate: float) -> AsyncIterator[None]:
    args = [
        sys.executable, "-m", "simulators", "run",
        "--url", settings.mqtt_url or "",
        "--topic-root", settings.mqtt.topic_root,
        "--factories", str(factories),
        "--rate", str(rate),
        "--log-level", "WARNING",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*args)
    logger.info("simulating %d factories at %.0f readings/s (pid %d)", factories, rate, proc.pid)
    try:
        yield
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _report(settings: Settings, stop: asyncio.Event) -> None:
    conn = await asyncpg.connect(settings.dsn(), timeout=10)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await stop.wait()
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM readings) AS readings,"
                " (SELECT count(*) FROM series) AS series,"
                " (SELECT count(*) FROM dead_letters) AS dead"
            )
            if row is not None:
                logger.info(
                    "stored %d readings of %d series (%d dead letters)",
                    row["readings"], row["series"], row["dead"],
                )  # fmt: skip
    finally:
        await conn.close()

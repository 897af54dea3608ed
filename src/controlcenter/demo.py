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
        embedded_db = None if settings.database_url is not None else "embedded"
        settings = await _with_services(settings, stack)
        if embedded_db is not None:
            embedded_db = settings.dsn()
        ready = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            service = tg.create_task(run_service(settings, stop, ready))
            waiter = tg.create_task(ready.wait())
            await asyncio.wait({service, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if service.done():
                return  # it failed; the TaskGroup raises its error
            await _announce_api(settings, embedded_db)
            await _import_positions(settings, factories)
            async with _simulator(settings, factories, rate):
                tg.create_task(_report(settings, stop))
                await stop.wait()


async def _announce_api(settings: Settings, embedded_db: str | None) -> None:
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
    if embedded_db is not None:
        # The embedded database listens on loopback with trust authentication: the URL
        # holds no secret. Its port changes with every run.
        logger.info(
            "more keys while the demo runs (another terminal): "
            "CC_DATABASE_URL=%s .venv/bin/controlcenter create-key --role operator",
            embedded_db,
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


async def _import_positions(settings: Settings, factories: int) -> None:
    """Place the simulated complex on the map: the simulator writes its factories' and
    sensors' positions (``controlcenter-sim positions``), the catalog takes them."""
    from controlcenter.layoutfile import import_document, parse_positions

    args = [sys.executable, "-m", "simulators", "positions", "--factories", str(factories),
            "--log-level", "WARNING"]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        out, _ = await proc.communicate()
    if proc.returncode != 0:
        logger.warning("no positions for the map: the simulator exited with %s", proc.returncode)
        return
    pool = await asyncpg.create_pool(settings.dsn(), min_size=1, max_size=1)
    try:
        async with asyncio.timeout(60):
            await import_document(pool, parse_positions(out))
    finally:
        await pool.close()


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
    logger.info(
        "simulating %d factories at %.0f readings/s (pid %d); a reading carries several"
        " metrics, each stored as one value",
        factories, rate, proc.pid,
    )  # fmt: skip
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
    """Every 5 s: values stored (one row per metric of a reading), and the readings/s and
    values/s of the last complete seconds (by reading time)."""
    conn = await asyncpg.connect(settings.dsn(), timeout=10)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await stop.wait()
            row = await conn.fetchrow(_COUNTS, _RATE_WINDOW_S)
            if row is not None:
                logger.info(
                    "stored %d values of %d series (%d dead letters): %.0f readings/s ="
                    " %.0f values/s",
                    row["values"], row["series"], row["dead"],
                    row["recent_readings"] / _RATE_WINDOW_S,
                    row["recent_values"] / _RATE_WINDOW_S,
                )  # fmt: skip
    finally:
        await conn.close()


_RATE_WINDOW_S = 5
# A reading's metrics share its sensor and time: readings are the distinct pairs. The window
# ends 2 s ago, so that readings still in flight do not lower the rate.
_COUNTS = """
WITH recent AS (
    SELECT se.sensor_id, r.time FROM readings r JOIN series se USING (series_id)
    WHERE r.time >= now() - make_interval(secs => $1 + 2) AND r.time < now() - interval '2 s'
)
SELECT (SELECT count(*) FROM readings) AS values,
       (SELECT count(*) FROM recent) AS recent_values,
       (SELECT count(*) FROM (SELECT DISTINCT sensor_id, time FROM recent) AS x)
           AS recent_readings,
       (SELECT count(*) FROM series) AS series,
       (SELECT count(*) FROM dead_letters) AS dead
"""

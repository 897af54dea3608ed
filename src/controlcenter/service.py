"""The service: resources entered in dependency order, workers in one TaskGroup.

pool -> storage mode -> pipeline (consumer, writer, upkeep) -> scoring (anomaly engine)
-> listeners, and the report schedule. If an essential task dies,
the TaskGroup cancels the rest and the error propagates, so the process exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from controlcenter.alerts import AlertService
from controlcenter.api.server import ApiRuntime
from controlcenter.config import Settings
from controlcenter.gcpolicy import gc_policy
from controlcenter.pipeline import Pipeline
from controlcenter.reports.schedule import ReportScheduler
from controlcenter.scoring import Scoring
from controlcenter.store import migrate, open_pool, read_storage_mode

__all__ = ["run_service", "stop_on_signals"]

logger = logging.getLogger(__name__)


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT and SIGTERM (a second signal leaves the default behaviour)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on every platform
            loop.add_signal_handler(sig, _first_signal, loop, sig, stop)


def _first_signal(
    loop: asyncio.AbstractEventLoop, sig: signal.Signals, stop: asyncio.Event
) -> None:
    logger.info("received %s: shutting down", sig.name)
    stop.set()
    loop.remove_signal_handler(sig)


async def run_service(
    settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> None:
    """Run ingest until ``stop`` is set; migrate first when ``db.migrate_on_start``.

    ``ready`` is set once the consumer has subscribed (from then on the broker keeps
    every message for us, even across reconnects).
    """
    if settings.db.migrate_on_start:
        await migrate(settings)
    async with open_pool(settings) as pool:
        mode = await read_storage_mode(pool)
        logger.info("storage mode: %s", mode.name)
        pipeline = Pipeline(settings, pool, mode)
        # The API (live hub) is the first sink: it never waits, so live feeds don't queue.
        api = ApiRuntime.in_process(settings, pool, pipeline) if settings.api.enabled else None
        scoring = Scoring(settings, pool, pipeline.catalog)
        pipeline.add_sink(scoring.submit)
        alerts = AlertService(settings, pool, pipeline.catalog) if settings.alerts.enabled else None
        if alerts is not None:
            scoring.add_listener(alerts.on_scored)
            if api is not None and not api.takes_alerts_from_broker:
                # Transitions to the /api/v1/alerts/live websockets (a sharing worker's
                # hub gets every worker's over MQTT instead).
                alerts.add_listener(api.state.hub.publish_alert)
                api.state.alerts = alerts  # the alert routes act through the worker's service
        async with gc_policy(settings.runtime), asyncio.TaskGroup() as tg:
            engine = tg.create_task(scoring.run(), name="scoring")
            alerting = tg.create_task(alerts.run(), name="alerts") if alerts else None
            reporting = (
                tg.create_task(ReportScheduler(settings, pool).run(), name="reports")
                if settings.reports.schedule_enabled
                else None
            )
            if api is not None:
                api.start(tg, stop)  # the hub's ticker and uvicorn; they end when stop is set
            # Returns after the drain: everything committed was handed to the sinks.
            await pipeline.run(stop, ready)
            async with asyncio.timeout(settings.ingest.shutdown_timeout_s):
                await scoring.drained()
                if alerts is not None:
                    await alerts.drained()
            if alerting is not None:
                alerting.cancel()
            if reporting is not None:
                reporting.cancel()
            engine.cancel()

"""The service: resources entered in dependency order, workers in one TaskGroup.

pool -> storage mode -> sensor kinds (``KindBook``) -> :func:`compose` -> the stages' tasks.
:func:`compose` is the one place that builds every stage and wires them, each given its
typed inputs:

    sensor kinds ─> ingest (topics, metrics, limits), catalog (units), Scoring (engine
    profiles), API (kinds routes, rule checks, summaries)
    catalog ──────────────┬──────────────┬───────────────┬───────────────┐
    Pipeline (consumer -> writer) ─sinks─> live hub (API), live relay (shared stream), Scoring
    Scoring ─listener─> AlertService ─listener─> live hub's alert feed
                                     ─channel──> Pager (on-call pages)

If an essential task dies, the TaskGroup cancels the rest and the error propagates, so
the process exits non-zero. Beside the stages runs the report schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from dataclasses import dataclass

import asyncpg

from controlcenter.alerts import AlertService
from controlcenter.api.server import ApiRuntime
from controlcenter.config import Settings
from controlcenter.gcpolicy import gc_policy
from controlcenter.kinds import packaged
from controlcenter.paging import Pager, PageStream
from controlcenter.pipeline import Pipeline
from controlcenter.relay import LiveRelay
from controlcenter.reports.schedule import ReportScheduler
from controlcenter.scoring import Scoring
from controlcenter.stage import Stage
from controlcenter.store import (
    Catalog,
    KindBook,
    StorageMode,
    migrate,
    open_pool,
    read_storage_mode,
)

__all__ = ["Stages", "compose", "ingest_catalog", "run_service", "stop_on_signals"]

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


@dataclass(frozen=True, slots=True)
class Stages:
    """Every stage of one worker, wired (see :func:`compose`)."""

    pipeline: Pipeline
    scoring: Scoring
    alerts: AlertService | None
    api: ApiRuntime | None
    kinds: KindBook
    pager: Pager | None
    relay: LiveRelay | None = None


def ingest_catalog(
    settings: Settings, pool: asyncpg.Pool, kinds: KindBook | None = None
) -> Catalog:
    """The worker's catalog: it registers new series (units from the sensor-kind
    registry), within ingest's limit."""
    limit = settings.ingest.max_new_series_per_factory_per_hour
    registry = (lambda: kinds.current) if kinds is not None else packaged
    return Catalog(pool, max_new_series_per_factory_per_hour=limit, registry=registry)


def compose(
    settings: Settings, pool: asyncpg.Pool, mode: StorageMode, kinds: KindBook | None = None
) -> Stages:
    """Build every stage of a worker over one catalog and wire them together; every stage
    reads the sensor kinds of ``kinds`` (loaded by the caller; default: a book of the
    packaged kinds)."""
    kinds = KindBook(pool) if kinds is None else kinds
    catalog = ingest_catalog(settings, pool, kinds)
    pipeline = Pipeline(settings, pool, mode, catalog, lambda: kinds.current)
    scoring = Scoring(settings, pool, catalog, kinds.current)
    kinds.add_listener(scoring.use_kinds)  # engine settings of kinds added later
    alerts = AlertService(settings, pool, catalog) if settings.alerts.enabled else None
    paging = alerts is not None and settings.paging.enabled
    # The pager's websocket channel, read by the API's /api/v1/paging/live.
    stream = PageStream(settings.paging.live_queue_pages) if paging else None
    # Workers sharing the stream relay their committed batches to each other's live hubs
    # (a payload is decoded once, by the worker that stores it: controlcenter.relay).
    relay = None
    if settings.mqtt.shared_group:
        relay = LiveRelay(settings, uuid.uuid4().hex[:12])
    api = None
    if settings.api.enabled:
        # A worker that shares the stream and publishes alerts takes every worker's
        # transitions from the broker; its routes do not act through its own service.
        from_broker = bool(settings.mqtt.shared_group) and settings.alerts.publish_mqtt
        connected = pipeline.consumer.connected
        api = ApiRuntime.in_process(
            settings,
            pool,
            catalog,
            connected,
            None if from_broker else alerts,
            kinds,
            stream,
            relay_origin=None if relay is None else relay.origin,
        )
        if api.sink is not None:
            # The live hub is the first sink: it never waits, so live feeds don't queue.
            pipeline.add_sink(api.sink)
        if alerts is not None and not api.takes_alerts_from_broker:
            alerts.add_listener(api.state.hub.publish_alert)  # to /api/v1/alerts/live
    if relay is not None:
        pipeline.add_sink(relay.offer)  # never waits either
    pipeline.add_sink(scoring.submit)
    pager = None
    if alerts is not None:
        scoring.add_listener(alerts.on_scored)
        if paging:
            pager = Pager(settings, pool, stream=stream)
            alerts.add_channel(pager.offer)  # after storm grouping: one page per event
    return Stages(pipeline, scoring, alerts, api, kinds, pager, relay)


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
        kinds = KindBook(pool, refresh_s=settings.kinds.refresh_interval_s)
        await kinds.load()  # the packaged kinds and their default rules, then the table
        stages = compose(settings, pool, mode, kinds)
        pipeline, scoring, alerts, api, pager = (
            stages.pipeline,
            stages.scoring,
            stages.alerts,
            stages.api,
            stages.pager,
        )
        # Every stage runs as run(stop) (controlcenter.stage); each downstream stage is
        # stopped once the stage feeding it has returned, i.e. handed on all it accepted.
        downstream: list[tuple[str, Stage]] = [("scoring", scoring)]
        if stages.relay is not None:
            downstream.insert(0, ("live-relay", stages.relay))
        if alerts is not None:
            downstream.append(("alerts", alerts))
        if pager is not None:
            downstream.append(("pager", pager))
        async with gc_policy(settings.runtime), asyncio.TaskGroup() as tg:
            stops = [asyncio.Event() for _ in downstream]
            tasks = [
                tg.create_task(stage.run(s), name=name)
                for (name, stage), s in zip(downstream, stops, strict=True)
            ]
            tg.create_task(kinds.run(stop), name="kinds-refresh")
            if settings.reports.schedule_enabled:
                tg.create_task(ReportScheduler(settings, pool).run(stop), name="reports")
            if api is not None:
                api.start(tg, stop)  # the hub's ticker and uvicorn; they end when stop is set
            # Returns after the drain: everything committed was handed to the sinks.
            await pipeline.run(stop, ready)
            for (name, _), s, task in zip(downstream, stops, tasks, strict=True):
                s.set()
                async with asyncio.timeout(_stop_bound_s(settings, name)):
                    await task


def _stop_bound_s(settings: Settings, stage: str) -> float:
    """How long a stopped downstream stage may take to return before the service gives up
    on it (and exits non-zero). A safety net only: each stage bounds its own drain, and
    this bound is above it. The alert service: its lifecycle drain, the backlog's record,
    then its notifiers' drain, each up to ``alerts.shutdown_timeout_s``."""
    bound = settings.ingest.shutdown_timeout_s
    if stage == "alerts":
        bound += 3 * settings.alerts.shutdown_timeout_s
    return bound

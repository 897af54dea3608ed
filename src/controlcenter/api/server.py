"""Running the API: uvicorn inside the service's TaskGroup, beside ingest or alone.

- In-process (``controlcenter serve``): the service's composer
  (``controlcenter.service.compose``) builds :meth:`ApiRuntime.in_process` from the
  worker's catalog, broker link and alert service, and hands :attr:`ApiRuntime.sink` (the
  live hub's input) to the pipeline; :meth:`ApiRuntime.start` adds the hub's ticker and
  the HTTP server to the service's TaskGroup.
- Replica (``controlcenter serve --api-only``): :func:`run_replica` needs no consumer: the
  hub is fed by the replica's own non-persistent MQTT subscription, and the catalog is
  read-only, reloaded every ``api.catalog_refresh_s``.

The server stops when ``stop`` is set. If it stops by itself (it could not bind, its
lifespan failed), :func:`serve` raises, the TaskGroup cancels its siblings and the process
exits non-zero: uvicorn alone would only log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
import uvicorn
from fastapi import FastAPI

from controlcenter.api._redact import RedactKeys
from controlcenter.api.app import create_app
from controlcenter.api.auth import ApiKeys
from controlcenter.api.live.feed import ReplicaFeed
from controlcenter.api.live.hub import LiveHub
from controlcenter.api.live.index import SeriesIndex
from controlcenter.api.state import ApiState
from controlcenter.config import Settings
from controlcenter.domain import Batch
from controlcenter.errors import ConfigError, ControlCenterError
from controlcenter.gcpolicy import gc_policy
from controlcenter.paging import PageStream
from controlcenter.stage import all_set
from controlcenter.store import Catalog, KindBook, migrate, open_pool

if TYPE_CHECKING:
    from controlcenter.alerts import AlertService

__all__ = ["ApiRuntime", "run_replica", "serve"]

logger = logging.getLogger(__name__)


#: uvicorn logs websocket paths (and, with an access log, HTTP ones) with their raw query.
_REDACT = RedactKeys()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the service owns SIGINT/SIGTERM), with an
    event set once it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


async def serve(
    app: FastAPI, settings: Settings, stop: asyncio.Event, started: asyncio.Event | None = None
) -> None:
    """Serve ``app`` until ``stop`` is set; ``started`` is set once it listens.

    Raises:
        ConfigError: the server could not start (e.g. the port is taken).
        ControlCenterError: the server stopped although ``stop`` was not set.
    """
    api = settings.api
    for name in ("uvicorn.error", "uvicorn.access"):
        uvicorn_log = logging.getLogger(name)
        if _REDACT not in uvicorn_log.filters:
            uvicorn_log.addFilter(_REDACT)
    config = uvicorn.Config(
        app,
        host=api.host,
        port=api.port,
        lifespan="on",
        log_config=None,
        access_log=False,
        ws_max_size=api.live_max_message_bytes,
        # Frames are small and shared by many clients; per-connection compression would
        # cost CPU per client and per frame.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=int(api.shutdown_timeout_s),
        # The client address (failure limits) comes from X-Forwarded-For only from these.
        proxy_headers=True,
        forwarded_allow_ips=api.forwarded_allow_ips,
    )
    server = _Server(config)

    async def watch() -> None:
        await server.listening.wait()  # cancelled below if the server ends first
        logger.info("API listening on http://%s:%d", api.host, _port(server, api.port))
        if started is not None:
            started.set()
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(watch())  # owned here: cancelled and awaited below
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits the process when it cannot start
        raise ConfigError(
            f"the API server could not start on {api.host}:{api.port} (is the port in use?"
            " choose another with --port N or CC_API__PORT=N)"
        ) from exc
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if not stop.is_set():
        raise ControlCenterError("the API server stopped unexpectedly")


def _port(server: uvicorn.Server, default: int) -> int:
    for s in server.servers:
        for sock in s.sockets or ():
            return int(sock.getsockname()[1])
    return default


@dataclass(slots=True)
class ApiRuntime:
    """The API's parts for one process: the state and the app built over it.

    ``feed`` is set when the hub takes its readings from the broker rather than from this
    process's pipeline (replicas, and workers that share the stream with others).
    """

    state: ApiState
    app: FastAPI
    feed: ReplicaFeed | None = None

    @classmethod
    def in_process(
        cls,
        settings: Settings,
        pool: asyncpg.Pool,
        catalog: Catalog,
        connected: asyncio.Event,
        alerts: AlertService | None = None,
        kinds: KindBook | None = None,
        pages: PageStream | None = None,
        relay_origin: str | None = None,
    ) -> ApiRuntime:
        """The API beside ingest, over the worker's ``catalog``; ``connected`` is the
        consumer's broker link, ``alerts`` the worker's alert service (if the routes act
        through it), ``pages`` the pager's page stream (``/api/v1/paging/live``). The
        caller feeds :attr:`sink` with every committed batch.

        A worker of a shared subscription (``mqtt.shared_group``) stores only its share of
        the stream, so its hub also takes the other workers' committed batches from the
        live relay (``relay_origin``: this worker's name there; see
        :mod:`controlcenter.relay`), and every worker's alert transitions from the broker.
        Without a relay it reads the gateways' topics as a replica does (:attr:`sink` is
        None then).
        """
        index = SeriesIndex(catalog)
        hub = LiveHub(settings.api, index)
        keys = ApiKeys(pool, settings=settings.api)
        book = KindBook(pool) if kinds is None else kinds
        state = ApiState(
            settings, pool, index, hub, keys, connected, alerts=alerts, kinds=book, pages=pages
        )
        feed = None
        if settings.mqtt.shared_group:
            feed = ReplicaFeed(
                settings, hub, catalog, lambda: state.kinds.current, relay_origin=relay_origin
            )
        return cls(state, create_app(state), feed)

    @property
    def sink(self) -> Callable[[Batch], Awaitable[None]] | None:
        """The live hub's input for committed batches; None when it reads the gateways'
        topics instead."""
        if self.feed is not None and not self.feed.relayed:
            return None
        return self.state.hub.on_batch

    @property
    def takes_alerts_from_broker(self) -> bool:
        """True when alert transitions reach the hub over MQTT (not from this process)."""
        return self.feed is not None and self.state.settings.alerts.publish_mqtt

    def start(
        self, tg: asyncio.TaskGroup, stop: asyncio.Event, started: asyncio.Event | None = None
    ) -> None:
        """Run the hub's ticker, the key re-check of open websockets, the hub's broker feed
        if any, and the server as tasks of ``tg``."""
        tg.create_task(self.state.hub.run(stop), name="live-hub")
        tg.create_task(self.state.sessions.run(stop), name="live-key-recheck")
        if self.feed is not None:
            tg.create_task(self.feed.run(stop), name="live-feed")
            tg.create_task(self.feed.refresh_catalog(stop), name="catalog-refresh")
        tg.create_task(serve(self.app, self.state.settings, stop, started), name="api")


async def run_replica(
    settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> None:
    """``serve --api-only``: the API alone, live feeds from the broker; until ``stop``.

    ``ready`` is set once the server listens and the MQTT feed is subscribed.
    """
    if settings.db.migrate_on_start:
        await migrate(settings)
    async with open_pool(settings) as pool:
        catalog = Catalog(pool)
        await catalog.load()
        index = SeriesIndex(catalog)
        hub = LiveHub(settings.api, index)
        kinds = KindBook(pool, refresh_s=settings.kinds.refresh_interval_s)
        await kinds.refresh()
        feed = ReplicaFeed(settings, hub, catalog, lambda: kinds.current)
        keys = ApiKeys(pool, settings=settings.api)
        state = ApiState(settings, pool, index, hub, keys, feed.connected, "replica", kinds=kinds)
        runtime = ApiRuntime(state, create_app(state))
        started = asyncio.Event()
        async with gc_policy(settings.runtime), asyncio.TaskGroup() as tg:
            tg.create_task(feed.run(stop), name="replica-feed")
            tg.create_task(feed.refresh_catalog(stop), name="catalog-refresh")
            tg.create_task(kinds.run(stop), name="kinds-refresh")
            runtime.start(tg, stop, started)
            if ready is not None:
                tg.create_task(_both(started, feed.connected, ready, stop))


async def _both(
    a: asyncio.Event, b: asyncio.Event, target: asyncio.Event, stop: asyncio.Event
) -> None:
    """Set ``target`` once ``a`` and ``b`` are set (unless ``stop`` comes first)."""
    if await all_set(stop, a, b):
        target.set()

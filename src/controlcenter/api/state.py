"""The API's typed state: what the lifespan yields to every request and websocket."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal, cast

import asyncpg
from fastapi import Depends
from starlette.requests import HTTPConnection

from controlcenter.api.auth import ApiKeys
from controlcenter.api.hub import LiveHub
from controlcenter.api.index import SeriesIndex
from controlcenter.api.sessions import Sessions
from controlcenter.config import ApiSettings, Settings
from controlcenter.store import KindBook

if TYPE_CHECKING:
    from controlcenter.alerts import AlertService
    from controlcenter.paging import PageStream

__all__ = ["ApiState", "State", "state_of"]


@dataclass(slots=True)
class ApiState:
    """Everything a route needs, built by the service and handed to ``create_app``.

    Attributes:
        settings: the service settings (``settings.api`` holds the API's limits).
        pool: the database pool.
        index: series selections over the catalog.
        hub: the live hub and latest-value cache.
        keys: API keys.
        broker_connected: set while the MQTT link that feeds the hub is up (the
            consumer's ``connected`` in-process; the replica's own feed otherwise).
        mode: ``in-process`` (beside ingest) or ``replica`` (``serve --api-only``).
        alerts: the worker's ``controlcenter.alerts.AlertService`` when it runs in this
            process (the alert routes act through it; replicas have none). The composer
            (``controlcenter.service.compose``) wires its transitions to
            ``/api/v1/alerts/live``.
        kinds: the sensor-kind registry's owner (the worker's in-process, so that a kind
            an admin adds is taken by ingest at once; a replica's own otherwise).
        pages: the worker's page stream (the pager's ``websocket`` channel) when the pager
            runs in this process; ``/api/v1/paging/live`` reads it (replicas have none).
        sessions: the open websockets by key (admission limits, revocation); built here
            from ``settings.api`` and ``keys``; its ``run`` belongs to the service's
            TaskGroup.
    """

    settings: Settings
    pool: asyncpg.Pool
    index: SeriesIndex
    hub: LiveHub
    keys: ApiKeys
    broker_connected: asyncio.Event
    mode: Literal["in-process", "replica"] = "in-process"
    alerts: AlertService | None = None
    kinds: KindBook = None  # type: ignore[assignment]  # built from the pool when not given
    pages: PageStream | None = None
    sessions: Sessions = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.settings.api, self.keys)
        if self.kinds is None:
            self.kinds = KindBook(self.pool)

    @property
    def api(self) -> ApiSettings:
        """The API's own settings."""
        return self.settings.api


def state_of(conn: HTTPConnection) -> ApiState:
    """The state the lifespan yielded (``{"cc": ApiState}``)."""
    return cast(ApiState, conn.state.cc)


#: A route parameter that receives the ApiState.
State = Annotated[ApiState, Depends(state_of)]

"""The operators' API: REST queries, live websocket feeds, API keys and metrics.

Three parts: ``routes/`` (one router module per resource, :data:`routes.ROUTERS`), ``live/``
(the live stage: hub, series index, broker feed), and the server plumbing here (``app``,
``server``, ``state``, ``deps``, ``handlers``, ``auth``, ``models``). Other packages (the
dashboard in ``web``) use the names below.
"""

from controlcenter.api.app import create_app
from controlcenter.api.auth import ApiKeys, Principal, Role, authenticate_request, require_role
from controlcenter.api.deps import ERRORS
from controlcenter.api.live import (
    TOO_SLOW,
    AlertClient,
    LiveClient,
    LiveHub,
    ReplicaFeed,
    Selection,
    SeriesIndex,
)
from controlcenter.api.server import ApiRuntime, run_replica, serve
from controlcenter.api.state import ApiState, State, state_of

__all__ = [
    "ERRORS",
    "TOO_SLOW",
    "AlertClient",
    "ApiKeys",
    "ApiRuntime",
    "ApiState",
    "LiveClient",
    "LiveHub",
    "Principal",
    "ReplicaFeed",
    "Role",
    "Selection",
    "SeriesIndex",
    "State",
    "authenticate_request",
    "create_app",
    "require_role",
    "run_replica",
    "serve",
    "state_of",
]

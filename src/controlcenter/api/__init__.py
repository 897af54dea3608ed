"""The operators' API: REST queries, live websocket feeds, API keys and metrics."""

from controlcenter.api.app import create_app
from controlcenter.api.auth import ApiKeys, Principal, Role, authenticate_request, require_role
from controlcenter.api.feed import ReplicaFeed
from controlcenter.api.hub import TOO_SLOW, AlertClient, LiveClient, LiveHub
from controlcenter.api.index import Selection, SeriesIndex
from controlcenter.api.server import ApiRuntime, run_replica, serve
from controlcenter.api.state import ApiState, State, state_of

__all__ = [
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

"""The operators' API: REST queries, live websocket feeds, API keys and metrics."""

from controlcenter.api.auth import ApiKeys, Principal, Role, authenticate_request, require_role

__all__ = [
    "ApiKeys",
    "Principal",
    "Role",
    "authenticate_request",
    "require_role",
]

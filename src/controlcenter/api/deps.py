"""The route dependencies, defined once: role aliases, the factory scope and the documented
error answers.

Every router takes its caller as one of the role aliases (``Viewer``, ``Operator``,
``Maintenance``, ``Admin``: authenticated, with at least that role) and, where it filters
by factory, the narrowed scope (``Scope``): the ``site``/``factory`` query parameters,
replaced by the key's own factory for a factory-scoped key, and 403 when they name
another one.
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

from fastapi import Depends, HTTPException, Query, status

from controlcenter.api.auth import Principal, Role, authenticate_request, require_role
from controlcenter.api.models import Problem

__all__ = [
    "CODE",
    "ERRORS",
    "Admin",
    "Code",
    "FactoryScope",
    "Maintenance",
    "Operator",
    "Scope",
    "Viewer",
    "factory_scope",
    "narrow",
    "problems",
]

Viewer = Annotated[Principal, Depends(require_role(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
Maintenance = Annotated[Principal, Depends(require_role(Role.MAINTENANCE))]
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]

#: A site, factory or sensor code.
CODE = r"^[A-Za-z0-9_.\-]{1,64}$"
#: An optional code as a query parameter.
Code = Annotated[str | None, Query(pattern=CODE, examples=["namdong"])]

#: The error answers every /api/v1 route documents (all shaped ``{"detail": ...}``).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "well-formed values contradict each other or the data"},
    401: {"description": "no valid API key"},
    403: {"description": "the key's role or factory scope does not allow it"},
    404: {"description": "nothing matches"},
    413: {"description": "the request body is too large"},
    422: {"description": "a parameter or the body breaks its schema"},
    429: {
        "description": "too many failed authentications from this address or for this key id",
        "headers": {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        },
    },
    503: {"description": "the database is unavailable"},
    504: {"description": "the query took too long"},
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route whose errors ``codes`` carry the Problem body.

    >>> sorted(problems(401, 403))
    [401, 403]
    """
    return {c: {"model": Problem} for c in codes}


class FactoryScope(NamedTuple):
    """The (site, factory) filters a caller may use; None: any."""

    site: str | None
    factory: str | None


def narrow(who: Principal, site: str | None = None, factory: str | None = None) -> FactoryScope:
    """The filters narrowed to the key's factory; 403 when they name another one.

    >>> narrow(Principal("k", "", Role.VIEWER, "s1", "f1"))
    FactoryScope(site='s1', factory='f1')
    >>> narrow(Principal("k", "", Role.ADMIN), "s1")
    FactoryScope(site='s1', factory=None)
    """
    if who.factory is None:
        return FactoryScope(site, factory)
    if who.outside(site, factory):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this key is scoped to another factory")
    return FactoryScope(who.site, who.factory)


async def factory_scope(
    who: Annotated[Principal, Depends(authenticate_request)],
    site: Code = None,
    factory: Code = None,
) -> FactoryScope:
    """The ``site``/``factory`` query parameters narrowed to the caller's scope."""
    return narrow(who, site, factory)


#: A route parameter that receives the narrowed (site, factory).
Scope = Annotated[FactoryScope, Depends(factory_scope)]

"""One value per scalar query parameter: ``?site=a&site=b`` is a 422, not ``b``.

Starlette keeps every repetition of a query parameter and FastAPI silently takes the last
one for a parameter that is not a list, so a request the schema forbids (an array where it
says a string) would be answered as if it were valid. :func:`single_query_values`, an
app-wide dependency, refuses a repeated scalar parameter with the same 422 as any other
schema violation (list parameters such as ``id`` or ``kind`` may repeat).
"""

from __future__ import annotations

from typing import Any

from fastapi._compat import field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import HTTPConnection

__all__ = ["single_query_values"]

_SCALARS: dict[int, frozenset[str]] = {}


def _scalar_query_names(dependant: Dependant) -> frozenset[str]:
    names: set[str] = set()
    stack = [dependant]
    while stack:
        d = stack.pop()
        stack.extend(d.dependencies)
        for field in d.query_params:
            if not field_annotation_is_sequence(field.field_info.annotation):
                names.add(field.alias)
    return frozenset(names)


async def single_query_values(conn: HTTPConnection) -> None:
    """422 when a scalar query parameter of the route is given more than once."""
    route = conn.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    names = _SCALARS.get(id(route))
    if names is None:
        names = _SCALARS[id(route)] = _scalar_query_names(route.dependant)
    errors: list[dict[str, Any]] = [
        {"type": "too_many", "loc": ("query", name), "msg": "given more than once", "input": None}
        for name in sorted(names)
        if len(conn.query_params.getlist(name)) > 1
    ]
    if errors:
        raise RequestValidationError(errors)

"""Operations: ``/metrics``, ``/health``, ``/ready``, and the HTTP middlewares.

- :class:`TimingMiddleware` observes every request's latency by method, route template
  (never the raw path: bounded labels) and status class.
- :class:`BodyLimitMiddleware` answers 413 to a request body over
  ``api.max_request_body_bytes`` (or the larger limit of a path it lists, such as the
  site-plan upload's), whether it declares its length or streams it.

``/metrics``, ``/health`` and ``/ready`` need no key (for Prometheus and load balancers);
expose them on an internal network only.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import asyncpg
import orjson
from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlcenter.api.state import State
from controlcenter.metrics import API_HTTP_SECONDS

__all__ = ["BodyLimitMiddleware", "TimingMiddleware", "router"]

router = APIRouter(tags=["operations"])
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
async def metrics() -> Response:
    """Every controlcenter metric in the Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: database and broker reachable",
    responses={503: {"description": "the database or the broker is not reachable"}},
)
async def ready(state: State) -> Response:
    """200 when the database answers and the MQTT link that feeds the live hub is up."""
    checks: dict[str, Any] = {"mode": state.mode}
    try:
        async with asyncio.timeout(state.api.ready_timeout_s):
            await state.pool.fetchval("SELECT 1")
        checks["database"] = "ok"
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    checks["broker"] = "ok" if state.broker_connected.is_set() else "disconnected"
    ok = checks["database"] == "ok" and checks["broker"] == "ok"
    return Response(
        orjson.dumps({"status": "ready" if ok else "not ready", **checks}),
        status_code=200 if ok else 503,
        media_type="application/json",
    )


class TimingMiddleware:
    """Observe HTTP latency by method, route template and status class."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            API_HTTP_SECONDS.labels(method, route, f"{status // 100}xx").observe(
                time.perf_counter() - started
            )


class _TooLargeError(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, wider: tuple[tuple[str, int], ...] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # (path regex, limit): bodies of those paths may reach their own limit.
        self.wider = tuple((re.compile(p), n) for p, n in wider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        max_bytes = next((n for p, n in self.wider if p.fullmatch(path)), self.max_bytes)
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > max_bytes):
                await self._refuse(send, max_bytes)
                return
        seen = 0
        started = refused = False

        async def limited() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    # Answer now: the app may catch the error below and try its own answer,
                    # which track() then drops.
                    if not started and not refused:
                        refused = True
                        await self._refuse(send, max_bytes)
                    raise _TooLargeError
            return message

        async def track(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_TooLargeError):
            await self.app(scope, limited, track)

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        body = orjson.dumps({"detail": f"request body over {max_bytes} bytes"})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

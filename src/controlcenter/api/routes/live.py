"""Live websocket feeds: ``/api/v1/live`` (readings) and ``/api/v1/alerts/live``.

Protocol of ``/api/v1/live`` (JSON text frames):

1. Authenticate: ``?key=<api key>`` in the URL, an ``X-API-Key`` header, or, as the first
   message within ``live_auth_timeout_s`` (10 s), ``{"type": "auth", "key": "<api key>"}``.
   A bad key closes with 4401 (4429 after too many failed attempts, the reason says when
   to retry); no first message in time closes with 4408, which says nothing about the key:
   a busy server or page is not a bad key, and a client that signed out on it would sign
   an operator out because the server was slow. A selection of another factory by a
   factory-scoped key closes with 4403. A socket whose key is revoked
   or changed later is closed with 4401 within ``live_key_recheck_s``; beyond
   ``live_max_clients`` sockets, or ``live_max_clients_per_key`` for one key (``/live``
   and ``/alerts/live`` together), a new one is closed with 1013.
2. Subscribe at any time (a new subscription replaces the previous one):
   ``{"type": "subscribe", "site": "namdong", "factory": "f001", "kind": "air",
   "sensor": "aq1", "metric": "pm25", "series": [17, 18], "max_rate_hz": 1}``; every field
   is optional (all given filters must match; ``max_rate_hz`` caps frames, so updates per
   series, below the server's 10/s). Answer: ``{"type": "subscribed", "count": n,
   "series": [ids], "interval_s": s}``, then a first frame with the latest value of every
   series already known (a snapshot, marked ``"snapshot": true``: its values may be old),
   then frames of what changed.
3. Frames: ``{"type": "readings", "series": [ids], "time_us": [µs since epoch],
   "value": [..]}`` with the latest value per changed series (coalesced). Names of the
   series: ``GET /api/v1/series?id=..``.
4. ``{"type": "heartbeat"}`` every ``live_heartbeat_s`` without other traffic; the
   client may send ``{"type": "ping"}`` (answer ``{"type": "pong"}``).
5. Errors in a message answer ``{"type": "error", "detail": ...}`` and keep the connection.
   A client that stays behind for ``live_slow_client_timeout_s`` is closed with 4008
   ("too slow"). On reconnect, subscribe again: the snapshot restores the latest view.

``/api/v1/alerts/live?site=..&factory=..``: the same authentication; frames are
``{"type": "alert", "alert": {...}}`` transitions, plus heartbeats.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ConfigDict, Field, ValidationError
from starlette.exceptions import WebSocketException

from controlcenter.api.auth import Denied, Principal, client_address
from controlcenter.api.live.hub import TOO_SLOW, AlertClient, LiveClient
from controlcenter.api.live.index import Selection
from controlcenter.api.routes.readings import validation_errors
from controlcenter.api.state import ApiState, state_of
from controlcenter.errors import StorageError
from controlcenter.metrics import API_LIVE_DROPS

__all__ = [
    "AUTH_TIMEOUT",
    "FORBIDDEN",
    "TRY_LATER",
    "SubscribeMessage",
    "close_socket",
    "open_socket",
    "router",
    "serve_socket",
]

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["live"])

UNAUTHORIZED, FORBIDDEN, TRY_LATER, TOO_MANY_FAILURES = 4401, 4403, 1013, 4429
#: No key within ``live_auth_timeout_s``: not a verdict on the key (connect again).
AUTH_TIMEOUT = 4408
_HEARTBEAT = orjson.dumps({"type": "heartbeat"}).decode()
_PONG = orjson.dumps({"type": "pong"}).decode()


class SubscribeMessage(Selection):
    """``{"type": "subscribe", ...selection, "max_rate_hz": optional}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(pattern="^subscribe$")
    max_rate_hz: float | None = Field(None, gt=0, le=1_000)


def _error(detail: Any) -> str:
    return orjson.dumps({"type": "error", "detail": detail}).decode()


async def _receive_json(ws: WebSocket, state: ApiState) -> dict[str, Any] | None:
    """The next message as a JSON object; None (after an error frame) when it is not one."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    raw = message.get("text") or message.get("bytes") or b""
    if len(raw) > state.api.live_max_message_bytes:
        raise WebSocketException(1009, "message too big")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


async def _authenticate(ws: WebSocket, state: ApiState) -> Principal:
    key = (
        ws.query_params.get("key")
        or ws.headers.get("x-api-key")
        or ws.headers.get("authorization", "").removeprefix("Bearer ").strip()
        or None
    )
    if key is None:
        try:
            async with asyncio.timeout(state.api.live_auth_timeout_s):
                doc = await _receive_json(ws, state)
        except TimeoutError:
            raise WebSocketException(AUTH_TIMEOUT, "no key in time; connect again") from None
        if doc is None or doc.get("type") != "auth" or not isinstance(doc.get("key"), str):
            raise WebSocketException(
                UNAUTHORIZED, 'first message must be {"type": "auth", "key": ...}'
            )
        key = doc["key"]
    try:
        who = await state.keys.authenticate(key, client_address(ws))
    except StorageError:
        raise WebSocketException(TRY_LATER, "the database is unavailable") from None
    if isinstance(who, Denied):
        code = UNAUTHORIZED if who.retry_after_s is None else TOO_MANY_FAILURES
        raise WebSocketException(code, who.reason)
    return who


async def _open(ws: WebSocket, state: ApiState) -> Principal | None:
    """Accept and authenticate; None when the socket was closed (refused) or is gone."""
    await ws.accept()
    try:
        return await _authenticate(ws, state)
    except WebSocketException as exc:
        await _close(ws, exc.code, exc.reason or "")
    except WebSocketDisconnect:
        pass
    return None


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    try:
        async with asyncio.timeout(2):
            await ws.close(code, reason)
    except (TimeoutError, RuntimeError, OSError, WebSocketDisconnect):
        pass  # the peer is gone already


async def _send_loop(ws: WebSocket, client: LiveClient | AlertClient, state: ApiState) -> None:
    """The connection's only writer: queued frames, heartbeats, and the close when kicked."""
    api = state.api
    while True:
        if client.close_code is not None:
            raise WebSocketException(client.close_code, client.close_reason)
        if not client.frames:
            client.wakeup.clear()
            try:
                async with asyncio.timeout(api.live_heartbeat_s):
                    await client.wakeup.wait()
            except TimeoutError:
                client.frames.append(_HEARTBEAT)
            continue
        text = client.frames.popleft()
        try:
            async with asyncio.timeout(api.live_send_timeout_s):
                await ws.send_text(text)
        except TimeoutError:
            API_LIVE_DROPS.labels("too_slow").inc()
            raise WebSocketException(TOO_SLOW, "too slow") from None


async def _live_receive(ws: WebSocket, client: LiveClient, state: ApiState) -> None:
    hub = state.hub
    while True:
        doc = await _receive_json(ws, state)
        kind = doc.get("type") if doc else None
        if kind == "ping":
            client.push(_PONG)
        elif kind == "subscribe":
            try:
                msg = SubscribeMessage.model_validate(doc)
            except ValidationError as exc:
                client.push(_error(validation_errors(exc)))
                continue
            sel = Selection.model_validate(msg.model_dump(exclude={"type", "max_rate_hz"}))
            scoped = sel.within(client.who)
            if scoped is None:
                raise WebSocketException(FORBIDDEN, "this key is scoped to another factory")
            ids = hub.subscribe(client, scoped, msg.max_rate_hz)
            group = client.group
            interval = group.interval_s if group is not None else None
            ack = {"type": "subscribed", "count": int(ids.size), "series": ids}
            ack["interval_s"] = interval
            client.push(orjson.dumps(ack, option=orjson.OPT_SERIALIZE_NUMPY).decode())
        elif kind == "unsubscribe":
            hub.unsubscribe(client)
            client.push(orjson.dumps({"type": "unsubscribed"}).decode())
        else:
            client.push(_error('expected {"type": "subscribe" | "unsubscribe" | "ping"}'))


async def _serve(ws: WebSocket, state: ApiState, client: LiveClient | AlertClient) -> None:
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_send_loop(ws, client, state))
            if isinstance(client, LiveClient):
                tg.create_task(_live_receive(ws, client, state))
            else:
                tg.create_task(_alerts_receive(ws, client, state))
    except* WebSocketDisconnect:
        pass
    except* WebSocketException as group:
        exc = group.exceptions[0]
        if isinstance(exc, WebSocketException):
            await _close(ws, exc.code, exc.reason or "")


@router.websocket("/live")
async def live(ws: WebSocket) -> None:
    """Live readings (see the module documentation for the protocol)."""
    state = state_of(ws)
    who = await _open(ws, state)
    if who is None:
        return
    hub = state.hub
    client = hub.connect(who)
    try:
        refused = state.sessions.admit(client)
        if refused is not None:
            await _close(ws, TRY_LATER, refused)
            return
        await _serve(ws, state, client)
    finally:
        state.sessions.release(client)
        hub.disconnect(client)


async def _alerts_receive(ws: WebSocket, client: AlertClient, state: ApiState) -> None:
    while True:
        doc = await _receive_json(ws, state)
        if doc is not None and doc.get("type") == "ping":
            client.frames.append(_PONG)
            client.wakeup.set()


@router.websocket("/alerts/live")
async def alerts_live(ws: WebSocket) -> None:
    """Alert transitions as they happen (optionally ``?site=..&factory=..``)."""
    state = state_of(ws)
    who = await _open(ws, state)
    if who is None:
        return
    site, factory = ws.query_params.get("site"), ws.query_params.get("factory")
    if who.outside(site or None, factory or None):  # an empty parameter: its own
        await _close(ws, FORBIDDEN, "this key is scoped to another factory")
        return
    client = AlertClient(who, site, factory)
    refused = state.sessions.admit(client)
    if refused is not None:
        await _close(ws, TRY_LATER, refused)
        return
    state.hub.connect_alerts(client)
    try:
        await _serve(ws, state, client)
    finally:
        state.hub.disconnect_alerts(client)
        state.sessions.release(client)


#: The socket steps other websocket routes share (``/api/v1/paging/live``).
open_socket = _open
close_socket = _close
serve_socket = _serve

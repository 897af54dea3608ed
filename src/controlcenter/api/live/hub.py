"""The live hub: the latest-value cache and the fan-out of coalesced frames to websockets.

Fed with every committed batch (``pipeline.add_sink(hub.on_batch)``, or a replica's own
MQTT feed). :meth:`LiveHub.on_batch` does vectorised numpy work only and never awaits: it
updates the latest value per series and stamps the series with the open *tick*.

:meth:`LiveHub.run` passes over the subscription groups when a batch arrives (and every
quarter frame interval). Clients with the same subscription form a group; a group that has
news and has not sent for ``live_frame_interval_s`` encodes one frame with the latest
value of each of its series that changed since its previous frame, once (orjson), and
hands the same text to each member: at most one frame per interval per client, sent as
soon as the data is committed when the client has been quiet. Queues and their full-queue policy:

- per client: at most ``live_queue_frames`` frames. When it is full the client gets
  nothing more for now; it is *behind*. As soon as it has room it gets one personal frame
  with the latest value of every series that changed since its last frame (coalesced:
  nothing is lost from its latest view). A client behind for longer than
  ``live_slow_client_timeout_s`` is closed with code 4008 ("too slow") and counted.
- alert clients: at most ``alert_queue_size`` transitions; transitions are not coalesced,
  so a full queue closes the client with 4008.

Ingest and fast clients never wait for a slow one: nothing here awaits a client.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from controlcenter.api.auth import Principal
from controlcenter.api.live.index import Selection, SeriesIndex
from controlcenter.config import ApiSettings
from controlcenter.domain import Batch
from controlcenter.metrics import (
    API_LIVE_CLIENTS,
    API_LIVE_DROPS,
    API_LIVE_FRAMES,
)

__all__ = ["TOO_SLOW", "AlertClient", "LiveClient", "LiveHub"]

logger = logging.getLogger(__name__)

#: Websocket close code of a client that stayed behind.
TOO_SLOW = 4008
_NEVER = np.iinfo(np.int64).min
_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_SHARED = API_LIVE_FRAMES.labels("shared")
_CATCH_UP = API_LIVE_FRAMES.labels("catch_up")


@dataclass(eq=False, slots=True)
class LiveClient:
    """One websocket's side of the hub: its frames and why it must close, if it must."""

    who: Principal
    frames: collections.deque[str] = field(default_factory=collections.deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    group: _Group | None = None
    seq: int = -1  # the tick up to which this client has been sent everything
    behind_since: float | None = None
    close_code: int | None = None
    close_reason: str = ""

    def push(self, text: str) -> None:
        """Queue a frame or a control message (the caller checks the bound)."""
        self.frames.append(text)
        self.wakeup.set()

    def kick(self, code: int, reason: str) -> None:
        """Ask the connection to close with ``code``."""
        self.close_code, self.close_reason = code, reason
        self.wakeup.set()


@dataclass(eq=False, slots=True)
class AlertClient:
    """One alerts websocket: a bounded queue of encoded transitions."""

    who: Principal
    site: str | None = None
    factory: str | None = None
    frames: collections.deque[str] = field(default_factory=collections.deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    close_reason: str = ""

    def kick(self, code: int, reason: str) -> None:
        """Ask the connection to close with ``code``."""
        self.close_code, self.close_reason = code, reason
        self.wakeup.set()


@dataclass(eq=False, slots=True)
class _Group:
    key: tuple[Selection, float]
    selection: Selection
    interval_s: float
    ids: npt.NDArray[np.int32]
    version: int
    last_tick: int
    due: float = 0.0
    lagging: bool = True  # some member is new or behind: it needs a personal frame
    members: set[LiveClient] = field(default_factory=set)


class LiveHub:
    """Latest values per series and the live fan-out.

    >>> from controlcenter.store import Catalog
    >>> hub = LiveHub(ApiSettings(), SeriesIndex(Catalog(None)))  # type: ignore[arg-type]
    >>> hub.update(Batch.from_lists([2, 2, 0], [5, 9, 7], [1.0, 3.0, 4.0]))
    >>> known, t, v = hub.latest(np.array([0, 1, 2], np.int32))
    >>> known.tolist(), t[known].tolist(), v[known].tolist()
    ([True, False, True], [7, 9], [4.0, 3.0])
    """

    def __init__(self, settings: ApiSettings, index: SeriesIndex) -> None:
        self.settings = settings
        self.index = index
        self._time = np.full(0, _NEVER, np.int64)
        self._value = np.full(0, np.nan, np.float64)
        self._changed = np.full(0, -1, np.int64)
        self._tick = 0
        self._updated_tick = -1
        self._wake = asyncio.Event()
        self._groups: dict[tuple[Selection, float], _Group] = {}
        self._alert_clients: set[AlertClient] = set()
        self.clients = 0

    # -- intake ---------------------------------------------------------------------------

    async def on_batch(self, batch: Batch) -> None:
        """A pipeline sink: :meth:`update` (never waits)."""
        self.update(batch)

    def update(self, batch: Batch) -> None:
        """Keep the newest reading per series and stamp changed series with the open tick."""
        n = len(batch)
        if n == 0:
            return
        s, t, v = batch.series, batch.time, batch.value
        top = int(s.max())
        self._grow(top + 1)
        self.index.sync(top)
        if n > 1:
            if not batch.by_series:  # a committed batch is sorted already
                order = np.lexsort((t, s))
                s, t, v = s[order], t[order], v[order]
            last = np.ones(n, np.bool_)
            last[:-1] = s[1:] != s[:-1]
            s, t, v = s[last], t[last], v[last]
        newer = t >= self._time[s]
        if not newer.all():
            s, t, v = s[newer], t[newer], v[newer]
        self._time[s] = t
        self._value[s] = v
        self._changed[s] = self._tick
        self._updated_tick = self._tick
        self._wake.set()

    def latest(
        self, ids: npt.NDArray[np.int32]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """(known, time µs, value) per id; unknown ids are for the database to answer."""
        inside = ids < len(self._time)
        safe = np.where(inside, ids, 0)
        t = np.where(inside, self._time[safe] if len(self._time) else _NEVER, _NEVER)
        v = np.where(inside, self._value[safe] if len(self._value) else np.nan, np.nan)
        return t != _NEVER, t, v

    def publish_alert(self, transition: Mapping[str, Any]) -> None:
        """Send an alert transition to the alert clients that may see it (never waits).

        ``transition`` is JSON-serialisable; its ``site`` and ``factory`` keys (or those of
        its ``alert`` object) decide which factory-scoped clients receive it.
        """
        inner = transition.get("alert")
        where = inner if isinstance(inner, Mapping) and "site" in inner else transition
        site, factory = where.get("site"), where.get("factory")
        text: str | None = None
        for client in list(self._alert_clients):
            if client.close_code is not None:
                continue
            if client.who.factory is not None and (
                site != client.who.site or factory != client.who.factory
            ):
                continue
            if (client.site is not None and site != client.site) or (
                client.factory is not None and factory != client.factory
            ):
                continue
            if len(client.frames) >= self.settings.alert_queue_size:
                API_LIVE_DROPS.labels("alerts_too_slow").inc()
                client.close_code, client.close_reason = TOO_SLOW, "too slow"
                client.wakeup.set()
                continue
            if text is None:
                doc = (
                    transition
                    if transition.get("type") == "alert"
                    else {
                        "type": "alert",
                        "alert": transition,
                    }
                )
                text = orjson.dumps(doc).decode()
            client.frames.append(text)
            client.wakeup.set()

    # -- clients --------------------------------------------------------------------------

    def connect(self, who: Principal) -> LiveClient:
        """Register a live client (no subscription yet)."""
        self.clients += 1
        API_LIVE_CLIENTS.labels("live").inc()
        return LiveClient(who)

    def subscribe(
        self, client: LiveClient, selection: Selection, max_rate_hz: float | None
    ) -> npt.NDArray[np.int32]:
        """(Re)subscribe: the client's next frame holds the latest value of every series."""
        self._leave(client)
        interval = self.settings.live_frame_interval_s
        if max_rate_hz:
            interval = max(interval, 1.0 / max_rate_hz)
        key = (selection, interval)
        group = self._groups.get(key)
        if group is None:
            self.index.sync()
            group = _Group(
                key,
                selection,
                interval,
                self.index.select(selection),
                self.index.version,
                self._tick - 1,
            )
            self._groups[key] = group
        group.members.add(client)
        group.lagging = True
        client.group, client.seq, client.behind_since = group, -1, None
        return group.ids

    def unsubscribe(self, client: LiveClient) -> None:
        """Stop sending readings to ``client`` (it stays connected)."""
        self._leave(client)

    def disconnect(self, client: LiveClient) -> None:
        """Forget a live client."""
        self._leave(client)
        self.clients -= 1
        API_LIVE_CLIENTS.labels("live").dec()

    def connect_alerts(self, client: AlertClient) -> None:
        """Register an alerts client."""
        self._alert_clients.add(client)
        API_LIVE_CLIENTS.labels("alerts").inc()

    def disconnect_alerts(self, client: AlertClient) -> None:
        """Forget an alerts client."""
        self._alert_clients.discard(client)
        API_LIVE_CLIENTS.labels("alerts").dec()

    def _leave(self, client: LiveClient) -> None:
        group = client.group
        if group is not None:
            group.members.discard(client)
            if not group.members:
                del self._groups[group.key]
            client.group = None

    # -- ticker ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Pass over the groups when a batch arrives, or every quarter frame interval, until
        ``stop`` is set. A group that has not sent for a frame interval sends at once."""
        loop = asyncio.get_running_loop()
        resolution = self.settings.live_frame_interval_s / 4
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(resolution):
                    await self._wake.wait()
            self._wake.clear()
            self.tick(loop.time())

    def tick(self, now: float) -> None:
        """Close the open tick: due groups with news send a frame; lagging clients catch up
        or, behind for too long, are dropped."""
        tick = self._tick
        self._tick += 1
        fresh = self._updated_tick
        for group in list(self._groups.values()):
            if now < group.due or (group.last_tick >= fresh and not group.lagging):
                continue  # sent less than an interval ago, or nothing new for anyone
            self._flush(group, tick, now)

    def _flush(self, group: _Group, tick: int, now: float) -> None:
        if group.version != self.index.version:
            group.ids = self.index.select(group.selection)
            group.version = self.index.version
        ids = group.ids
        prev = group.last_tick
        group.last_tick = tick
        shared = self._frame(self._changed_since(ids, prev))  # encoded once for the group
        bound = self.settings.live_queue_frames
        sent = lagging = False
        for client in list(group.members):
            if client.close_code is not None:
                continue
            if len(client.frames) >= bound:
                self._behind(client, now)
                lagging = True
                continue
            client.behind_since = None
            if client.seq == prev:
                frame = shared
                _SHARED.inc(bool(frame))
            else:  # new (the snapshot) or back from behind: its own frame
                frame = self._frame(self._changed_since(ids, client.seq), client.seq < 0)
                _CATCH_UP.inc(bool(frame))
            if frame:
                client.push(frame)
                sent = True
            client.seq = tick
        group.lagging = lagging
        if sent:  # the rate limit: at most one frame per interval per client
            group.due = now + group.interval_s - 1e-3

    def _behind(self, client: LiveClient, now: float) -> None:
        if client.behind_since is None:
            client.behind_since = now
            API_LIVE_DROPS.labels("coalesced").inc()
        elif now - client.behind_since > self.settings.live_slow_client_timeout_s:
            API_LIVE_DROPS.labels("too_slow").inc()
            logger.info("closing a live client that stayed behind (key %s)", client.who.key_id)
            client.kick(TOO_SLOW, "too slow")

    def _changed_since(self, ids: npt.NDArray[np.int32], seq: int) -> npt.NDArray[np.int32]:
        ids = ids[ids < len(self._changed)]
        return ids[self._changed[ids] > seq]

    def _frame(self, ids: npt.NDArray[np.int32], snapshot: bool = False) -> str:
        if ids.size == 0:
            return ""
        doc: dict[str, Any] = {
            "type": "readings",
            "series": ids,
            "time_us": self._time[ids],
            "value": self._value[ids],
        }
        if snapshot:  # the latest view after (re)subscribing: values may be old
            doc["snapshot"] = True
        return orjson.dumps(doc, option=_NUMPY).decode()

    def _grow(self, n: int) -> None:
        if n <= len(self._time):
            return
        cap = max(n, 2 * len(self._time), 1024)
        for name, fill in (("_time", _NEVER), ("_value", np.nan), ("_changed", -1)):
            old = getattr(self, name)
            new = np.full(cap, fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

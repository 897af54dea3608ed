"""The open websockets of this process (``/live`` and ``/alerts/live``), by API key.

- **Admission**: at most ``api.live_max_clients`` websockets in all and
  ``api.live_max_clients_per_key`` per key, both kinds counted; beyond either the new
  socket is closed with 1013 (try again later).
- **Revocation**: a key is checked when a socket opens, and a socket lives long after.
  :meth:`Sessions.run` re-reads the keys of every open socket every
  ``api.live_key_recheck_s`` in one query (``key_id = ANY(...)``) and closes with 4401 the
  sockets of a key that was revoked, or whose role or factory scope changed: whether that
  happened through this process, another replica, the CLI or plain SQL. One indexed query
  per interval per process, whatever the number of sockets, and nothing to set up. (The
  alternative, PostgreSQL LISTEN/NOTIFY, would need a trigger migration, a dedicated
  connection kept alive and re-listened after every outage, and would still miss a change
  made while that connection was down; polling is simpler and cannot miss.) A revocation
  through this process's ``DELETE /keys/{id}`` closes the sockets at once
  (:meth:`Sessions.close_key`).

A database error during a re-check closes nothing (an outage must not drop every
dashboard); the next pass tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from controlcenter.api.auth import ApiKeys, Principal
from controlcenter.api.live.hub import AlertClient, LiveClient
from controlcenter.config import ApiSettings
from controlcenter.errors import StorageError

__all__ = ["KEY_GONE", "Sessions"]

logger = logging.getLogger(__name__)

#: Close code of a socket whose key was revoked or changed (as for a bad key).
KEY_GONE = 4401
Client = LiveClient | AlertClient


class Sessions:
    """Open websockets by key: admission limits and revocation (see the module docs).

    >>> s = Sessions(ApiSettings(live_max_clients_per_key=1), None)  # type: ignore[arg-type]
    >>> a = AlertClient(Principal("k1", "", 1))  # type: ignore[arg-type]
    >>> s.admit(a), s.admit(AlertClient(a.who)), len(s)
    (None, 'too many websockets for this API key', 1)
    """

    def __init__(self, api: ApiSettings, keys: ApiKeys) -> None:
        self._api = api
        self._keys = keys
        self._by_key: dict[str, set[Client]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def admit(self, client: Client) -> str | None:
        """Register ``client``; or the reason it may not open (then it is not registered)."""
        if self._count >= self._api.live_max_clients:
            return "too many live clients"
        mine = self._by_key.setdefault(client.who.key_id, set())
        if len(mine) >= self._api.live_max_clients_per_key:
            return "too many websockets for this API key"
        mine.add(client)
        self._count += 1
        return None

    def release(self, client: Client) -> None:
        """Forget ``client`` (its socket closed)."""
        mine = self._by_key.get(client.who.key_id)
        if mine is None or client not in mine:
            return
        mine.discard(client)
        self._count -= 1
        if not mine:
            del self._by_key[client.who.key_id]

    def close_key(self, key_id: str, reason: str) -> int:
        """Close every socket of ``key_id`` with :data:`KEY_GONE`; how many."""
        self._keys.forget(key_id)
        clients = self._by_key.get(key_id, set())
        for client in clients:
            client.kick(KEY_GONE, reason)
        return len(clients)

    async def recheck(self) -> int:
        """One pass: close the sockets of keys revoked or changed; how many were closed.

        Raises:
            StorageError: when the database fails (nothing is closed).
        """
        if not self._by_key:
            return 0
        asked = list(self._by_key)
        active = await self._keys.active(asked)
        closed = 0
        # Only the keys asked about: a socket that opened during the query is not revoked.
        for key_id in asked:
            clients = self._by_key.get(key_id)
            if not clients:
                continue
            now: Principal | None = active.get(key_id)
            if now is None:
                closed += self.close_key(key_id, "API key revoked")
            elif any(_changed(c.who, now) for c in clients):
                closed += self.close_key(key_id, "API key changed; connect again")
        if closed:
            logger.info("closed %d websocket(s) of revoked or changed API keys", closed)
        return closed

    async def run(self, stop: asyncio.Event) -> None:
        """Re-check the keys of open sockets every ``live_key_recheck_s`` until ``stop``."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._api.live_key_recheck_s):
                    await stop.wait()
            if stop.is_set():
                return
            try:
                async with asyncio.timeout(self._api.query_timeout_s):
                    await self.recheck()
            except (StorageError, TimeoutError) as exc:
                logger.warning("cannot re-check the keys of open websockets: %s", exc)


def _changed(was: Principal, now: Principal) -> bool:
    return (was.role, was.site, was.factory) != (now.role, now.site, now.factory)

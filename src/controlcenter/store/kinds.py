"""The stored sensor-kind registry (table ``sensor_kinds``, revision 0014) and its owner.

:class:`KindBook` owns the current :class:`~controlcenter.kinds.Registry` snapshot: every
stage reads ``book.current`` (a plain attribute: one snapshot per message or batch, no lock),
and only the book replaces it: at :meth:`KindBook.load`, at each refresh (``run``; kinds
another process added) and when an admin saves a kind through it.

The packaged kinds (``kinds.yaml``) are written to the table at load: a kind missing from
the table is added, a packaged kind that no admin changed (``builtin``) follows the
package. Default rules of every kind become built-in alert rules (``builtin``) the first
time they are seen, and a built-in rule follows its kind's default at every load (a release
that fixes a default, such as the gas rules' off-delay, reaches existing deployments). A
rule an operator saved through the rules API is theirs (``builtin`` false, set by the save;
revision 0018 marks the rules edited before it): later loads never overwrite it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from controlcenter.kinds import (
    KindError,
    KindSpec,
    Registry,
    check_rule_names,
    packaged,
    parse_kind,
)
from controlcenter.stage import sleep_or_stop
from controlcenter.store.pool import map_storage_errors

__all__ = ["KindBook"]

logger = logging.getLogger(__name__)

_SELECT = "SELECT kind, spec FROM sensor_kinds ORDER BY builtin DESC, created_at, kind"
_SYNC_PACKAGED = """
INSERT INTO sensor_kinds (kind, spec, builtin)
SELECT k, s::jsonb, true FROM unnest($1::text[], $2::text[]) AS t(k, s)
ON CONFLICT (kind) DO UPDATE SET spec = excluded.spec, updated_at = now()
WHERE sensor_kinds.builtin AND sensor_kinds.spec <> excluded.spec
"""
_UPSERT = """
INSERT INTO sensor_kinds (kind, spec, builtin) VALUES ($1, $2::jsonb, false)
ON CONFLICT (kind) DO UPDATE SET spec = excluded.spec, builtin = false, updated_at = now()
"""
_RULES = """
INSERT INTO alert_rules (name, enabled, builtin, definition)
SELECT n, true, true, d::jsonb FROM unnest($1::text[], $2::text[]) AS t(n, d)
ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = now()
WHERE alert_rules.builtin AND alert_rules.definition <> excluded.definition
"""
_FOREIGN_RULES = """
SELECT name FROM alert_rules
WHERE name = ANY($1::text[]) AND coalesce(definition->'scope'->>'kind', '') <> $2
"""


class KindBook:
    """Owns the registry snapshot: loads, refreshes and saves kinds.

    Args:
        pool: the database pool.
        base: the packaged registry (default ``controlcenter.kinds.packaged()``).
    """

    def __init__(
        self, pool: asyncpg.Pool, base: Registry | None = None, *, refresh_s: float = 30.0
    ) -> None:
        self._pool = pool
        self._refresh_s = refresh_s
        self._base = packaged() if base is None else base
        #: The current snapshot; the packaged kinds until :meth:`load`.
        self.current: Registry = self._base
        self._listeners: list[Callable[[Registry], None]] = []
        self._lock = asyncio.Lock()

    def add_listener(self, fn: Callable[[Registry], None]) -> None:
        """Call ``fn(registry)`` with every new snapshot (at once with the current one)."""
        self._listeners.append(fn)
        fn(self.current)

    async def load(self) -> Registry:
        """Write the packaged kinds and their default rules; then read the table."""
        names = list(self._base.names)
        specs = [_dumps(self._base.as_json()[k]) for k in names]
        with map_storage_errors("cannot store the packaged sensor kinds"):
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(_SYNC_PACKAGED, names, specs)
                await _add_rules(conn, [self._base.kind(k) for k in names])
        return await self.refresh()

    async def refresh(self) -> Registry:
        """Read the table into a new snapshot (kept when nothing changed)."""
        with map_storage_errors("cannot read the sensor kinds"):
            rows = await self._pool.fetch(_SELECT)
        # The packaged kinds are always there (a database no service has loaded yet lacks them).
        docs = self._base.as_json() | {r["kind"]: _loads(r["spec"]) for r in rows}
        if docs == self.current.as_json():
            return self.current
        kinds: dict[str, KindSpec] = {}
        for name, doc in docs.items():
            try:
                kinds[name] = parse_kind(name, doc)
            except KindError as exc:  # written by a newer release, or by hand
                logger.warning("sensor kind %s in the database is not valid: %s", name, exc)
                old = self.current.kind(name)
                if old is not None:
                    kinds[name] = old
        self._publish(Registry(kinds, self.current.version + 1))
        return self.current

    async def save(self, name: str, doc: Any, *, create: bool) -> KindSpec:
        """Validate and store a kind (``create``: it must be new); returns it.

        Raises:
            KindError: the entry is malformed, contradicts itself or the stored kind, or
                (``create``) the kind exists; ``str(exc)`` is the reason.
        """
        async with self._lock:
            await self.refresh()
            previous = self.current.kind(name)
            if create and previous is not None:
                raise KindError(f"kind {name!r} exists; PUT /api/v1/kinds/{name} changes it")
            spec = parse_kind(name, doc, previous=previous)
            check_rule_names({k: self.current.kind(k) for k in self.current}, spec)  # type: ignore[misc]
            with map_storage_errors("cannot store the sensor kind"):
                async with self._pool.acquire() as conn, conn.transaction():
                    taken = await conn.fetch(_FOREIGN_RULES, [r["name"] for r in spec.rules], name)
                    if taken:
                        raise KindError(
                            f"{name}: alert rule name {taken[0]['name']!r} is taken by another rule"
                        )
                    await conn.execute(_UPSERT, name, _dumps(spec.as_json()))
                    await _add_rules(conn, [spec])
            self._publish(self.current.with_kind(spec))
            logger.info("sensor kind %s %s", name, "added" if previous is None else "changed")
            return spec

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh every ``refresh_s`` until ``stop`` is set (a failed read is retried)."""
        while not await sleep_or_stop(stop, self._refresh_s):
            try:
                await self.refresh()
            except Exception:  # the database may be away for a while: keep the last snapshot
                logger.warning("cannot refresh the sensor kinds; keeping the last", exc_info=True)

    def _publish(self, registry: Registry) -> None:
        self.current = registry
        for fn in self._listeners:
            fn(registry)


async def _add_rules(conn: Any, specs: list[KindSpec | None]) -> None:
    names: list[str] = []
    definitions: list[str] = []
    for spec in specs:
        for rule in spec.rules if spec else ():
            names.append(rule["name"])
            definitions.append(_dumps({k: v for k, v in rule.items() if k != "name"}))
    if names:
        await conn.execute(_RULES, names, definitions)


def _dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True)


def _loads(spec: Any) -> Any:
    return json.loads(spec) if isinstance(spec, str) else spec

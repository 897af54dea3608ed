"""The catalog: sites, factories, sensors and series, with a dense int id per series.

Keys are registered on first sight in one round trip per batch of new keys, and cached:
after warm-up, resolving a batch's keys is a dict lookup per distinct key.

New series per factory can be capped (``max_new_series_per_factory_per_hour``): a gateway
may otherwise create series without bound under its own factory. Beyond the cap, within a
sliding hour, a new key resolves to :data:`REFUSED` (the pipeline dead-letters its
readings as ``series_limit``). The window is seeded from ``series.created_at`` at
:meth:`Catalog.load`, so a restart does not reset it; each worker counts what it registers
itself (with N workers sharing a stream, a factory may get up to N times the cap). A key
another worker already registered is never refused.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

import asyncpg

from controlcenter.domain import SensorKey, SeriesKey
from controlcenter.kinds import Registry, packaged
from controlcenter.store.columns import CatalogColumns
from controlcenter.store.pool import map_storage_errors

__all__ = ["REFUSED", "Catalog"]

logger = logging.getLogger(__name__)

#: The id :meth:`Catalog.resolve` gives a new key refused by the new-series cap.
REFUSED = -1
_HOUR_S = 3600.0

_SELECT_ALL = """
SELECT se.series_id, si.code AS site, f.code AS factory, s.kind, s.code AS sensor, se.metric
FROM series se
JOIN sensors s USING (sensor_id)
JOIN factories f USING (factory_id)
JOIN sites si USING (site_id)
"""

# New keys are registered level by level (sites, factories, sensors, series). Existing rows
# are skipped before inserting so that series ids stay dense (no burnt sequence values).
_REGISTER_SITES = """
INSERT INTO sites (code)
SELECT DISTINCT k.site FROM unnest($1::text[]) AS k(site)
WHERE NOT EXISTS (SELECT 1 FROM sites WHERE code = k.site)
ON CONFLICT DO NOTHING
"""

_REGISTER_FACTORIES = """
INSERT INTO factories (site_id, code)
SELECT DISTINCT si.site_id, k.factory
FROM unnest($1::text[], $2::text[]) AS k(site, factory)
JOIN sites si ON si.code = k.site
WHERE NOT EXISTS (SELECT 1 FROM factories f WHERE f.site_id = si.site_id AND f.code = k.factory)
ON CONFLICT DO NOTHING
"""

_REGISTER_SENSORS = """
INSERT INTO sensors (factory_id, kind, code)
SELECT DISTINCT f.factory_id, k.kind, k.sensor
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(site, factory, kind, sensor)
JOIN sites si ON si.code = k.site
JOIN factories f ON f.site_id = si.site_id AND f.code = k.factory
WHERE NOT EXISTS (
    SELECT 1 FROM sensors s
    WHERE s.factory_id = f.factory_id AND s.kind = k.kind AND s.code = k.sensor)
ON CONFLICT DO NOTHING
"""

_REGISTER_SERIES = """
WITH k AS (
    SELECT s.sensor_id, k.metric, k.unit, k.ord
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
        WITH ORDINALITY AS k(site, factory, kind, sensor, metric, unit, ord)
    JOIN sites si ON si.code = k.site
    JOIN factories f ON f.site_id = si.site_id AND f.code = k.factory
    JOIN sensors s ON s.factory_id = f.factory_id AND s.kind = k.kind AND s.code = k.sensor
), ins AS (
    INSERT INTO series (sensor_id, metric, unit)
    SELECT sensor_id, metric, unit FROM k
    WHERE NOT EXISTS (
        SELECT 1 FROM series se WHERE se.sensor_id = k.sensor_id AND se.metric = k.metric)
    ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING series_id, sensor_id, metric
)
SELECT k.ord, coalesce(ins.series_id, se.series_id) AS series_id,
       ins.series_id IS NOT NULL AS created
FROM k
LEFT JOIN ins ON ins.sensor_id = k.sensor_id AND ins.metric = k.metric
LEFT JOIN series se ON se.sensor_id = k.sensor_id AND se.metric = k.metric
"""

_EXISTING_SERIES = """
SELECT k.ord, se.series_id
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
    WITH ORDINALITY AS k(site, factory, kind, sensor, metric, ord)
JOIN sites si ON si.code = k.site
JOIN factories f ON f.site_id = si.site_id AND f.code = k.factory
JOIN sensors s ON s.factory_id = f.factory_id AND s.kind = k.kind AND s.code = k.sensor
JOIN series se ON se.sensor_id = s.sensor_id AND se.metric = k.metric
"""

_RECENT_SERIES = """
SELECT si.code AS site, f.code AS factory, extract(epoch FROM se.created_at)::float8 AS at
FROM series se
JOIN sensors s USING (sensor_id)
JOIN factories f USING (factory_id)
JOIN sites si USING (site_id)
WHERE se.created_at > now() - make_interval(secs => $1)
ORDER BY se.created_at
"""


class _NewSeriesBudget:
    """New series per factory within a sliding window (``limit`` per ``window_s``)."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._window_s = window_s
        self._clock = clock
        self._created: dict[tuple[str, str], deque[float]] = {}

    def room(self, factory: tuple[str, str]) -> int:
        """How many more series ``factory`` may create now."""
        times = self._created.get(factory)
        if times is None:
            return self.limit
        horizon = self._clock() - self._window_s
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._created[factory]
            return self.limit
        return max(0, self.limit - len(times))

    def spend(self, factory: tuple[str, str], at: float | None = None) -> None:
        """Count one series ``factory`` created (now, or at ``at``)."""
        stamp = self._clock() if at is None else at
        self._created.setdefault(factory, deque()).append(stamp)


class Catalog:
    """Maps SeriesKey <-> dense series id, registering unknown keys on first sight.

    The cache is per process; several workers share the database, where the unique
    constraints decide. Use :meth:`load` at start-up, then :meth:`resolve` per batch.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        max_new_series_per_factory_per_hour: int = 0,
        clock: Callable[[], float] = time.time,
        registry: Callable[[], Registry] = packaged,
    ) -> None:
        self._pool = pool
        self._registry = registry  # units of new series
        self._ids: dict[SeriesKey, int] = {}
        self._keys: dict[int, SeriesKey] = {}
        #: the columnar view of every known series (this catalog adds to it; others read)
        self.columns = CatalogColumns()
        limit = max_new_series_per_factory_per_hour
        self._budget = _NewSeriesBudget(limit, _HOUR_S, clock) if limit > 0 else None
        self._warned: dict[tuple[str, str], float] = {}
        self._clock = clock

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def max_series_id(self) -> int:
        """The largest series id known to this process (0 when empty)."""
        return max(self._keys, default=0)

    def key_of(self, series_id: int) -> SeriesKey | None:
        """The key of a known series id, or None."""
        return self._keys.get(series_id)

    def id_of(self, key: SeriesKey) -> int | None:
        """The series id of a key already in the cache, or None."""
        return self._ids.get(key)

    async def load(self) -> int:
        """Fill the cache with every series of the database; returns the count."""
        with map_storage_errors("cannot load the catalog"):
            rows = await self._pool.fetch(_SELECT_ALL)
        for r in rows:
            self._remember(
                SeriesKey(SensorKey(r["site"], r["factory"], r["kind"], r["sensor"]), r["metric"]),
                r["series_id"],
            )
        logger.info("catalog loaded: %d series", len(rows))
        if self._budget is not None:
            # The series each factory created in the last hour count against its cap.
            self._budget = _NewSeriesBudget(self._budget.limit, _HOUR_S, self._clock)
            with map_storage_errors("cannot load recent series"):
                recent = await self._pool.fetch(_RECENT_SERIES, _HOUR_S)
            for r in recent:
                self._budget.spend((r["site"], r["factory"]), at=r["at"])
        return len(rows)

    async def resolve(self, keys: Sequence[SeriesKey]) -> list[int]:
        """Series ids for ``keys`` (same order), registering the unknown ones.

        A new key beyond its factory's cap of new series per hour gets :data:`REFUSED`.

        Raises:
            StorageError: when the database fails.
        """
        missing = list(dict.fromkeys(k for k in keys if k not in self._ids))
        if missing:
            await self._register(missing)
        ids = self._ids
        return [ids.get(k, REFUSED) for k in keys]

    async def _register(self, keys: list[SeriesKey]) -> None:
        if self._budget is not None:
            keys, refused = self._admit(keys, self._budget)
            if refused:
                await self._refuse(refused)
        if not keys:
            return
        cols = _columns(keys, self._registry())
        with map_storage_errors("cannot register series"):
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(_REGISTER_SITES, cols[0])
                await conn.execute(_REGISTER_FACTORIES, cols[0], cols[1])
                await conn.execute(_REGISTER_SENSORS, *cols[:4])
                rows = await conn.fetch(_REGISTER_SERIES, *cols)
        for r in rows:
            key = keys[r["ord"] - 1]
            self._remember(key, r["series_id"])
            if r["created"] and self._budget is not None:
                self._budget.spend((key.sensor.site, key.sensor.factory))
        logger.info("registered %d new series", len(keys))

    @staticmethod
    def _admit(
        keys: list[SeriesKey], budget: _NewSeriesBudget
    ) -> tuple[list[SeriesKey], list[SeriesKey]]:
        """Split new keys into those within their factory's room and the rest."""
        room: dict[tuple[str, str], int] = {}
        admitted: list[SeriesKey] = []
        refused: list[SeriesKey] = []
        for k in keys:
            factory = (k.sensor.site, k.sensor.factory)
            left = room[factory] if factory in room else budget.room(factory)
            room[factory] = left - 1
            (admitted if left > 0 else refused).append(k)
        return admitted, refused

    async def _refuse(self, keys: list[SeriesKey]) -> None:
        """Accept the refused keys that exist already (another worker registered them)."""
        cols = _columns(keys)[:5]
        with map_storage_errors("cannot look series up"):
            rows = await self._pool.fetch(_EXISTING_SERIES, *cols)
        for r in rows:
            self._remember(keys[r["ord"] - 1], r["series_id"])
        now = self._clock()
        for k in keys:
            factory = (k.sensor.site, k.sensor.factory)
            if k not in self._ids and now - self._warned.get(factory, -_HOUR_S) >= _HOUR_S:
                self._warned[factory] = now  # once per factory and hour: no log flood
                logger.warning(
                    "factory %s/%s reached its cap of new series per hour; refusing more",
                    *factory,
                )

    def _remember(self, key: SeriesKey, series_id: int) -> None:
        self._ids[key] = series_id
        self._keys[series_id] = key
        self.columns.add(series_id, key)


def _columns(keys: Iterable[SeriesKey], registry: Registry | None = None) -> tuple[list[str], ...]:
    units = registry or packaged()
    site: list[str] = []
    factory: list[str] = []
    kind: list[str] = []
    sensor: list[str] = []
    metric: list[str] = []
    unit: list[str] = []
    for k in keys:
        site.append(k.sensor.site)
        factory.append(k.sensor.factory)
        kind.append(k.sensor.kind)
        sensor.append(k.sensor.sensor)
        metric.append(k.metric)
        unit.append(units.unit(k.sensor.kind, k.metric))
    return site, factory, kind, sensor, metric, unit

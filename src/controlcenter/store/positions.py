"""Positions of factories and sensors, and the site-plan image (revision 0016).

Each factory and sensor may have WGS84 ``lat``/``lon`` and plan coordinates
``plan_x``/``plan_y`` (metres on the site plan: origin at its top-left corner, ``x`` east,
``y`` south); each pair is set or cleared as a whole. A sensor without a position of its own
stands at its factory's (:meth:`SitePositions.sensor_xy` applies that rule).

Setters take each pair as a value, ``None`` (clear it) or :data:`KEEP` (leave it);
:func:`import_positions` writes a whole layout at once and registers the factories and
sensors it names that the catalog does not hold yet (a complex is surveyed before its
gateways report). All SQL is parameterised.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import asyncpg

__all__ = [
    "KEEP",
    "FactoryPosition",
    "Keep",
    "Pair",
    "Placed",
    "PlanImage",
    "PlanInfo",
    "SensorPosition",
    "SitePositions",
    "find_sensors",
    "import_positions",
    "plan_image",
    "set_factory_position",
    "set_plan_image",
    "set_sensor_position",
    "site_positions",
]


class Keep(enum.Enum):
    """Leave a coordinate pair as it is."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP
#: A coordinate pair: (lat, lon) or (plan_x, plan_y).
Pair = tuple[float, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class Placed:
    """WGS84 and plan coordinates (keyword arguments; any may be None)."""

    lat: float | None = None
    lon: float | None = None
    plan_x: float | None = None
    plan_y: float | None = None

    @property
    def geo(self) -> Pair | None:
        """``(lat, lon)``, or None."""
        return None if self.lat is None or self.lon is None else (self.lat, self.lon)

    @property
    def xy(self) -> Pair | None:
        """``(plan_x, plan_y)``, or None."""
        return None if self.plan_x is None or self.plan_y is None else (self.plan_x, self.plan_y)


@dataclass(frozen=True, slots=True)
class FactoryPosition(Placed):
    """A factory and its position, with its gateway's status (``online``/``offline``, as the
    gateway last reported it) when read from the catalog."""

    factory: str
    name: str | None = None
    industry: str | None = None
    gateway_status: str | None = None


@dataclass(frozen=True, slots=True)
class SensorPosition(Placed):
    """A sensor (``factory``/``kind``/``sensor``) and its own position (may be None)."""

    factory: str
    kind: str
    sensor: str


@dataclass(frozen=True, slots=True)
class PlanInfo:
    """The site plan's metadata: ground size in metres, image type, upload time."""

    content_type: str
    width_m: float
    height_m: float
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class PlanImage:
    """The site plan's image bytes with their metadata."""

    info: PlanInfo
    image: bytes


@dataclass(frozen=True, slots=True)
class SitePositions:
    """Factories (by code) and sensors (by factory, kind, code) of one site."""

    site: str
    factories: tuple[FactoryPosition, ...]
    sensors: tuple[SensorPosition, ...]
    plan: PlanInfo | None = None
    _by_factory: dict[str, FactoryPosition] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._by_factory.update((f.factory, f) for f in self.factories)

    def factory(self, code: str) -> FactoryPosition | None:
        """The factory ``code``, or None."""
        return self._by_factory.get(code)

    def sensor_geo(self, s: SensorPosition) -> Pair | None:
        """``(lat, lon)`` of a sensor, else of its factory, else None.

        >>> sp = SitePositions("s", (FactoryPosition("f", lat=37.4, lon=126.7),),
        ...                    (SensorPosition("f", "gas", "g1"),))
        >>> sp.sensor_geo(sp.sensors[0])
        (37.4, 126.7)
        """
        f = self._by_factory.get(s.factory)
        return s.geo or (f.geo if f else None)

    def sensor_xy(self, s: SensorPosition) -> Pair | None:
        """``(plan_x, plan_y)`` of a sensor, else of its factory, else None."""
        f = self._by_factory.get(s.factory)
        return s.xy or (f.xy if f else None)


_FACTORIES = """
SELECT f.code AS factory, f.name, f.industry, f.lat, f.lon, f.plan_x, f.plan_y,
       f.gateway_status
FROM factories f JOIN sites si USING (site_id)
WHERE si.code = $1 AND ($2::text IS NULL OR f.code = $2)
ORDER BY f.code
"""
_SENSORS = """
SELECT f.code AS factory, s.kind, s.code AS sensor, s.lat, s.lon, s.plan_x, s.plan_y
FROM sensors s JOIN factories f USING (factory_id) JOIN sites si USING (site_id)
WHERE si.code = $1 AND ($2::text IS NULL OR f.code = $2)
  AND ($3::text[] IS NULL OR s.kind = ANY($3::text[]))
ORDER BY f.code, s.kind, s.code
"""
_PLAN_INFO = """
SELECT p.content_type, p.width_m, p.height_m, p.uploaded_at
FROM site_plans p JOIN sites si USING (site_id) WHERE si.code = $1
"""
_PLAN = """
SELECT p.content_type, p.width_m, p.height_m, p.uploaded_at, p.image
FROM site_plans p JOIN sites si USING (site_id) WHERE si.code = $1
"""


async def site_positions(
    pool: asyncpg.Pool,
    site: str,
    factory: str | None = None,
    kinds: Sequence[str] | None = None,
) -> SitePositions | None:
    """Positions of a site's factories and sensors (of ``factory`` only, of ``kinds``
    only, when given), with the plan's metadata; None when the site does not exist."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        if await conn.fetchval("SELECT 1 FROM sites WHERE code = $1", site) is None:
            return None
        factories = await conn.fetch(_FACTORIES, site, factory)
        sensors = await conn.fetch(_SENSORS, site, factory, list(kinds) if kinds else None)
        plan = await conn.fetchrow(_PLAN_INFO, site)
    return SitePositions(
        site,
        tuple(FactoryPosition(**dict(r)) for r in factories),
        tuple(SensorPosition(**dict(r)) for r in sensors),
        PlanInfo(**dict(plan)) if plan else None,
    )


def _pair_args(pair: Pair | Keep | None) -> tuple[bool, float | None, float | None]:
    if isinstance(pair, Keep):
        return (False, None, None)
    return (True, None, None) if pair is None else (True, float(pair[0]), float(pair[1]))


_SET = """
SET lat = CASE WHEN $1 THEN $2 ELSE {t}.lat END,
    lon = CASE WHEN $1 THEN $3 ELSE {t}.lon END,
    plan_x = CASE WHEN $4 THEN $5 ELSE {t}.plan_x END,
    plan_y = CASE WHEN $4 THEN $6 ELSE {t}.plan_y END
"""
_SET_FACTORY = (
    "UPDATE factories f"
    + _SET.format(t="f")
    + """FROM sites si WHERE si.site_id = f.site_id AND si.code = $7 AND f.code = $8
RETURNING f.code AS factory, f.name, f.industry, f.lat, f.lon, f.plan_x, f.plan_y,
          f.gateway_status"""
)
_SET_SENSOR = (
    "UPDATE sensors s"
    + _SET.format(t="s")
    + """FROM factories f JOIN sites si USING (site_id)
WHERE f.factory_id = s.factory_id AND si.code = $7 AND f.code = $8 AND s.kind = $9
  AND s.code = $10
RETURNING f.code AS factory, s.kind, s.code AS sensor, s.lat, s.lon, s.plan_x, s.plan_y"""
)


async def set_factory_position(
    pool: asyncpg.Pool,
    site: str,
    factory: str,
    *,
    geo: Pair | Keep | None = KEEP,
    plan: Pair | Keep | None = KEEP,
) -> FactoryPosition | None:
    """Set (a pair), clear (None) or keep (KEEP) a factory's coordinates; the factory as
    stored, or None when it does not exist. Out-of-range values raise
    ``asyncpg.CheckViolationError`` (callers validate first)."""
    row = await pool.fetchrow(_SET_FACTORY, *_pair_args(geo), *_pair_args(plan), site, factory)
    return FactoryPosition(**dict(row)) if row else None


async def set_sensor_position(
    pool: asyncpg.Pool,
    site: str,
    factory: str,
    kind: str,
    sensor: str,
    *,
    geo: Pair | Keep | None = KEEP,
    plan: Pair | Keep | None = KEEP,
) -> SensorPosition | None:
    """As :func:`set_factory_position`, for the sensor ``factory``/``kind``/``sensor``."""
    args = (*_pair_args(geo), *_pair_args(plan), site, factory, kind, sensor)
    row = await pool.fetchrow(_SET_SENSOR, *args)
    return SensorPosition(**dict(row)) if row else None


_FIND_SENSORS = """
SELECT f.code AS factory, s.kind, s.code AS sensor, s.lat, s.lon, s.plan_x, s.plan_y
FROM sensors s JOIN factories f USING (factory_id) JOIN sites si USING (site_id)
WHERE si.code = $1 AND s.code = $2 AND ($3::text IS NULL OR f.code = $3)
  AND ($4::text IS NULL OR s.kind = $4)
ORDER BY f.code, s.kind LIMIT 10
"""


async def find_sensors(
    pool: asyncpg.Pool, site: str, sensor: str, factory: str | None, kind: str | None
) -> list[SensorPosition]:
    """The sensors of ``site`` coded ``sensor`` (of ``factory``, ``kind`` when given)."""
    rows = await pool.fetch(_FIND_SENSORS, site, sensor, factory, kind)
    return [SensorPosition(**dict(r)) for r in rows]


_IMPORT_SITE = "INSERT INTO sites (code) VALUES ($1) ON CONFLICT (code) DO NOTHING"
_IMPORT_FACTORIES = """
INSERT INTO factories (site_id, code, name, industry, lat, lon, plan_x, plan_y)
SELECT si.site_id, k.factory, k.name, k.industry, k.lat, k.lon, k.plan_x, k.plan_y
FROM unnest($2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[],
            $8::float8[]) AS k(factory, name, industry, lat, lon, plan_x, plan_y)
JOIN sites si ON si.code = $1
ON CONFLICT (site_id, code) DO UPDATE
SET lat = excluded.lat, lon = excluded.lon, plan_x = excluded.plan_x,
    plan_y = excluded.plan_y, name = coalesce(factories.name, excluded.name),
    industry = coalesce(factories.industry, excluded.industry)
"""
_IMPORT_SENSORS = """
INSERT INTO sensors (factory_id, kind, code, lat, lon, plan_x, plan_y)
SELECT f.factory_id, k.kind, k.sensor, k.lat, k.lon, k.plan_x, k.plan_y
FROM unnest($2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[],
            $8::float8[]) AS k(factory, kind, sensor, lat, lon, plan_x, plan_y)
JOIN sites si ON si.code = $1
JOIN factories f ON f.site_id = si.site_id AND f.code = k.factory
ON CONFLICT (factory_id, kind, code) DO UPDATE
SET lat = excluded.lat, lon = excluded.lon, plan_x = excluded.plan_x,
    plan_y = excluded.plan_y
"""


def _columns(rows: Iterable[Any], names: Sequence[str]) -> list[list[Any]]:
    items = list(rows)
    return [[getattr(r, n) for r in items] for n in names]


async def import_positions(
    pool: asyncpg.Pool,
    site: str,
    factories: Iterable[FactoryPosition],
    sensors: Iterable[SensorPosition] = (),
) -> tuple[int, int]:
    """Write a site's layout in one transaction, registering the site, factories and
    sensors the catalog lacks; ``(factories, sensors)`` written. A name or industry already
    stored is kept."""
    f_cols = _columns(factories, ("factory", "name", "industry", "lat", "lon", "plan_x", "plan_y"))
    s_cols = _columns(sensors, ("factory", "kind", "sensor", "lat", "lon", "plan_x", "plan_y"))
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_IMPORT_SITE, site)
        await conn.execute(_IMPORT_FACTORIES, site, *f_cols)
        await conn.execute(_IMPORT_SENSORS, site, *s_cols)
    return len(f_cols[0]), len(s_cols[0])


_SET_PLAN = """
INSERT INTO site_plans (site_id, image, content_type, width_m, height_m)
SELECT site_id, $2, $3, $4, $5 FROM sites WHERE code = $1
ON CONFLICT (site_id) DO UPDATE
SET image = excluded.image, content_type = excluded.content_type,
    width_m = excluded.width_m, height_m = excluded.height_m, uploaded_at = now()
RETURNING content_type, width_m, height_m, uploaded_at
"""


async def set_plan_image(
    pool: asyncpg.Pool,
    site: str,
    image: bytes,
    content_type: str,
    width_m: float,
    height_m: float,
) -> PlanInfo | None:
    """Store (replace) a site's plan image; its metadata, or None when the site does not
    exist. The caller checks the image's type and size."""
    row = await pool.fetchrow(_SET_PLAN, site, image, content_type, width_m, height_m)
    return PlanInfo(**dict(row)) if row else None


async def plan_image(pool: asyncpg.Pool, site: str) -> PlanImage | None:
    """A site's plan image, or None."""
    row = await pool.fetchrow(_PLAN, site)
    if row is None:
        return None
    meta = dict(row)
    image = meta.pop("image")
    return PlanImage(PlanInfo(**meta), bytes(image))

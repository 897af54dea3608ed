"""``controlcenter import-positions FILE``: positions of a whole complex from a JSON file.

The file is what ``controlcenter-sim positions`` writes (a survey of a real complex can be
written the same way)::

    {"sites": [{"site": "namdong-1",
                "factories": [{"factory": "cast-0003", "industry": "casting",
                               "lat": 37.4077, "lon": 126.6997,
                               "plan_x": 329.6, "plan_y": 475.5}, ...],
                "sensors": [{"factory": "cast-0003", "kind": "gas", "sensor": "gas1",
                             "lat": ..., "lon": ..., "plan_x": ..., "plan_y": ...}, ...]}]}

Every coordinate is optional (both of a pair, or neither); factories and sensors the catalog
does not hold yet are registered (``store.positions.import_positions``). A file that breaks
these rules is refused whole, with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated, Self

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, model_validator

from controlcenter.errors import ConfigError
from controlcenter.kinds import KIND_PATTERN
from controlcenter.store.positions import FactoryPosition, SensorPosition, import_positions

__all__ = ["PositionsFile", "import_file", "parse_positions"]

logger = logging.getLogger(__name__)
_CODE = r"^[A-Za-z0-9_.\-]{1,64}$"
_MAX_FILE_BYTES = 64 * 1024 * 1024
Lat = Annotated[float | None, Field(None, ge=-90, le=90)]
Lon = Annotated[float | None, Field(None, ge=-180, le=180)]
PlanM = Annotated[float | None, Field(None, ge=0, le=1e6)]


class _Placed(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)

    factory: str = Field(pattern=_CODE)
    lat: Lat = None
    lon: Lon = None
    plan_x: PlanM = None
    plan_y: PlanM = None

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together")
        if (self.plan_x is None) != (self.plan_y is None):
            raise ValueError("plan_x and plan_y go together")
        return self


class _Factory(_Placed):
    name: str | None = Field(None, max_length=200)
    industry: str | None = Field(None, max_length=64)


class _Sensor(_Placed):
    kind: str = Field(pattern=KIND_PATTERN)
    sensor: str = Field(pattern=_CODE)


class _Site(BaseModel):
    model_config = ConfigDict(extra="ignore")

    site: str = Field(pattern=_CODE)
    factories: list[_Factory] = Field(default_factory=list, max_length=100_000)
    sensors: list[_Sensor] = Field(default_factory=list, max_length=1_000_000)


class PositionsFile(BaseModel):
    """A positions file: sites with their factories and sensors."""

    model_config = ConfigDict(extra="ignore")

    sites: list[_Site] = Field(max_length=1_000)


def parse_positions(data: bytes) -> PositionsFile:
    """Validate a positions document; ConfigError with the reason when it is not one.

    >>> doc = parse_positions(b'{"sites": [{"site": "s", "factories": [{"factory": "f"}]}]}')
    >>> doc.sites[0].factories[0].factory
    'f'
    """
    try:
        return PositionsFile.model_validate_json(data)
    except ValueError as exc:
        raise ConfigError(f"not a positions file: {exc}") from None


async def import_file(pool: asyncpg.Pool, path: Path) -> tuple[int, int]:
    """Import ``path`` (or ``-``: stdin); ``(factories, sensors)`` written."""

    def read() -> bytes:
        if str(path) == "-":
            return sys.stdin.buffer.read(_MAX_FILE_BYTES + 1)
        with path.open("rb") as f:
            return f.read(_MAX_FILE_BYTES + 1)

    data = await asyncio.to_thread(read)
    if len(data) > _MAX_FILE_BYTES:
        raise ConfigError(f"a positions file over {_MAX_FILE_BYTES} bytes")
    return await import_document(pool, parse_positions(data))


async def import_document(pool: asyncpg.Pool, doc: PositionsFile) -> tuple[int, int]:
    """Write every site of ``doc``; ``(factories, sensors)`` written."""
    total = (0, 0)
    for site in doc.sites:
        factories = [
            FactoryPosition(
                f.factory,
                f.name,
                f.industry,
                lat=f.lat,
                lon=f.lon,
                plan_x=f.plan_x,
                plan_y=f.plan_y,
            )
            for f in site.factories
        ]
        sensors = [
            SensorPosition(
                s.factory, s.kind, s.sensor, lat=s.lat, lon=s.lon, plan_x=s.plan_x, plan_y=s.plan_y
            )
            for s in site.sensors
        ]
        n = await import_positions(pool, site.site, factories, sensors)
        total = (total[0] + n[0], total[1] + n[1])
    logger.info("positions imported: %d factories, %d sensors", *total)
    return total

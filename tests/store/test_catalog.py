"""The catalog's cap on new series per factory and hour."""

from __future__ import annotations

import uuid

from controlcenter.domain import SensorKey, SeriesKey
from controlcenter.store import REFUSED, Catalog


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _keys(site: str, factory: str, n: int, start: int = 0) -> list[SeriesKey]:
    return [
        SeriesKey(SensorKey(site, factory, "air", f"a{i}"), "pm10") for i in range(start, start + n)
    ]


async def test_new_series_beyond_a_factorys_hourly_cap_are_refused(pool):
    site, clock = f"site{uuid.uuid4().hex[:8]}", Clock()
    catalog = Catalog(pool, max_new_series_per_factory_per_hour=3, clock=clock)
    await catalog.load()
    first = await catalog.resolve(_keys(site, "f1", 5) + _keys(site, "f2", 2))
    assert [i == REFUSED for i in first] == [False] * 3 + [True] * 2 + [False] * 2
    # Known series still resolve; the refused stay refused within the hour.
    again = await catalog.resolve(_keys(site, "f1", 5))
    assert again[:3] == first[:3]
    assert again[3:] == [REFUSED, REFUSED]
    clock.now += 3_601  # the window slides: room again
    later = await catalog.resolve(_keys(site, "f1", 5))
    assert REFUSED not in later
    assert later[:3] == first[:3]
    registered = await pool.fetchval(
        "SELECT count(*) FROM series se JOIN sensors s USING (sensor_id)"
        " JOIN factories f USING (factory_id) JOIN sites si USING (site_id) WHERE si.code = $1",
        site,
    )
    assert registered == 7


async def test_a_restart_does_not_reset_the_cap(pool):
    """The series each factory created in the last hour are counted at load."""
    site = f"site{uuid.uuid4().hex[:8]}"
    await Catalog(pool, max_new_series_per_factory_per_hour=3).resolve(_keys(site, "f1", 3))
    restarted = Catalog(pool, max_new_series_per_factory_per_hour=3)
    await restarted.load()
    assert await restarted.resolve(_keys(site, "f1", 1, start=3)) == [REFUSED]
    assert REFUSED not in await restarted.resolve(_keys(site, "f1", 3))  # known ones


async def test_a_series_another_worker_registered_is_never_refused(pool):
    site = f"site{uuid.uuid4().hex[:8]}"
    worker = Catalog(pool, max_new_series_per_factory_per_hour=2)
    await worker.load()
    assert REFUSED not in await worker.resolve(_keys(site, "f1", 2))
    (other,) = await Catalog(pool).resolve(_keys(site, "f1", 1, start=7))  # another worker
    assert await worker.resolve(_keys(site, "f1", 2, start=7)) == [other, REFUSED]


async def test_no_cap_by_default(pool):
    site = f"site{uuid.uuid4().hex[:8]}"
    assert REFUSED not in await Catalog(pool).resolve(_keys(site, "f1", 50))

"""Helpers for the alert tests: catalog keys, rules, a service running in the background."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from controlcenter.alerts import AlertRepository, AlertService, Rule
from controlcenter.anomaly import Events
from controlcenter.config import Settings
from controlcenter.domain import Batch, SensorKey, SeriesKey
from controlcenter.store import Catalog
from tests._support import eventually

T0 = 1_800_000_000_000_000  # µs


class Clock:
    """An injectable wall clock (seconds)."""

    def __init__(self, now: float = T0 / 1e6) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def site_code() -> str:
    return f"site{uuid.uuid4().hex[:8]}"


def air_keys(site: str, n: int, metric: str = "pm10", factory: str = "f1") -> list[SeriesKey]:
    return [SeriesKey(SensorKey(site, factory, "air", f"a{i}"), metric) for i in range(n)]


async def register(pool: asyncpg.Pool, keys: list[SeriesKey]) -> tuple[Catalog, list[int]]:
    catalog = Catalog(pool)
    await catalog.load()
    ids = await catalog.resolve(keys)
    return catalog, ids


def pm10_rule(name: str, site: str, **extra: Any) -> dict[str, Any]:
    """A rule on one site's PM10: raised at 80, cleared at 70 (``extra``: more fields)."""
    return {
        "name": name,
        "scope": {"site": site},
        "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}],
        **extra,
    }


async def add_rules(pool: asyncpg.Pool, *rules: dict[str, Any]) -> list[Rule]:
    repo = AlertRepository(pool)
    return [await repo.save_rule(Rule.model_validate(r)) for r in rules]


def batch(rows: list[tuple[int, int, float]]) -> Batch:
    """(series, time µs, value) rows."""
    return Batch.from_lists([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


async def feed(svc: AlertService, b: Batch, events: Events | None = None) -> None:
    """Hand ``b`` to the running service and wait until its transitions are stored."""
    await svc.on_scored(b, b.value * 0, events or Events.empty())

    async def applied() -> bool:
        return svc.worker.pending == 0

    await eventually(applied, timeout=20, every=0.002)


@contextlib.asynccontextmanager
async def running(svc: AlertService) -> AsyncIterator[AlertService]:
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    try:
        waiter = asyncio.create_task(svc.started.wait())
        await asyncio.wait({task, waiter}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()
        yield svc
    finally:
        stop.set()
        async with asyncio.timeout(20):
            await task


def service(settings: Settings, pool: asyncpg.Pool, catalog: Catalog, clock: Clock) -> AlertService:
    return AlertService(settings, pool, catalog, clock=clock)


async def alerts_of(pool: asyncpg.Pool, rule: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM alerts WHERE rule_name = $1 ORDER BY alert_id", rule)

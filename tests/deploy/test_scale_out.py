"""Two ingest workers on one MQTT 5 shared subscription: no loss, no duplicates, both work.

Each worker is what ``run_service`` builds for ingest (its own pool, storage mode and
:class:`Pipeline`), with the same ``mqtt.shared_group`` and its own client id, on the
machine's Mosquitto. Beyond the unique index (which would hide a duplicate), each worker
counts the readings it committed *and* handed on (a sink sees every committed batch, even
readings the index dropped), so "every message went to exactly one worker" is measured.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from controlcenter.config import Settings
from controlcenter.domain import Batch
from controlcenter.pipeline import Pipeline
from controlcenter.store import open_pool, read_storage_mode
from tests._support import count_readings, eventually, now_ms, publish, reading

SENSORS = 120
PER_SENSOR = 25  # 3,000 messages of one reading each
FACTORIES = 12


@dataclass
class Worker:
    name: str
    pipeline: Pipeline | None = None
    handed_on: int = 0
    batches: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def count(self, batch: Batch) -> None:
        self.handed_on += len(batch)
        self.batches += 1

    async def run(self, settings: Settings, stop: asyncio.Event) -> None:
        async with open_pool(settings) as pool:
            self.pipeline = Pipeline(settings, pool, await read_storage_mode(pool))
            self.pipeline.add_sink(self.count)
            await self.pipeline.run(stop, self.ready)

    @property
    def committed(self) -> int:
        return self.pipeline.committed_readings if self.pipeline else 0


async def test_two_workers_share_one_stream_without_loss_or_duplicates(
    database_url: str,
    pool: asyncpg.Pool,
    mqtt_url: str,
    topic_root: str,
    make_settings: Callable[..., Settings],
) -> None:
    site = f"site{uuid.uuid4().hex[:8]}"
    group = f"ingest{uuid.uuid4().hex[:6]}"
    workers = [Worker("a"), Worker("b")]
    stop = asyncio.Event()
    settings = [
        make_settings(
            database_url,
            mqtt={"shared_group": group, "client_id": f"cc-scale-{w.name}-{uuid.uuid4().hex[:6]}"},
            # Small batches, so both workers take turns many times.
            ingest={"batch_size": 200},
            db={"pool_max_size": 4, "pool_min_size": 1},
        )
        for w in workers
    ]
    tasks = [
        asyncio.create_task(w.run(s, stop), name=f"worker-{w.name}")
        for w, s in zip(workers, settings, strict=True)
    ]
    try:
        async with asyncio.timeout(30):
            await asyncio.gather(*(w.ready.wait() for w in workers))
        start = now_ms() - PER_SENSOR * 1000
        messages = [
            (
                f"{topic_root}/v1/{site}/f{s % FACTORIES:02d}/air/st{s:03d}",
                reading(start + i * 1000, pm10=float(s + i)),
            )
            for i in range(PER_SENSOR)
            for s in range(SENSORS)
        ]
        total = len(messages)
        await publish(mqtt_url, messages)

        async def all_in() -> bool:
            return sum(w.handed_on for w in workers) >= total

        await eventually(all_in, timeout=30)
        stored = await count_readings(pool, site)
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks)

    handed_on = [w.handed_on for w in workers]
    committed = [w.committed for w in workers]
    # Both took part (Mosquitto dispatches a shared subscription's messages in turn).
    assert all(n > 0 for n in committed), committed
    # Every reading delivered to exactly one worker, committed once, stored once.
    assert sum(handed_on) == total, handed_on
    assert sum(committed) == total, committed
    assert stored == total
    assert await count_readings(pool, site) == total  # nothing late after the drain
    series = await pool.fetchval(
        """
        SELECT count(*) FROM series se JOIN sensors s USING (sensor_id)
        JOIN factories f USING (factory_id) JOIN sites si USING (site_id) WHERE si.code = $1
        """,
        site,
    )
    assert series == SENSORS  # both workers registered sensors without doubling any

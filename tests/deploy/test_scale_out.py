"""Two ingest workers on one MQTT 5 shared subscription: no loss, no duplicates, both work.

Each worker is what ``run_service`` builds for ingest (its own pool, storage mode and
:class:`Pipeline`), with the same ``mqtt.shared_group`` and its own client id, on the
machine's Mosquitto. Beyond the unique index (which would hide a duplicate), each worker
counts the readings it committed *and* handed on (a sink sees every committed batch, even
readings the index dropped), so "every message went to exactly one worker" is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from controlcenter.config import Settings
from controlcenter.domain import Batch
from controlcenter.pipeline import Pipeline
from controlcenter.service import ingest_catalog
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
            mode = await read_storage_mode(pool)
            self.pipeline = Pipeline(settings, pool, mode, ingest_catalog(settings, pool))
            self.pipeline.add_sink(self.count)
            await self.pipeline.run(stop, self.ready)

    @property
    def committed(self) -> int:
        return self.pipeline.committed_readings if self.pipeline else 0


async def test_two_workers_share_one_stream_without_loss_or_duplicates(
    database_url: str,
    pool: asyncpg.Pool,
    real_broker: str,
    topic_root: str,
    make_settings: Callable[..., Settings],
) -> None:
    mqtt_url = real_broker
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


async def test_a_restarted_worker_gets_the_share_the_broker_kept_for_it(
    database_url: str,
    pool: asyncpg.Pool,
    real_broker: str,
    topic_root: str,
    make_settings: Callable[..., Settings],
) -> None:
    # Mosquitto goes on dispatching to a stopped member's persistent session: its share
    # waits there (not handed to the others) and arrives when it returns. Nothing is lost.
    mqtt_url = real_broker
    site = f"site{uuid.uuid4().hex[:8]}"
    group = f"ingest{uuid.uuid4().hex[:6]}"
    a, b = Worker("a"), Worker("b")
    settings = {
        w.name: make_settings(
            database_url,
            mqtt={"shared_group": group, "client_id": f"cc-scale-{w.name}-{uuid.uuid4().hex[:6]}"},
            db={"pool_max_size": 4, "pool_min_size": 1},
        )
        for w in (a, b)
    }
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(settings["a"], stop_a))
    task_b = asyncio.create_task(b.run(settings["b"], stop_b))
    back = Worker("b")
    stop_back = asyncio.Event()
    task_back: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(30):
            await asyncio.gather(a.ready.wait(), b.ready.wait())
            stop_b.set()  # b leaves; its session (and subscription) stays with the broker
            await task_b
        start = now_ms() - 10_000
        messages = [
            (
                f"{topic_root}/v1/{site}/f{s % 4}/power/m{s:03d}",
                reading(start + i * 1000, kw=float(i)),
            )
            for i in range(10)
            for s in range(100)
        ]
        await publish(mqtt_url, messages)
        # The broker has dispatched everything once publish() returns; a takes its share.
        seen = -1
        while seen != a.handed_on:
            seen = a.handed_on
            await asyncio.sleep(0.5)
        held_for_b = len(messages) - a.handed_on
        assert 0 < held_for_b < len(messages), a.handed_on
        task_back = asyncio.create_task(back.run(settings["b"], stop_back))  # same client id

        async def all_in() -> bool:
            return a.handed_on + back.handed_on >= len(messages)

        await eventually(all_in, timeout=30)
        stored = await count_readings(pool, site)
    finally:
        for stop in (stop_a, stop_b, stop_back):
            stop.set()
        async with asyncio.timeout(30):
            await asyncio.gather(task_a, task_b, *([task_back] if task_back else []))
    assert back.handed_on == held_for_b
    assert a.committed + back.committed == len(messages)
    assert stored == len(messages)


async def test_a_sharing_workers_live_feed_shows_every_workers_readings(
    database_url: str,
    pool: asyncpg.Pool,
    real_broker: str,
    topic_root: str,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each worker stores its share; the API beside one of them still shows all of them,
    and every payload is decoded once: by the worker that stores it (the other workers'
    readings reach the hub already decoded, on the live relay)."""
    mqtt_url = real_broker
    import orjson
    from websockets.asyncio.client import connect

    from controlcenter.api.auth import ApiKeys, Role
    from controlcenter.embedded._port import free_port
    from controlcenter.wire import PayloadDecoder
    from tests._support import running_service

    decode = PayloadDecoder.decode
    decoded_by: list[int] = []  # the decoder of every call, both workers (one process)

    def counting(self: PayloadDecoder, *args: Any, **kwargs: Any) -> Any:
        decoded_by.append(id(self))
        return decode(self, *args, **kwargs)

    monkeypatch.setattr(PayloadDecoder, "decode", counting)

    site = f"site{uuid.uuid4().hex[:8]}"
    group = f"ingest{uuid.uuid4().hex[:6]}"
    port = free_port()

    def worker(name: str, api: dict[str, object]) -> Settings:
        return make_settings(
            database_url,
            mqtt={"shared_group": group, "client_id": f"cc-live-{name}-{uuid.uuid4().hex[:6]}"},
            api={**api, "catalog_refresh_s": 0.5},  # series the other worker registered
            db={"pool_max_size": 4, "pool_min_size": 1},
        )

    _, key = await ApiKeys(pool).create(Role.VIEWER)
    sensors, t0 = 40, now_ms()
    messages = [
        (f"{topic_root}/v1/{site}/f{i % 4}/air/a{i}", reading(t0 + k, pm25=float(k)))
        for k in range(5)
        for i in range(sensors)
    ]
    async with (
        running_service(worker("a", {"port": port})),
        running_service(worker("b", {"enabled": False})),
    ):
        async with connect(f"ws://127.0.0.1:{port}/api/v1/live?key={key}") as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "site": site}))
            latest: dict[int, float] = {}
            await publish(mqtt_url, messages[: 4 * sensors])
            await asyncio.sleep(2.0)  # both workers registered every series by now
            await publish(mqtt_url, messages[4 * sensors :])

            async def complete() -> bool:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        msg = orjson.loads(await ws.recv())
                        if msg["type"] == "readings":
                            latest.update(zip(msg["series"], msg["value"], strict=True))
                return len(latest) == sensors and set(latest.values()) == {4.0}

            await eventually(complete, timeout=30)
        assert await count_readings(pool, site) == len(messages)
    assert len(decoded_by) == len(messages)  # once each: no second decoding for live views
    assert len(set(decoded_by)) == 2  # both workers' consumers took a share

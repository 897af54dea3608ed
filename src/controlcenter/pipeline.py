"""Composes the stages: consumer -> writer (catalog, readings, dead letters) -> sinks.

Queues and their full-queue policy:
- consumer -> writer: ``stage.Inbox(ingest.queue_max_batches)``; the consumer
  awaits ``put``, so a slow database stops intake, the MQTT window fills and the broker
  holds the rest (backpressure, nothing dropped).
- writer -> sinks (anomaly engine, live hub, ...): each sink is awaited after the commit;
  a sink that must never slow ingest keeps its own small queue and drops or coalesces.

Adding a sink never touches ingest: ``pipeline.add_sink(fn)``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import asyncpg
import numpy as np

from controlcenter.backoff import Backoff
from controlcenter.config import Settings
from controlcenter.domain import Batch, DeadLetter
from controlcenter.ingest import Consumer, IngestBatch
from controlcenter.kinds import Registry, packaged
from controlcenter.metrics import (
    INGEST_BATCH_READINGS,
    INGEST_DEAD_LETTERS,
    INGEST_QUEUE_DEPTH,
    INGEST_READINGS,
    INGEST_WRITE_RETRIES,
    INGEST_WRITE_SECONDS,
)
from controlcenter.stage import Inbox, any_set
from controlcenter.store import (
    REFUSED,
    Catalog,
    Maintenance,
    ReadingWriter,
    StorageMode,
    WriteResult,
    retry_transient,
)

__all__ = ["Pipeline", "Sink"]

logger = logging.getLogger(__name__)
_P = ParamSpec("_P")
_T = TypeVar("_T")

#: Called with every committed batch (dense series ids), in commit order.
Sink = Callable[[Batch], Awaitable[None]]


class Pipeline:
    """The ingest pipeline of one worker; run it with :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        mode: StorageMode,
        catalog: Catalog,
        registry: Callable[[], Registry] = packaged,
    ) -> None:
        self.settings = settings
        self.mode = mode
        self.catalog = catalog
        self.writer = ReadingWriter(
            pool, partitioned=not mode.timescale, partition_width_us=mode.partition_width_us
        )
        self.maintenance = Maintenance(
            pool,
            mode,
            interval_s=settings.db.rollup_interval_s,
            retention_days=settings.db.retention_days,
        )
        self.queue: Inbox[IngestBatch] = Inbox(settings.ingest.queue_max_batches)
        self.consumer = Consumer(settings, self.queue.put, self.queue.join, registry)
        self._sinks: list[Sink] = []
        self.committed_readings = 0

    def add_sink(self, sink: Sink) -> None:
        """Call ``sink`` with every committed batch."""
        self._sinks.append(sink)

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Ingest until ``stop`` is set, then drain: flush, commit, acknowledge, return.

        Raises:
            BrokerError: the broker refused us for good.
            StorageError: a database error that retrying cannot fix.
            TimeoutError: the drain took longer than ``ingest.shutdown_timeout_s``.
        """
        await self.catalog.load()
        writer_stop = asyncio.Event()  # set once the consumer has drained
        async with asyncio.TaskGroup() as tg:
            consumer = tg.create_task(self.consumer.run(stop), name="consumer")
            writer = tg.create_task(self._write_loop(writer_stop), name="writer")
            # The upkeep ends its round at stop; finish() below does the last refresh.
            upkeep = tg.create_task(self.maintenance.run(stop), name="maintenance")
            if ready is not None:
                tg.create_task(_set_when(self.consumer.connected, ready, stop))
            await stop.wait()
            logger.info("stopping intake")
            deadline = asyncio.get_running_loop().time() + self.settings.ingest.shutdown_timeout_s
            async with asyncio.timeout_at(deadline):
                # The consumer returns once every batch it put was committed and acked.
                await consumer
                writer_stop.set()
                await writer
                await upkeep
        # Only what is left of the shutdown budget; the next start refreshes the rest.
        await self.maintenance.finish(deadline)
        logger.info("ingest stopped after %d readings", self.committed_readings)

    async def _write_loop(self, stop: asyncio.Event) -> None:
        """Write queued batches until ``stop`` is set and none is left."""
        while (item := await self.queue.next(stop)) is not None:
            INGEST_QUEUE_DEPTH.set(self.queue.qsize())
            try:
                batch, dead = await self._retrying(self._to_batch, item)
                started = time.perf_counter()
                result = await self._retrying(self.writer.write, batch, dead, item.statuses)
                INGEST_WRITE_SECONDS.observe(time.perf_counter() - started)
                item.ack()
                self._account(batch, dead, result)
                # The committed batch: deduplicated once, by the writer, as stored.
                for sink in self._sinks:
                    await sink(result.batch)
            finally:
                self.queue.task_done()

    async def _to_batch(self, item: IngestBatch) -> tuple[Batch, list[DeadLetter]]:
        """The batch in catalog ids, and every dead letter to record with it."""
        ids = np.asarray(await self.catalog.resolve(item.keys), dtype=np.int32)
        series = ids[item.key_index] if len(ids) else np.empty(0, np.int32)
        batch = Batch(series, item.time, item.value)
        refused = series == REFUSED
        if not refused.any():
            return batch, item.dead
        limit = self.settings.ingest.max_new_series_per_factory_per_hour
        why = f"new series beyond {limit} per factory per hour"
        return batch.take(~refused), item.dead + item.refused(refused, "series_limit", why)

    async def _retrying(
        self, fn: Callable[_P, Awaitable[_T]], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """Retry transient database failures forever, with capped, jittered backoff.

        Meanwhile the queue fills and intake stops: the broker keeps what we have not
        acknowledged. Errors that a retry cannot fix propagate and stop the service.
        """
        ing = self.settings.ingest
        backoff = Backoff(ing.write_retry_initial_s, ing.write_retry_max_s)
        return await retry_transient(
            lambda: fn(*args, **kwargs), backoff, "ingest", INGEST_WRITE_RETRIES.inc
        )

    def _account(self, batch: Batch, dead: list[DeadLetter], result: WriteResult) -> None:
        n = len(batch)
        self.committed_readings += result.inserted
        INGEST_READINGS.inc(result.inserted)
        INGEST_BATCH_READINGS.observe(n)
        for letter in dead:
            INGEST_DEAD_LETTERS.labels(letter.reason).inc()
        if n:
            self.maintenance.touched(batch.time)


async def _set_when(source: asyncio.Event, target: asyncio.Event, stop: asyncio.Event) -> None:
    """Set ``target`` once ``source`` is set; return at ``stop`` either way."""
    await any_set(source, stop)
    if source.is_set():
        target.set()

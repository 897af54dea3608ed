"""Idempotent write strategies for readings, measured side by side on one fresh database.

Every strategy writes the same kind of batches (B readings over S series, fresh times) into
``readings`` (plain PostgreSQL: native partitions, the unique index on (series_id, time)):

- ``copy_savepoint``: binary COPY straight into ``readings`` inside a savepoint (the
  writer's common path: correct because a duplicate fails the whole COPY, see below);
- ``stage_on_conflict``: binary COPY into a temporary table, then ``INSERT ... SELECT ...
  ON CONFLICT DO NOTHING`` (correct with duplicates, always pays the second pass);
- ``insert_on_conflict``: ``executemany`` of ``INSERT ... ON CONFLICT DO NOTHING``;
- ``copy_records``: asyncpg's ``copy_records_to_table`` (Python tuples, no duplicates
  allowed).

Then the service's ``ReadingWriter.write`` end to end, on fresh batches and on batches of
which 10% were stored already (redelivery: the savepoint COPY fails on the index and the
batch goes through the staging table). Rows per second are medians over the batches;
every strategy is checked to store each row exactly once.

    .venv/bin/python bench/writer.py [--batch 10000] [--batches 20] [--series 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
from simulators.kinds import Kind

from controlcenter.config import Settings
from controlcenter.domain import Batch, SensorKey, SeriesKey
from controlcenter.store import Catalog, ReadingWriter, migrate, read_storage_mode
from controlcenter.store.writer import encode_copy_binary

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COLUMNS = ("time", "series_id", "value")


async def _chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


class Source:
    """Fresh batches: B readings over S series, one second apart per series, never reused."""

    def __init__(self, ids: list[int], batch: int) -> None:
        self.ids = np.asarray(ids, np.int32)
        self.batch = batch
        self.t = int((time.time() - 7 * 86_400) * 1e6)  # a week ago: inside the partitions
        self.rng = np.random.default_rng(5)

    def next(self) -> Batch:
        k = -(-self.batch // len(self.ids))
        s = np.tile(self.ids, k)[: self.batch]
        t = self.t + np.repeat(np.arange(k, dtype=np.int64) * 1_000_000, len(self.ids))
        self.t = int(t[: self.batch].max()) + 1_000_000
        return Batch(s, t[: self.batch], self.rng.normal(50.0, 5.0, self.batch))


async def copy_savepoint(conn: asyncpg.Connection, b: Batch) -> None:
    async with conn.transaction(), conn.transaction():
        await conn.copy_to_table(
            "readings", source=_chunk(encode_copy_binary(b)), columns=_COLUMNS, format="binary"
        )


async def stage_on_conflict(conn: asyncpg.Connection, b: Batch) -> None:
    async with conn.transaction():
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS bench_stage "
            "(time timestamptz, series_id int, value double precision) ON COMMIT DELETE ROWS"
        )
        await conn.copy_to_table(
            "bench_stage", source=_chunk(encode_copy_binary(b)), columns=_COLUMNS, format="binary"
        )
        await conn.execute(
            "INSERT INTO readings (time, series_id, value) "
            "SELECT time, series_id, value FROM bench_stage ON CONFLICT DO NOTHING"
        )


def _records(b: Batch) -> list[tuple[datetime, int, float]]:
    times = [_EPOCH + timedelta(microseconds=t) for t in b.time.tolist()]
    return list(zip(times, b.series.tolist(), b.value.tolist(), strict=True))


async def insert_on_conflict(conn: asyncpg.Connection, b: Batch) -> None:
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO readings (time, series_id, value) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            _records(b),
        )


async def copy_records(conn: asyncpg.Connection, b: Batch) -> None:
    async with conn.transaction():
        await conn.copy_records_to_table("readings", records=_records(b), columns=_COLUMNS)


async def _timed(n: int, rows: int, step: Callable[[], Awaitable[None]]) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        await step()
        times.append(time.perf_counter() - t0)
    return rows / statistics.median(times)


async def run(args: argparse.Namespace, url: str) -> list[tuple[str, float]]:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        site = f"wb{uuid.uuid4().hex[:6]}"
        keys = [
            SeriesKey(SensorKey(site, f"f{i % 50}", Kind.POWER, f"m{i}"), "kw")
            for i in range(args.series)
        ]
        ids = await Catalog(pool).resolve(keys)
        mode = await read_storage_mode(pool)
        writer = ReadingWriter(
            pool, partitioned=not mode.timescale, partition_width_us=mode.partition_width_us
        )
        src = Source(ids, args.batch)
        await writer.write(src.next())  # partitions exist before anything is timed
        out: list[tuple[str, float]] = []
        async with pool.acquire() as conn:
            for name, fn in (
                ("copy_savepoint", copy_savepoint),
                ("stage_on_conflict", stage_on_conflict),
                ("insert_on_conflict", insert_on_conflict),
                ("copy_records", copy_records),
            ):
                n = max(2, args.batches // 4) if name == "insert_on_conflict" else args.batches

                async def step(fn: Callable = fn) -> None:
                    await fn(conn, src.next())

                out.append((name, await _timed(n, args.batch, step)))

        async def fresh() -> None:
            await writer.write(src.next())

        out.append(("ReadingWriter.write, fresh", await _timed(args.batches, args.batch, fresh)))
        rng = np.random.default_rng(9)
        times = []
        for _ in range(args.batches):
            b = src.next()
            old = np.sort(rng.choice(len(b), len(b) // 10, replace=False))
            await writer.write(b.take(old))  # 10% of it was committed before (untimed)
            t0 = time.perf_counter()
            result = await writer.write(b)
            times.append(time.perf_counter() - t0)
            if result.duplicates != len(old):
                raise SystemExit(f"{result.duplicates} duplicates reported, {len(old)} expected")
        out.append(
            ("ReadingWriter.write, 10% already stored", args.batch / statistics.median(times))
        )
        stored = await pool.fetchval(
            "SELECT count(*) = count(DISTINCT (series_id, time)) FROM readings"
        )
        if not stored:
            raise SystemExit("a strategy stored a row twice")
        return out
    finally:
        await pool.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--series", type=int, default=1_000)
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    name = f"cc_bench_writer_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = args.server.rsplit("/", 1)[0] + "/" + name
    try:
        await migrate(Settings(database_url=url, db={"timescale": "off"}))
        rows = await run(args, url)
    finally:
        admin = await asyncpg.connect(args.server)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(f"# batches of {args.batch:,} readings over {args.series:,} series, medians")
    print("| strategy | rows/s |")
    print("|---|---|")
    for label, rate in rows:
        print(f"| {label} | {rate:,.0f} |")
    print(
        f"# reproduce: .venv/bin/python bench/writer.py --batch {args.batch} "
        f"--batches {args.batches} --series {args.series}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())

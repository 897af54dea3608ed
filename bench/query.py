"""Query latency of the API: latest values of 10,000 series, 30 days of 1-minute history.

Builds a fresh database (10,000 series: 10 sites x 50 factories x 20 series; one latest
reading each; 30 days of 1-minute rollup rows for one series and a year of 1-minute and
1-hour rollup rows for another), starts the API in a child process (its live cache filled
with the latest values, as ingest would keep it) and times sequential requests from this
process over keep-alive HTTP. Targets: latest of 10,000 series p99 < 20 ms; 30 days of
1-minute history p99 < 50 ms.

    .venv/bin/python bench/query.py [--requests 200] [--server postgresql://...]

Plain-PostgreSQL storage (the rollups are tables the benchmark fills directly).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import numpy as np
from simulators.kinds import Kind

from controlcenter.api import ApiKeys, ApiState, LiveHub, Role, SeriesIndex, create_app, serve
from controlcenter.config import Settings
from controlcenter.domain import Batch, SensorKey, SeriesKey
from controlcenter.embedded._port import free_port
from controlcenter.gcpolicy import gc_policy
from controlcenter.store import Catalog, ReadingWriter, migrate, read_storage_mode

SITES, FACTORIES = 10, 50
SENSORS = [("aq1", Kind.AIR, ("pm10", "pm25", "co2", "temp", "humidity"))] + [
    (f"aq{i}", Kind.AIR, ("pm10", "pm25", "co2", "temp", "humidity")) for i in (2, 3)
]
SENSORS += [("m1", Kind.POWER, ("kw", "kwh", "voltage", "current", "pf"))]


def keys() -> list[SeriesKey]:
    out = []
    for s in range(SITES):
        for f in range(FACTORIES):
            for code, kind, metrics in SENSORS:
                for m in metrics:
                    out.append(SeriesKey(SensorKey(f"bq{s}", f"f{f:03d}", kind, code), m))
    return out


async def seed(url: str) -> tuple[int, int]:
    """Fill the database; return the ids of the 30-day and the one-year series."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        mode = await read_storage_mode(pool)
        if mode.timescale:
            raise SystemExit("this benchmark fills rollup tables: run it on plain PostgreSQL")
        ids = await Catalog(pool).resolve(keys())
        now = time.time_ns() // 1000
        writer = ReadingWriter(pool, partitioned=True, partition_width_us=mode.partition_width_us)
        values = np.random.default_rng(1).uniform(0, 100, len(ids))
        await writer.write(Batch.from_lists(ids, np.full(len(ids), now), values))
        month, year = ids[0], ids[1]
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        for sid, days, table, step, n in (
            (month, 30, "readings_1m", "1 minute", 60),
            (month, 30, "readings_5m", "5 minutes", 300),
            (month, 30, "readings_1h", "1 hour", 3600),
            (year, 365, "readings_1m", "1 minute", 60),
            (year, 365, "readings_5m", "5 minutes", 300),
            (year, 365, "readings_1h", "1 hour", 3600),
        ):
            # One reading per second: `n` per bucket (the tables and widths are constants).
            await pool.execute(
                f"INSERT INTO {table} (bucket, series_id, min, max, sum, count, last)"  # noqa: S608
                f" SELECT b, $1, 1, 3, 2 * $4::int, $4, 2 FROM generate_series("
                f"$2::timestamptz - make_interval(days => $3), $2, interval '{step}') AS b",
                sid,
                end,
                days,
                n,
            )
        await pool.execute("ANALYZE")
        return month, year
    finally:
        await pool.close()


async def run_server(url: str, port: int) -> None:
    """Child process: the API over the seeded database, its cache filled like ingest does."""
    settings = Settings(database_url=url, mqtt_url="mqtt://127.0.0.1:1883")
    settings = settings.model_copy(
        update={"api": settings.api.model_copy(update={"port": port}), "log_level": "WARNING"}
    )
    pool = await asyncpg.create_pool(url, min_size=2, max_size=10)
    catalog = Catalog(pool)
    await catalog.load()
    index = SeriesIndex(catalog)
    hub = LiveHub(settings.api, index)
    rows = await pool.fetch(
        "SELECT series_id, (extract(epoch FROM time) * 1e6)::int8 AS t, value FROM readings"
    )
    hub.update(
        Batch.from_lists(
            [r["series_id"] for r in rows], [r["t"] for r in rows], [r["value"] for r in rows]
        )
    )
    connected = asyncio.Event()
    connected.set()
    state = ApiState(settings, pool, index, hub, ApiKeys(pool), connected)
    stop = asyncio.Event()
    async with gc_policy(settings.runtime):  # as `controlcenter serve` runs
        await serve(create_app(state), settings, stop)


def pct(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000, q))


async def timed(client: httpx.AsyncClient, n: int, path: str, params: dict) -> dict[str, float]:
    for _ in range(5):  # warm-up
        (await client.get(path, params=params)).raise_for_status()
    samples = []
    size = 0
    for _ in range(n):
        t0 = time.perf_counter()
        r = await client.get(path, params=params)
        samples.append(time.perf_counter() - t0)
        r.raise_for_status()
        size = len(r.content)
    return {
        "p50_ms": round(pct(samples, 50), 2),
        "p99_ms": round(pct(samples, 99), 2),
        "mean_ms": round(statistics.fmean(samples) * 1000, 2),
        "bytes": size,
    }


@contextlib.asynccontextmanager
async def fresh_database(server: str) -> AsyncIterator[str]:
    name = f"cc_bench_query_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield urlunsplit(urlsplit(server)._replace(path="/" + name))
    finally:
        conn = await asyncpg.connect(server)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        await run_server(args.serve[0], int(args.serve[1]))
        return
    async with fresh_database(args.server) as url:
        await migrate(Settings(database_url=url, db={"timescale": "off"}))
        t0 = time.perf_counter()
        month, year = await seed(url)
        print(f"seeded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        _, key = await ApiKeys(pool).create(Role.VIEWER)
        await pool.close()
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", url, str(port)
        )
        try:
            await _measure(args.requests, port, key, month, year)
        finally:
            proc.terminate()
            await proc.wait()


async def _measure(n: int, port: int, key: str, month: int, year: int) -> None:
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=30) as c:
        for _ in range(200):
            with contextlib.suppress(httpx.TransportError):
                if (await c.get("/health")).status_code == 200:
                    break
            await asyncio.sleep(0.1)
        now = datetime.now(UTC)

        def span(days: int) -> dict[str, str]:
            return {"start": (now - timedelta(days=days)).isoformat(), "end": now.isoformat()}

        latest = await timed(c, n, "/api/v1/latest", {"metric": "pm25"})
        latest_all = await timed(c, n, "/api/v1/latest", {})  # no filter: every series
        month_1000 = await timed(
            c, n, "/api/v1/history", {"series": month, "max_points": 1000, **span(30)}
        )
        month_10k = await timed(
            c, n, "/api/v1/history", {"series": month, "max_points": 10_000, **span(30)}
        )
        year_1000 = await timed(
            c, n, "/api/v1/history", {"series": year, "max_points": 1000, **span(365)}
        )
        counts = (await c.get("/api/v1/latest")).json()["count"]
        sources = [
            (
                await c.get("/api/v1/history", params={"series": s, "max_points": p, **span(d)})
            ).json()["source"]
            for s, p, d in ((month, 1000, 30), (month, 10_000, 30), (year, 1000, 365))
        ]
    results = {
        "latest_pm25_1500_series": latest,
        f"latest_all_{counts}_series": latest_all,
        f"history_30d_1m_max1000 ({sources[0]})": month_1000,
        f"history_30d_1m_max10000 ({sources[1]})": month_10k,
        f"history_365d_max1000 ({sources[2]})": year_1000,
    }
    for name, r in results.items():
        print(f"{name:45s} p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  ({r['bytes']} B)")
    print(json.dumps(results))
    print(f"command: .venv/bin/python {Path(__file__).relative_to(Path.cwd())} --requests {n}")


if __name__ == "__main__":
    asyncio.run(main())

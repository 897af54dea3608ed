"""Monthly report over 10,000 series: the time to make it, and a bare SQL aggregate's.

Builds a fresh database with one site of 100 factories, each with 25 air sensors (PM10 and
PM2.5: 50 series), 10 power meters (kW: 10 series) and 20 parking lots (occupied and
capacity: 40 series), 10,000 series in all, and fills the rollups the reports read with a
month (30 days) of rows: ``readings_1h`` for every series (7.2 million rows) and
``readings_5m`` for the meters (8.6 million rows), plus 3,000 alerts. Then it makes the
site's monthly report (PDF and workbook) and times:

- gather: every figure, from the rollups (the report's queries);
- render: charts, PDF or workbook;
- baseline: one bare aggregate over the same rows (per series: mean and maximum from
  ``readings_1h``, 15-minute means from ``readings_5m``), the least any report could read.

Target: the whole report in under a minute.

    .venv/bin/python bench/report.py [--factories 100] [--days 30] [--server postgresql://...]

Plain-PostgreSQL storage (the benchmark fills the rollup tables directly).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from controlcenter.config import Settings
from controlcenter.domain import SensorKey, SeriesKey
from controlcenter.reports import Period, Scope, gather, render
from controlcenter.store import Catalog, migrate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from query import fresh_database  # the sibling benchmark's scratch database

SITE, TZ = "bench", "Asia/Seoul"
AIR, METERS, LOTS = 25, 10, 20


def keys(factories: int) -> list[SeriesKey]:
    out = []
    for f in range(factories):
        code = f"f{f:03d}"
        for k in range(AIR):
            air = SensorKey(SITE, code, "air", f"aq{k}")
            out += [SeriesKey(air, "pm10"), SeriesKey(air, "pm25")]
        out += [SeriesKey(SensorKey(SITE, code, "power", f"m{k}"), "kw") for k in range(METERS)]
        for k in range(LOTS):
            lot = SensorKey(SITE, code, "parking", f"p{k}")
            out += [SeriesKey(lot, "occupied"), SeriesKey(lot, "capacity")]
    return out


_VALUE = """CASE s.metric WHEN 'pm10' THEN 5 + random() * 160 WHEN 'pm25' THEN 2 + random() * 80
    WHEN 'kw' THEN 100 + random() * 400 WHEN 'capacity' THEN 100 ELSE random() * 100 END"""
_FILL = """
INSERT INTO {table} (bucket, series_id, min, max, sum, count, last)
SELECT b, series_id, v * 0.8, least(v * 1.25, greatest(v, 100)), v * {n}, {n}, v
FROM (SELECT b, s.series_id, {value} AS v FROM series s
      CROSS JOIN generate_series($1::timestamptz, $2::timestamptz - interval '{width}',
                                 interval '{width}') b
      WHERE s.metric = ANY($3::text[])) x
"""
_ALERTS = """
INSERT INTO alerts (rule_name, subject, state, severity, site, factory, opened_at,
                    acknowledged_at, resolved_at)
SELECT (ARRAY['pm10_high', 'pm25_high', 'power_over_contract'])[1 + k % 3], 'bench-' || k,
       'resolved', (ARRAY['info', 'warning', 'critical'])[1 + k % 3], $1,
       'f' || lpad((k % $4)::text, 3, '0'), t, t + random() * interval '1 hour',
       t + interval '1 hour' + random() * interval '5 hours'
FROM (SELECT k, $2::timestamptz + random() * ($3::timestamptz - $2::timestamptz) AS t
      FROM generate_series(1, 3000) k) x
"""


async def seed(url: str, factories: int, period: Period) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        await Catalog(pool).resolve(keys(factories))
        await pool.execute("UPDATE factories SET contract_kw = 3000")
        await pool.execute("ALTER TABLE readings_1h SET (autovacuum_enabled = off)")
        await pool.execute("ALTER TABLE readings_5m SET (autovacuum_enabled = off)")
        async with pool.acquire() as conn:
            await conn.execute(
                _FILL.format(table="readings_1h", n=12, width="1 hour", value=_VALUE),
                period.start,
                period.end,
                ["pm10", "pm25", "kw", "occupied", "capacity"],
                timeout=3600,
            )
            await conn.execute(
                _FILL.format(table="readings_5m", n=1, width="5 minutes", value=_VALUE),
                period.start,
                period.end,
                ["kw"],
                timeout=3600,
            )
            await conn.execute(_ALERTS, SITE, period.start, period.end, factories)
            await conn.execute("VACUUM ANALYZE readings_1h", timeout=3600)
            await conn.execute("VACUUM ANALYZE readings_5m", timeout=3600)
            await conn.execute("ANALYZE")
    finally:
        await pool.close()


_BASELINE_1H = """
SELECT series_id, sum(sum) / sum(count), max(max), count(*) FROM readings_1h
WHERE series_id = ANY($1) AND bucket >= $2 AND bucket < $3 GROUP BY series_id
"""
_BASELINE_5M = """
SELECT series_id, date_bin('15 minutes', bucket, TIMESTAMPTZ '2000-01-01'),
       sum(sum) / sum(count)
FROM readings_5m WHERE series_id = ANY($1) AND bucket >= $2 AND bucket < $3 GROUP BY 1, 2
"""


async def baseline(pool: asyncpg.Pool, period: Period) -> float:
    ids = [r["series_id"] for r in await pool.fetch("SELECT series_id FROM series")]
    kw = [
        r["series_id"] for r in await pool.fetch("SELECT series_id FROM series WHERE metric = 'kw'")
    ]
    t0 = time.perf_counter()
    await pool.fetch(_BASELINE_1H, ids, period.start, period.end, timeout=600)
    await pool.fetch(_BASELINE_5M, kw, period.start, period.end, timeout=600)
    return time.perf_counter() - t0


async def measure(url: str, period: Period, rounds: int) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2, command_timeout=600)
    try:
        await baseline(pool, period)  # warm the cache for both
        for _ in range(rounds):
            base = await baseline(pool, period)
            t0 = time.perf_counter()
            data = await gather(pool, Scope(SITE), period)
            t1 = time.perf_counter()
            pdf = await asyncio.to_thread(render, data, "ko", "pdf")
            t2 = time.perf_counter()
            xlsx = await asyncio.to_thread(render, data, "en", "xlsx")
            t3 = time.perf_counter()
            whole = t2 - t0
            print(
                f"monthly report, {len(data.air.stations)} PM + {len(data.energy.factories)} "
                f"factories' meters + {len(data.parking.lots)} lots: gather {t1 - t0:.2f} s, "
                f"PDF {t2 - t1:.2f} s ({len(pdf):,} bytes), workbook {t3 - t2:.2f} s "
                f"({len(xlsx):,} bytes); report (gather + PDF) {whole:.2f} s; "
                f"bare SQL aggregate {base:.2f} s; ratio {whole / base:.2f}x; "
                f"target < 60 s: {'met' if whole < 60 else 'MISSED'}"
            )
    finally:
        await pool.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--factories", type=int, default=100, help="100 series each")
    ap.add_argument("--days", type=int, default=30, choices=range(28, 32), metavar="28..31")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    # A past month of the chosen length (within the rollups' retention).
    month = datetime.now(UTC).replace(day=1) - timedelta(days=1)
    while (period := Period.month(month.year, month.month, TZ)).days != args.days:
        month = month.replace(day=1) - timedelta(days=1)
    async with fresh_database(args.server) as url:
        await migrate(Settings(database_url=url, db={"timescale": "off"}))
        t0 = time.perf_counter()
        await seed(url, args.factories, period)
        print(
            f"seeded {args.factories * 100:,} series, {period.label} ({period.days} days) "
            f"in {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
        )
        await measure(url, period, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())

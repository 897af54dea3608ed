"""Rollup upkeep: overflow-safe sums, dirty ranges per minute, bounded final refresh."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import pytest

from controlcenter.config import Settings
from controlcenter.domain import Batch, SensorKey, SeriesKey
from controlcenter.store import Catalog, Maintenance, ReadingWriter, migrate, read_storage_mode
from tests._support import eventually, publish, running_service
from tests.conftest import create_database, drop_database

US = 1_000_000
MINUTE = 60 * US
MAX_FLOAT8 = 1.7976931348623157e308


async def _series(pool, n: int, kind: str = "power", metric: str = "kw") -> list[int]:
    site = f"s{uuid.uuid4().hex[:8]}"
    keys = [SeriesKey(SensorKey(site, "f1", kind, f"m{i}"), metric) for i in range(n)]
    return await Catalog(pool).resolve(keys)


def _minute_ago(minutes: int) -> int:
    now = time.time_ns() // 1000
    return (now // MINUTE - minutes) * MINUTE


async def _upkeep(pool, **kw) -> Maintenance:
    mode = await read_storage_mode(pool)
    return Maintenance(pool, mode, interval_s=0.2, retention_days=365, startup_lookback_s=0, **kw)


async def _rollup(pool, view: str, sid: int):
    return await pool.fetch(
        f"SELECT bucket, min, max, sum, count, avg, last FROM {view} "
        "WHERE series_id = $1 ORDER BY bucket",
        sid,
    )


async def test_sums_beyond_the_float_range_do_not_stop_the_rollups_of_other_series(pool):
    # Stored by any writer (the ingest limits do not bind rows already stored).
    huge, ok = await _series(pool, 2)
    t0 = _minute_ago(90) // (60 * MINUTE) * (60 * MINUTE)  # an hour boundary
    rows = [
        (t0 + 1 * US, huge, 1e308),
        (t0 + 2 * US, huge, 1e308),  # 2e308 in one minute: beyond float8
        (t0 + MINUTE, huge, 1.5e308),  # and over the hour with the minute above
        (t0 + 3 * US, ok, 1.0),
        (t0 + 4 * US, ok, 2.0),
        (t0 + MINUTE + 5 * US, ok, 4.0),
    ]
    await pool.copy_records_to_table(
        "readings",
        records=[(datetime.fromtimestamp(t / US, UTC), s, v) for t, s, v in rows],
        columns=("time", "series_id", "value"),
    )
    upkeep = await _upkeep(pool)
    upkeep.touched(np.array([t for t, _, _ in rows], np.int64))
    await upkeep.refresh()
    assert upkeep.dirty_ranges == []

    minute = [tuple(r.values())[1:] for r in await _rollup(pool, "readings_1m", ok)]
    assert minute == [(1.0, 2.0, 3.0, 2, 1.5, 2.0), (4.0, 4.0, 4.0, 1, 4.0, 4.0)]
    for view in ("readings_5m", "readings_1h"):
        (row,) = await _rollup(pool, view, ok)
        assert tuple(row.values())[1:] == (1.0, 4.0, 7.0, 3, 7.0 / 3, 4.0)

    first, second = await _rollup(pool, "readings_1m", huge)
    assert (first["min"], first["max"], first["count"], first["last"]) == (1e308, 1e308, 2, 1e308)
    assert first["sum"] == MAX_FLOAT8  # clamped, not an error
    assert second["sum"] == 1.5e308
    for view in ("readings_5m", "readings_1h"):
        (row,) = await _rollup(pool, view, huge)
        assert (row["count"], row["sum"], row["avg"]) == (3, MAX_FLOAT8, MAX_FLOAT8 / 3)


async def test_a_late_reading_refreshes_its_own_minutes_not_the_span_back_to_it(pool, writer):
    mode = await read_storage_mode(pool)
    if mode.timescale:
        pytest.skip("observes which buckets the rollup tables hold (views under TimescaleDB)")
    late, current, witness = await _series(pool, 3)
    old = _minute_ago(2 * 24 * 60) + 7 * US
    now = _minute_ago(2) + 11 * US
    batch = Batch.from_lists([late, current, current], [old, now, now + US], [1.0, 2.0, 3.0])
    await writer.write(batch)
    # A row between the two that no batch reported: a span refresh would roll it up.
    middle = datetime.fromtimestamp((old + now) / 2 / US, UTC)
    await pool.execute("INSERT INTO readings VALUES ($1, $2, 5.0)", middle, witness)

    upkeep = await _upkeep(pool)
    upkeep.touched(batch.time)
    assert upkeep.dirty_ranges == [
        (old - 7 * US, old - 7 * US + MINUTE),
        (now - 11 * US, now - 11 * US + MINUTE),
    ]
    await upkeep.refresh()
    assert [r["count"] for r in await _rollup(pool, "readings_1m", late)] == [1]
    assert [r["count"] for r in await _rollup(pool, "readings_1h", current)] == [2]
    assert await _rollup(pool, "readings_1m", witness) == []


async def test_a_stop_out_of_time_records_its_ranges_and_the_next_start_refreshes_them(
    pool, writer
):
    (sid,) = await _series(pool, 1)
    t = _minute_ago(6 * 60) + 3 * US  # beyond the next start's look-back window
    batch = Batch.from_lists([sid, sid], [t, t + US], [5.0, 7.0])
    await writer.write(batch)
    stopping = await _upkeep(pool)
    stopping.touched(batch.time)
    await stopping.finish(asyncio.get_running_loop().time())  # no time left at all
    assert stopping.dirty_ranges == [(t - 3 * US, t - 3 * US + MINUTE)]
    lo = datetime.fromtimestamp((t - 3 * US) / US, UTC)
    assert await pool.fetchval("SELECT count(*) FROM cc_rollup_pending WHERE lo = $1", lo) == 1
    assert await _rollup(pool, "readings_1m", sid) == []

    next_start = await _upkeep(pool)
    await next_start.refresh()
    (row,) = await _rollup(pool, "readings_1m", sid)
    assert (row["count"], row["sum"]) == (2, 12.0)
    assert await pool.fetchval("SELECT count(*) FROM cc_rollup_pending WHERE lo = $1", lo) == 0


async def _locked_rollups(database_url: str) -> asyncpg.Connection:
    """A connection holding a lock that blocks every write to ``readings_1m``."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("BEGIN")
    await conn.execute("LOCK TABLE readings_1m IN EXCLUSIVE MODE")
    return conn


async def test_the_final_refresh_stops_at_the_deadline(pool, writer, database_url):
    if (await read_storage_mode(pool)).timescale:
        pytest.skip("blocks the refresh with a lock on the rollup table")
    (sid,) = await _series(pool, 1)
    t = _minute_ago(5 * 60)
    batch = Batch.from_lists([sid], [t], [1.0])
    await writer.write(batch)
    upkeep = await _upkeep(pool)
    upkeep.touched(batch.time)
    lock = await _locked_rollups(database_url)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await upkeep.finish(started + 1.0)
        took = loop.time() - started
    finally:
        await lock.close()
    assert 0.9 < took < 3.0
    assert upkeep.dirty_ranges == [(t, t + MINUTE)]
    await (await _upkeep(pool)).refresh()  # the next start
    assert [r["count"] for r in await _rollup(pool, "readings_1m", sid)] == [1]


async def test_a_stopped_upkeep_finishes_the_range_in_progress_and_keeps_the_rest(
    pool, writer, database_url
):
    """``run(stop)``: a stop during a round ends it after the range being refreshed (not
    cancelled halfway); the ranges not reached stay to do, and ``finish`` refreshes them."""
    if (await read_storage_mode(pool)).timescale:
        pytest.skip("blocks the refresh with a lock on the rollup table")
    sids = await _series(pool, 3)
    times = [_minute_ago(h * 60 + 5) for h in (2, 3, 4)]  # three hours: three ranges
    batch = Batch.from_lists(sids, times, [1.0, 2.0, 3.0])
    await writer.write(batch)
    upkeep = await _upkeep(pool)
    upkeep.touched(batch.time)
    lock = await _locked_rollups(database_url)
    stop = asyncio.Event()
    task = asyncio.create_task(upkeep.run(stop))
    try:
        await asyncio.sleep(0.5)  # the newest range's refresh waits on the lock
        stop.set()
        await asyncio.sleep(0.2)
        assert not task.done()  # it finishes the range in progress first
    finally:
        await lock.close()
    await asyncio.wait_for(task, 10)
    # (Other tests' recorded ranges may be due too: only ours are checked.)
    left = set(upkeep.dirty_ranges)
    assert (times[0], times[0] + MINUTE) not in left
    assert {(t, t + MINUTE) for t in times[1:]} <= left
    assert [r["count"] for r in await _rollup(pool, "readings_1m", sids[0])] == [1]
    for sid in sids[1:]:
        assert await _rollup(pool, "readings_1m", sid) == []
    await upkeep.finish(asyncio.get_running_loop().time() + 10)
    for sid in sids[1:]:
        assert [r["count"] for r in await _rollup(pool, "readings_1m", sid)] == [1]


async def test_a_stopping_service_stays_within_its_shutdown_budget(
    pool, database_url, make_settings, mqtt_url, topic_root
):
    if (await read_storage_mode(pool)).timescale:
        pytest.skip("blocks the refresh with a lock on the rollup table")
    budget = 2.0
    settings: Settings = make_settings(database_url, ingest={"shutdown_timeout_s": budget})
    site = f"s{uuid.uuid4().hex[:8]}"
    ts = time.time_ns() // 1_000_000
    payload = json.dumps({"ts": ts, "values": {"kw": 3.5}}).encode()
    loop = asyncio.get_running_loop()
    lock = None
    try:
        async with running_service(settings):
            await publish(mqtt_url, [(f"{topic_root}/v1/{site}/f1/power/m1", payload)])
            await eventually(lambda: _stored(pool, site))
            lock = await _locked_rollups(database_url)  # no refresh can finish now
            started = loop.time()
        took = loop.time() - started  # stop, drain, final refresh, close
    finally:
        if lock is not None:
            await lock.close()
    assert took < budget + 2.0
    minute = datetime.fromtimestamp(ts // 60_000 * 60, UTC)
    recorded = await pool.fetchval(
        "SELECT count(*) FROM cc_rollup_pending WHERE lo <= $1 AND hi > $1", minute
    )
    assert recorded >= 1  # for the next start


async def _stored(pool, site: str) -> bool:
    n = await pool.fetchval(
        "SELECT count(*) FROM readings r JOIN series se USING (series_id)"
        " JOIN sensors s USING (sensor_id) JOIN factories f USING (factory_id)"
        " JOIN sites si USING (site_id) WHERE si.code = $1",
        site,
    )
    return bool(n)


async def test_retention_runs_even_when_the_refresh_fails(pg_server_url, mqtt_url, run_id):
    name = f"cc_test_{run_id}_retention"
    url = await create_database(pg_server_url, name)
    try:
        await migrate(Settings(database_url=url, mqtt_url=mqtt_url, db={"timescale": "off"}))
        db = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            expired = datetime.now(UTC) - timedelta(days=400)
            part = await db.fetchval("SELECT cc_ensure_partition($1)", expired)
            await db.execute("INSERT INTO readings VALUES ($1, 1, 1.0)", expired)
            await db.execute("DROP TABLE readings_5m")  # every refresh fails from now on
            upkeep = await _upkeep(db)
            upkeep.touched(np.array([time.time_ns() // 1000], np.int64))
            stop = asyncio.Event()
            task = asyncio.create_task(upkeep.run(stop))
            try:
                await eventually(lambda: _gone(db, part), timeout=10)
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)  # run(stop) returns: no cancellation
            assert upkeep.dirty_ranges  # the refresh failed, and will be tried again
        finally:
            await db.close()
    finally:
        await drop_database(pg_server_url, name)


async def _gone(pool, table: str) -> bool:
    return await pool.fetchval("SELECT to_regclass($1) IS NULL", table)


@pytest.fixture
async def writer(pool):
    mode = await read_storage_mode(pool)
    return ReadingWriter(
        pool, partitioned=not mode.timescale, partition_width_us=mode.partition_width_us
    )

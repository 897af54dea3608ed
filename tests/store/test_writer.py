import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from controlcenter.domain import Batch, DeadLetter, GatewayStatus, SensorKey, SeriesKey
from controlcenter.store import Catalog, Maintenance, ReadingWriter, read_storage_mode

US = 1_000_000


@pytest.fixture
async def writer(pool):
    mode = await read_storage_mode(pool)
    return ReadingWriter(
        pool, partitioned=not mode.timescale, partition_width_us=mode.partition_width_us
    )


async def _series(pool, n: int) -> list[int]:
    site = f"s{uuid.uuid4().hex[:8]}"
    keys = [SeriesKey(SensorKey(site, "f1", "power", f"m{i}"), "kw") for i in range(n)]
    return await Catalog(pool).resolve(keys)


async def test_binary_copy_stores_exact_times_and_values(pool, writer):
    ids = await _series(pool, 3)
    rng = np.random.default_rng(1)
    t0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp()) * US
    batch = Batch.from_lists(
        np.repeat(ids, 4), t0 + rng.integers(0, 10**9, 12), rng.normal(0, 1e6, 12)
    )
    result = await writer.write(batch)
    assert result.inserted == 12
    rows = await pool.fetch(
        "SELECT series_id, (extract(epoch FROM time) * 1e6)::bigint AS us, value FROM readings "
        "WHERE series_id = ANY($1) ORDER BY series_id, time",
        ids,
    )
    got = sorted((r["series_id"], r["us"], r["value"]) for r in rows)
    want = sorted(
        zip(batch.series.tolist(), batch.time.tolist(), batch.value.tolist(), strict=True)
    )
    assert got == want


async def test_rewriting_a_batch_adds_no_duplicates_and_keeps_new_rows(pool, writer):
    ids = await _series(pool, 2)
    t0 = int(datetime(2026, 11, 21, tzinfo=UTC).timestamp()) * US
    first = Batch.from_lists([ids[0], ids[1]], [t0, t0], [1.0, 2.0])
    assert (await writer.write(first)).inserted == 2
    again = Batch.from_lists([ids[0], ids[1], ids[0]], [t0, t0, t0 + 1], [9.0, 9.0, 3.0])
    result = await writer.write(again)
    assert (result.inserted, result.duplicates) == (1, 2)
    values = await pool.fetch(
        "SELECT value FROM readings WHERE series_id = ANY($1) ORDER BY series_id, time", ids
    )
    assert [r["value"] for r in values] == [1.0, 3.0, 2.0]  # first write wins


async def test_duplicates_inside_one_batch_keep_the_first(pool, writer):
    ids = await _series(pool, 1)
    t0 = int(datetime(2026, 11, 22, tzinfo=UTC).timestamp()) * US
    result = await writer.write(Batch.from_lists([ids[0]] * 3, [t0, t0, t0], [5.0, 6.0, 7.0]))
    assert result.inserted == 1
    assert await pool.fetchval("SELECT value FROM readings WHERE series_id = $1", ids[0]) == 5.0
    # The sinks receive the committed batch: the reading the database kept, once.
    assert (result.batch.time.tolist(), result.batch.value.tolist()) == ([t0], [5.0])


async def test_old_and_future_readings_get_partitions_made_on_demand(pool, writer):
    mode = await read_storage_mode(pool)
    ids = await _series(pool, 1)
    times = [datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)]
    batch = Batch.from_lists(ids * 2, [int(t.timestamp()) * US for t in times], [1.0, 2.0])
    assert (await writer.write(batch)).inserted == 2
    if not mode.timescale:
        names = {
            r["relname"]
            for r in await pool.fetch(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'readings'::regclass"
            )
        }
        assert {"readings_p20260105", "readings_p20260601"} <= names


async def test_dead_letters_and_gateway_status_commit_with_the_batch(pool, writer):
    site = f"s{uuid.uuid4().hex[:8]}"
    now = int(datetime.now(UTC).timestamp() * US)
    await writer.write(
        Batch.empty(),
        [DeadLetter(f"cc/v1/{site}/f/air/x", b"\xff", "malformed_json", "bad")],
        [GatewayStatus(site, "gw1", "offline", now)],
    )
    row = await pool.fetchrow(
        "SELECT payload, reason FROM dead_letters WHERE topic = $1", f"cc/v1/{site}/f/air/x"
    )
    assert (bytes(row["payload"]), row["reason"]) == (b"\xff", "malformed_json")
    status = await pool.fetchval(
        "SELECT gateway_status FROM factories f JOIN sites s USING (site_id) WHERE s.code = $1",
        site,
    )
    assert status == "offline"


async def test_rollups_match_an_aggregate_over_the_raw_rows(pool, writer):
    mode = await read_storage_mode(pool)
    ids = await _series(pool, 2)
    rng = np.random.default_rng(7)
    t0 = int(datetime(2026, 11, 19, 10, tzinfo=UTC).timestamp()) * US
    times = t0 + np.sort(rng.integers(0, 3 * 3600 * US, 500))
    batch = Batch.from_lists(rng.choice(ids, 500), times, rng.normal(50, 10, 500))
    await writer.write(batch)
    # Both modes: plain PostgreSQL fills its tables, TimescaleDB refreshes its continuous
    # aggregates over the same ranges (raw rows are the input either way).
    upkeep = Maintenance(pool, mode, interval_s=1, retention_days=365, startup_lookback_s=0)
    upkeep.touched(times)
    await upkeep.refresh()
    assert upkeep.dirty_ranges == []
    for view, width in (
        ("readings_1m", "1 minute"),
        ("readings_5m", "5 minutes"),
        ("readings_1h", "1 hour"),
    ):
        want = await pool.fetch(
            f"SELECT series_id, date_bin('{width}', time, TIMESTAMPTZ '2000-01-01') AS b, "
            "count(*) AS n, min(value) AS lo, max(value) AS hi, avg(value) AS mean, "
            "(array_agg(value ORDER BY time DESC))[1] AS last "
            "FROM readings WHERE series_id = ANY($1) GROUP BY 1, 2 ORDER BY 1, 2",
            ids,
        )
        got = await pool.fetch(
            f"SELECT series_id, bucket AS b, count AS n, min AS lo, max AS hi, avg AS mean, last "
            f"FROM {view} WHERE series_id = ANY($1) ORDER BY 1, 2",
            ids,
        )
        assert [(r["series_id"], r["b"], r["n"], r["lo"], r["hi"], r["last"]) for r in got] == [
            (r["series_id"], r["b"], r["n"], r["lo"], r["hi"], r["last"]) for r in want
        ]
        assert np.allclose([r["mean"] for r in got], [r["mean"] for r in want])


async def test_catalog_ids_are_dense_and_stable_across_processes(pool):
    site = f"s{uuid.uuid4().hex[:8]}"
    keys = [SeriesKey(SensorKey(site, f"f{i % 3}", "air", f"a{i}"), "pm25") for i in range(20)]
    first = await Catalog(pool).resolve(keys + keys[:5])
    assert first[20:] == first[:5]
    assert sorted(first[:20]) == list(range(min(first), min(first) + 20))
    other = Catalog(pool)
    await other.load()
    assert [other.id_of(k) for k in keys] == first[:20]
    assert other.key_of(first[3]) == keys[3]

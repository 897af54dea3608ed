"""The scoring stage: the engine on committed batches, warm start, listeners, silence."""

from __future__ import annotations

import uuid

import asyncpg
import numpy as np

from controlcenter.domain import Batch, SensorKey, SeriesKey
from controlcenter.scoring import Scoring
from controlcenter.store import Catalog, ReadingWriter, read_storage_mode
from tests._support import (
    eventually,
    gaps_while,
    now_ms,
    own_database,
    publish,
    reading,
    running_service,
)

US = 1_000_000


async def _history(pool, n_series: int, n: int, t_end_us: int):
    """n readings per series, one per 10 s up to t_end_us, stored through the writer."""
    site = f"site{uuid.uuid4().hex[:8]}"
    keys = [SeriesKey(SensorKey(site, "f1", "air", f"a{i}"), "temp") for i in range(n_series)]
    catalog = Catalog(pool)
    ids = await catalog.resolve(keys)
    mode = await read_storage_mode(pool)
    writer = ReadingWriter(
        pool, partitioned=not mode.timescale, partition_width_us=mode.partition_width_us
    )
    rng = np.random.default_rng(3)
    times = t_end_us - np.arange(n)[::-1] * 10 * US
    batch = Batch.from_lists(
        np.repeat(ids, n), np.tile(times, n_series), 21 + 0.2 * rng.standard_normal(n * n_series)
    )
    await writer.write(batch)
    return catalog, ids, batch


async def test_warm_start_fills_windows_from_the_database(make_settings, database_url, pool):
    t_end = now_ms() * 1000
    catalog, ids, history = await _history(pool, 3, 400, t_end - 10 * US)
    scoring = Scoring(make_settings(database_url), pool, catalog)
    seen = []

    async def listener(batch, scores, events):
        seen.append((len(batch), len(scores), len(events)))

    scoring.add_listener(listener)
    new = Batch.from_lists(ids, [t_end] * 3, [21.1, 20.9, 21.0])
    scores, events = await scoring.score(new)
    state = scoring.engine.state()
    window = scoring.engine.config.window
    # The most recent `window` rows were loaded (not all 400), then the new reading.
    assert state["count"][ids].tolist() == [window + 1] * 3
    # The window holds the database's most recent values, then the new reading.
    last_db = history.value[history.series == ids[0]][-1]
    assert last_db in state["values"][ids[0]]
    assert len(events) == 0
    assert scores.max() < 0.5
    assert seen == [(3, 3, 0)]


async def test_a_cold_series_with_no_history_is_scored_without_false_alarms(
    make_settings, database_url, pool
):
    site = f"site{uuid.uuid4().hex[:8]}"
    catalog = Catalog(pool)
    (sid,) = await catalog.resolve([SeriesKey(SensorKey(site, "f1", "power", "m1"), "voltage")])
    scoring = Scoring(make_settings(database_url), pool, catalog)
    t0 = now_ms() * 1000
    rng = np.random.default_rng(5)
    batch = Batch.from_lists([sid] * 200, t0 + np.arange(200) * US, 230 + rng.standard_normal(200))
    scores, events = await scoring.score(batch)
    assert len(events) == 0
    assert scores.shape == (200,)


async def test_impossible_values_become_stored_anomaly_events(
    database_url, make_settings, pool, mqtt_url, topic_root
):
    site = f"site{uuid.uuid4().hex[:8]}"
    t0 = now_ms()
    topic = f"{topic_root}/v1/{site}/f1/air/a1"
    messages = [(topic, reading(t0 - 100_000 + i * 1000, pm25=12 + i % 3)) for i in range(60)]
    messages.append((topic, reading(t0, pm25=5000)))  # beyond any PM2.5 reading on earth
    async with running_service(make_settings(database_url)):
        await publish(mqtt_url, messages)

        async def stored():
            return await pool.fetch(
                "SELECT e.detector, e.value, e.time, e.started_at FROM anomaly_events e "
                "JOIN series se USING (series_id) "
                "JOIN sensors s USING (sensor_id) JOIN factories f USING (factory_id) "
                "JOIN sites si USING (site_id) WHERE si.code = $1",
                site,
            )

        rows = await eventually(stored)
    assert [(r["detector"], r["value"]) for r in rows] == [("limit", 5000.0)]
    assert rows[0]["started_at"] == rows[0]["time"]  # a limit holds for its reading only


async def test_silence_sweep_reports_a_series_that_stopped(make_settings, database_url, pool):
    t_end = now_ms() * 1000
    catalog, ids, _ = await _history(pool, 1, 300, t_end)
    scoring = Scoring(make_settings(database_url), pool, catalog)
    await scoring.score(Batch.from_lists(ids, [t_end + 10 * US], [21.0]))
    assert len(await scoring.sweep(t_end + 20 * US)) == 0
    events = await scoring.sweep(t_end + 3600 * US)
    assert events.series.tolist() == ids
    assert events.names().tolist() == ["silence"]


async def test_warm_start_waits_out_a_database_outage(make_settings, database_url, pool):
    """The warm-start read is retried while the link is down; nothing is scored twice."""
    import asyncio

    import asyncpg

    from tests._support import TcpProxy, target_of, via_proxy

    t_end = now_ms() * 1000
    catalog, ids, _ = await _history(pool, 2, 300, t_end - 10 * US)
    async with TcpProxy(*target_of(database_url, 5432)) as proxy:
        settings = make_settings(database_url, engine={"retry_initial_s": 0.05, "retry_max_s": 0.2})
        flaky = await asyncpg.create_pool(via_proxy(database_url, proxy), min_size=1, max_size=2)
        try:
            scoring = Scoring(settings, flaky, catalog)
            proxy.cut()
            task = asyncio.create_task(
                scoring.score(Batch.from_lists(ids, [t_end] * 2, [21.0, 21.1]))
            )
            await asyncio.sleep(0.8)
            assert not task.done(), "scoring gave up (or skipped the warm start) while cut off"
            proxy.restore()
            scores, events = await asyncio.wait_for(task, 20)
        finally:
            await flaky.close()
    window = scoring.engine.config.window
    assert scoring.engine.state()["count"][ids].tolist() == [window + 1] * 2
    assert len(events) == 0
    assert scores.max() < 0.5


async def test_warm_start_restores_the_daily_baseline_from_the_database(
    make_settings, database_url, pool
):
    """A restart must not forget what each time of day looks like: the daily baseline
    after a warm start equals that of an engine that saw the history live."""
    site = f"site{uuid.uuid4().hex[:8]}"
    catalog = Catalog(pool)
    (sid,) = await catalog.resolve([SeriesKey(SensorKey(site, "f1", "power", "m1"), "kw")])
    mode = await read_storage_mode(pool)
    writer = ReadingWriter(
        pool, partitioned=not mode.timescale, partition_width_us=mode.partition_width_us
    )
    # The history lies in working days (the baseline keeps weekends apart): it ends on the
    # latest Thursday (in the complex's time zone, the service's days) at this time of day.
    settings = make_settings(database_url)
    offset = settings.utc_offset_s() * US
    assert offset != 0  # Asia/Seoul by default: the warm-start query must shift its days too
    t_now = now_ms() * 1000
    weekday = ((t_now + offset) // (86_400 * US) + 3) % 7  # Monday = 0; 1970-01-01: Thursday
    t_end = t_now - ((weekday - 3) % 7) * 86_400 * US
    step = 600 * US  # every 10 minutes for 2.5 days: W = 256 of 360 come from the window
    times = t_end - np.arange(360)[::-1] * step
    hour = (times // (3600 * US)) % 24
    rng = np.random.default_rng(9)
    values = np.where((hour >= 8) & (hour < 18), 50.0, 5.0) + rng.standard_normal(360)
    history = Batch.from_lists([sid] * 360, times, values)
    await writer.write(history)

    scoring = Scoring(settings, pool, catalog)
    await scoring.score(Batch.from_lists([sid], [t_end + step], [values[-1]]))
    live = Scoring(settings, pool, catalog).engine
    live.add_series([sid], "power.kw")
    live.mark_primed([sid])
    live.update(history)
    live.update(Batch.from_lists([sid], [t_end + step], [values[-1]]))

    got, want = scoring.engine.store, live.store
    g, w = int(got.daily_row[sid]), int(want.daily_row[sid])
    assert g >= 0
    assert w >= 0
    gm, wm = got.daily_column("mean")[g], want.daily_column("mean")[w]
    learnt = ~np.isnan(wm)
    assert learnt.sum() >= 40  # most of the 48 slots have a profile from earlier days
    np.testing.assert_array_equal(np.isnan(gm), ~learnt)
    np.testing.assert_allclose(gm[learnt], wm[learnt], rtol=1e-9)
    gv, wv = got.daily_column("var")[g], want.daily_column("var")[w]
    np.testing.assert_allclose(gv[learnt], wv[learnt], rtol=1e-6, atol=1e-9)
    for name in ("n", "day"):
        np.testing.assert_array_equal(got.daily_column(name)[g], want.daily_column(name)[w])


async def test_warm_start_of_thousands_of_series_leaves_the_event_loop_free(
    make_settings, pg_server_url, mqtt_url
):
    """After a restart the first batches bring thousands of series at once: their history
    (a full window each) is read and primed without stalling the event loop, which also
    serves the MQTT link (keep-alive, SUBACK, acks) and the API. Primed in one call on the
    loop, 5,000 series stalled it for ~4.5 s here (20,400 series: 23 s)."""
    n = 5_000
    t_end = now_ms() * 1000
    async with own_database(pg_server_url, mqtt_url) as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        try:
            catalog, ids, history = await _history(pool, n, 256, t_end - 10 * US)
            scoring = Scoring(make_settings(url), pool, catalog)
            gaps = await gaps_while(scoring.score(Batch.from_lists(ids, [t_end] * n, [21.0] * n)))
        finally:
            await pool.close()
    window = scoring.engine.config.window
    assert scoring.engine.state()["count"][ids].tolist() == [window + 1] * n  # all warm
    last = history.value[history.series == ids[-1]][-1]
    assert last in scoring.engine.state()["values"][ids[-1]]
    assert max(gaps) < 1.0, f"the event loop stalled for {max(gaps):.2f} s"


async def test_silence_is_judged_against_the_newest_reading_not_a_late_pipeline(
    make_settings, database_url, pool
):
    # Readings that arrive late (a loaded host, a backlog replayed after an outage) do not
    # make every series look silent: silence is judged against the newest reading scored.
    t_end = now_ms() * 1000
    catalog, ids, _ = await _history(pool, 2, 300, t_end)
    scoring = Scoring(make_settings(database_url), pool, catalog)
    await scoring.score(Batch.from_lists(ids, [t_end + 10 * US] * 2, [21.0, 21.1]))
    # Three minutes on the wall clock, none in the data: nobody is silent (the wall clock
    # alone made both silent: their readings come every 10 s).
    assert scoring.silence_clock(t_end + 190 * US) == t_end + 10 * US
    assert len(await scoring.sweep(t_end + 190 * US)) == 0
    # The first series goes on for five minutes of data, the second does not: silent.
    for k in range(2, 32):
        await scoring.score(Batch.from_lists(ids[:1], [t_end + k * 10 * US], [21.0]))
    events = await scoring.sweep(t_end + 330 * US)
    assert events.series.tolist() == ids[1:]
    assert events.names().tolist() == ["silence"]
    # Nothing at all for longer than the lag (300 s): the wall clock takes over.
    assert scoring.silence_clock(t_end + 3600 * US) == t_end + 3300 * US
    assert (await scoring.sweep(t_end + 3600 * US)).series.tolist() == ids[:1]

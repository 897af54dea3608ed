"""Restarts that must come back: warm start and alert state never starve the MQTT link."""

from __future__ import annotations

import uuid

import asyncpg
import numpy as np
import pytest

from controlcenter.alerts import AlertService
from controlcenter.domain import Batch, SensorKey, SeriesKey
from controlcenter.kinds import packaged
from controlcenter.metrics import INGEST_RECONNECTS
from controlcenter.store import Catalog, ReadingWriter, read_storage_mode
from tests._support import (
    count_readings,
    eventually,
    gaps_while,
    now_ms,
    own_database,
    publish,
    running_service,
)

US = 1_000_000
AIR = list(packaged().units("air"))


@pytest.fixture
async def big_database(pg_server_url, mqtt_url):
    """This module's tests fill a database of their own (see ``own_database``)."""
    async with own_database(pg_server_url, mqtt_url) as url:
        yield url


@pytest.fixture
async def big_pool(big_database):
    p = await asyncpg.create_pool(big_database, min_size=1, max_size=4)
    yield p
    await p.close()


async def _warm_history(pool, site: str, n_sensors: int, depth: int) -> list[int]:
    """``depth`` readings (one per 10 s, ending a minute ago) for every metric of
    ``n_sensors`` air sensors; returns the series ids."""
    keys = [
        SeriesKey(SensorKey(site, f"f{i // 30:02d}", "air", f"a{i}"), m)
        for i in range(n_sensors)
        for m in AIR
    ]
    ids = np.asarray(await Catalog(pool).resolve(keys), dtype=np.int32)
    mode = await read_storage_mode(pool)
    writer = ReadingWriter(
        pool, partitioned=not mode.timescale, partition_width_us=mode.partition_width_us
    )
    t_end = (now_ms() - 60_000) * 1000
    times = t_end - np.arange(depth, dtype=np.int64)[::-1] * 10 * US
    level = np.tile([40.0, 20.0, 600.0, 100.0, 21.0, 50.0], n_sensors)
    rng = np.random.default_rng(13)
    for lo in range(0, len(ids), 1_000):
        sel = ids[lo : lo + 1_000]
        values = np.repeat(level[lo : lo + 1_000], depth)
        values *= 1 + 0.02 * rng.standard_normal(len(values))
        await writer.write(
            Batch.from_lists(np.repeat(sel, depth), np.tile(times, len(sel)), values)
        )
    return ids.tolist()


async def _open_alerts(pool, site: str, pm10_ids: list[int]) -> int:
    """An open PM10 alert on the PM10 series of sensors ``a0...`` (restored at start-up)."""
    rule_id = await pool.fetchval("SELECT rule_id FROM alert_rules WHERE name = 'pm10-grade'")
    rows = [
        (rule_id, f"{site}/f{i // 30:02d}/air/a{i}/pm10", sid, site, f"f{i // 30:02d}", f"a{i}")
        for i, sid in enumerate(pm10_ids)
    ]
    await pool.executemany(
        "INSERT INTO alerts (rule_id, rule_name, subject, severity, series_id, site, factory,"
        " kind, sensor, metric, value, peak_value, last_value, opened_at)"
        " VALUES ($1, 'pm10-grade', $2, 'warning', $3, $4, $5, 'air', $6, 'pm10', 95, 95, 95,"
        " now() - interval '10 minutes')",
        rows,
    )
    return len(rows)


async def _active_alerts(pool, site: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM alerts WHERE site = $1 AND state <> 'resolved'", site
        )
    )


async def test_a_restart_with_a_backlog_over_thousands_of_warm_series_drains_it(
    big_database, make_settings, big_pool, real_broker, topic_root
):
    """Thousands of series with a full window of history each, an open alert on every
    sensor, and a backlog in the session that reaches every series: the restart warm-starts
    all of them while the backlog flows. That must neither stall the connection (the
    SUBACK waits behind the backlog, paused until acks flow) nor make a timeout fatal.

    900 messages: this machine's Mosquitto keeps at most 1000 for an offline session.
    Small queues and a low unacked bound put the warm start on the path of every ack.
    """
    mqtt_url = real_broker
    site = f"site{uuid.uuid4().hex[:8]}"
    n_sensors = 900  # x 6 metrics: 5,400 series to warm-start
    ids = await _warm_history(big_pool, site, n_sensors, depth=256)
    n_alerts = await _open_alerts(big_pool, site, ids[:: len(AIR)])  # pm10 comes first
    settings = make_settings(
        big_database,
        mqtt={"keepalive_s": 5, "connect_timeout_s": 2},
        ingest={"max_unacked_messages": 100, "batch_size": 600, "queue_max_batches": 1},
        engine={"queue_max_batches": 1},
    )
    async with running_service(settings):
        pass  # subscribes: the persistent session exists from here on
    stored = await count_readings(big_pool, site)
    t = now_ms()
    await publish(
        mqtt_url,
        [
            (
                f"{topic_root}/v1/{site}/f{i // 30:02d}/air/a{i}",
                b'{"ts": %d, "values": {"pm10": 41, "pm25": 19, "co2": 610, "voc": 98, '
                b'"temp": 21.2, "humidity": 49}}' % t,
            )
            for i in range(n_sensors)
        ],
    )
    reconnects = INGEST_RECONNECTS._value.get()
    async with running_service(settings):

        async def drained():
            return await count_readings(big_pool, site) == stored + n_sensors * len(AIR)

        await eventually(drained, timeout=120, every=0.5)
    assert INGEST_RECONNECTS._value.get() == reconnects, "the MQTT link was dropped"
    assert await _active_alerts(big_pool, site) == n_alerts  # restored, neither lost nor doubled


async def test_restoring_thousands_of_open_alerts_leaves_the_event_loop_free(
    big_database, make_settings, big_pool
):
    """Alert state is loaded at every start: each open alert's rule cell is restored. Doing
    that one alert at a time must not recompute every series' gates each time (4,000
    alerts over 20,400 series stalled the event loop for 1.2 s; quadratic beyond)."""
    site = f"site{uuid.uuid4().hex[:8]}"
    n = 12_000
    keys = [SeriesKey(SensorKey(site, f"f{i // 30:02d}", "air", f"a{i}"), "pm10") for i in range(n)]
    catalog = Catalog(big_pool)
    await catalog.load()
    await _open_alerts(big_pool, site, await catalog.resolve(keys))
    alerts = AlertService(
        make_settings(big_database, alerts={"publish_mqtt": False}), big_pool, catalog
    )
    gaps = await gaps_while(alerts.start())
    ev = alerts.evaluator
    restored = [k for k in alerts.book.active if k[1].startswith(f"{site}/")]
    assert len(restored) == n
    pm10 = next(i for i, r in enumerate(ev.rules) if r.name == "pm10-grade")
    assert int(ev.active[ev.rule_of_cell == pm10].sum()) >= n  # their rule cells are on
    # Incremental gates equal a full recomputation.
    gate_up, gate_down, hot = ev._gate_up.copy(), ev._gate_down.copy(), ev._hot_cells.copy()
    ev._update_hot_series()
    np.testing.assert_array_equal(ev._hot_cells, hot)
    np.testing.assert_array_equal(ev._gate_up, gate_up)
    np.testing.assert_array_equal(ev._gate_down, gate_down)
    assert max(gaps) < 0.5, f"loading the alerts stalled the event loop for {max(gaps):.2f} s"

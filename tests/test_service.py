"""The service as a process: SIGTERM during an alert storm exits 0 and loses nothing."""

from __future__ import annotations

import asyncio
import signal
import uuid

from tests._support import (
    count_readings,
    eventually,
    now_ms,
    publish,
    reading,
    serve_env,
    start_serve,
    wait_ingesting,
)

#: One reading of these opens four alerts (pm10-grade, pm25-grade, co2-limit, voc-limit).
BREACH = {"pm10": 120.0, "pm25": 50.0, "co2": 1500.0, "voc": 700.0}


async def _open_alerts(pool, site: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM alerts WHERE site = $1 AND state <> 'resolved'", site
        )
    )


async def _history(pool, site: str) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT h.transition, count(*) AS n FROM alert_history h JOIN alerts a USING (alert_id)"
        " WHERE a.site = $1 GROUP BY 1",
        site,
    )
    return {r["transition"]: r["n"] for r in rows}


async def _backlog(pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM alert_backlog"))


async def test_sigterm_during_an_alert_storm_exits_0_and_the_restart_loses_no_transition(
    database_url, make_settings, pool, real_broker, topic_root
):
    """900 air sensors breach four limits at once: 3,600 alerts to open, a transaction
    each, so the lifecycle lags far behind ingest. SIGTERM lands mid-stream and mid-storm.
    The process must exit 0 (it exited 1: the alert stage's drain timed out and its
    TimeoutError went through the TaskGroup, and the queued transitions were dropped), what
    it could not apply must be in ``alert_backlog``, and after a restart every reading is
    stored and every breach has its one open alert with its one ``opened`` history row.

    ``alerts.shutdown_timeout_s`` is 1 s so that the storm outlasts the alert stage's drain
    on any machine. 900 messages: Mosquitto keeps at most 1000 for an offline session.
    """
    mqtt_url = real_broker
    site = f"storm{uuid.uuid4().hex[:8]}"
    n = 900
    settings = make_settings(database_url, ingest={"batch_size": 300, "flush_interval_s": 0.1})
    env = serve_env(settings, CC_ALERTS__SHUTDOWN_TIMEOUT_S="1")
    t0 = now_ms()
    messages = [
        (f"{topic_root}/v1/{site}/f{i // 100:02d}/air/a{i}", reading(t0, **BREACH))
        for i in range(n)
    ]
    proc = await start_serve(env)
    try:
        await wait_ingesting(pool, mqtt_url, topic_root)
        await publish(mqtt_url, messages)
        await eventually(lambda: _at_least(count_readings(pool, site), n * 2), every=0.01)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
        opened_at_stop = await _open_alerts(pool, site)
        left = await _backlog(pool)
        assert opened_at_stop < 4 * n, "the storm was over before SIGTERM: nothing tested"
        assert code == 0
        assert left > 0, "nothing was left to apply at shutdown: nothing tested"
        proc = await start_serve(env)

        async def all_there() -> bool:
            stored = await count_readings(pool, site)
            return stored == 4 * n and await _open_alerts(pool, site) == 4 * n

        await eventually(all_there, timeout=90, every=0.2)
        assert await _history(pool, site) == {"opened": 4 * n}  # each once, none twice
        assert await _backlog(pool) == 0  # applied, then deleted
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 60) == 0


async def _at_least(awaitable, expected):
    return (await awaitable) >= expected

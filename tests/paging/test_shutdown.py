"""A page send in flight at shutdown is recorded once: finished within the grace, or left
in the outbox and sent by the next start (a real local HTTP receiver, a real database)."""

from __future__ import annotations

from controlcenter.paging import Pager, PagingRepository
from tests._support import eventually
from tests.alerts._helpers import T0, Clock, air_keys, batch, feed, register, running
from tests.alerts._helpers import service as make_service

from ._helpers import Receiver, pager_running, person, rota, settings_for, site_code, temp_rule


async def _asked(rx, n):
    return len(rx.seen) >= n


async def _left(pool, contact_id):
    return await pool.fetchval("SELECT count(*) FROM page_outbox WHERE contact_id = $1", contact_id)


async def _setup(pool, make_settings, database_url, rx, **paging):
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 1, "temp"))
    await temp_rule(pool, site)
    settings = settings_for(make_settings, database_url, **paging)
    p = await person(pool, name="late", webhook_url=rx.url + "/x", channels=["webhook"])
    await rota(pool, site, [p])
    clock = Clock()
    svc = make_service(settings, pool, catalog, clock)
    return settings, svc, clock, ids, p


async def _stop_mid_send(settings, pool, svc, clock, ids, rx):
    """Page, and stop the pager once the receiver has the request (still answering)."""
    pager = Pager(settings, pool, clock=clock)
    svc.add_channel(pager.offer)
    async with pager_running(pager):
        await feed(svc, batch([(ids[0], T0, 120.0)]))
        await eventually(lambda: _asked(rx, 1), timeout=15)


async def test_a_send_in_flight_at_shutdown_finishes_within_the_grace_and_is_not_resent(
    pool, make_settings, database_url
):
    async with Receiver(delay_s=0.6) as rx:
        settings, svc, clock, ids, p = await _setup(
            pool, make_settings, database_url, rx, shutdown_grace_s=5
        )
        async with running(svc):
            await _stop_mid_send(settings, pool, svc, clock, ids, rx)
            # stopped while the receiver was still answering: the send finished first
            assert await _left(pool, p.id) == 0
            again = Pager(settings, pool, clock=clock)
            async with pager_running(again):
                await again.dispatch_due()
                await again.idle()
    alert_id = rx.got[0][2]["alert_ids"][0]
    rows = await PagingRepository(pool).deliveries(alert_id)
    assert [(r["attempt"], r["outcome"]) for r in rows] == [(1, "sent")]
    assert len(rx.seen) == 1


async def test_a_send_cut_by_shutdown_is_recorded_and_sent_by_the_next_start(
    pool, make_settings, database_url
):
    async with Receiver(delay_s=5) as rx:
        settings, svc, clock, ids, p = await _setup(
            pool, make_settings, database_url, rx, shutdown_grace_s=0.2
        )
        async with running(svc):
            await _stop_mid_send(settings, pool, svc, clock, ids, rx)
            assert await _left(pool, p.id) == 1  # left for the next start, lease released
            rx.delay_s = 0
            restarted = Pager(settings, pool, clock=clock)
            async with pager_running(restarted):
                await eventually(lambda: _asked(rx, 2), timeout=15)
                await restarted.idle()
            assert await _left(pool, p.id) == 0
    alert_id = rx.seen[1][1]["alert_ids"][0]
    rows = await PagingRepository(pool).deliveries(alert_id)
    assert [(r["attempt"], r["outcome"]) for r in rows] == [(1, "interrupted"), (2, "sent")]
    assert rows[0]["error"] == "cut by shutdown"
    assert [b["reason"] for _, b in rx.seen] == ["opened", "opened"]


async def test_a_send_waiting_to_retry_at_shutdown_goes_on_at_the_next_attempt(
    pool, make_settings, database_url
):
    async with Receiver([503]) as rx:
        settings, svc, clock, ids, p = await _setup(
            pool,
            make_settings,
            database_url,
            rx,
            shutdown_grace_s=0.2,
            retry_initial_s=30,
            retry_max_s=60,
        )
        async with running(svc):
            await _stop_mid_send(settings, pool, svc, clock, ids, rx)  # then waits 15-30 s
            assert (
                await pool.fetchval("SELECT attempt FROM page_outbox WHERE contact_id = $1", p.id)
                == 1
            )
            restarted = Pager(settings, pool, clock=clock)
            async with pager_running(restarted):
                await eventually(lambda: _asked(rx, 2), timeout=15)
                await restarted.idle()
    alert_id = rx.seen[1][1]["alert_ids"][0]
    rows = await PagingRepository(pool).deliveries(alert_id)
    # nothing was in flight when it stopped: no "interrupted" record
    assert [(r["attempt"], r["outcome"]) for r in rows] == [(1, "retry"), (2, "sent")]

"""An alert left unacknowledged goes to whoever is on call now: a repeat due after a
hand-over (here an override) pages the person who took over, not the one who left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controlcenter.paging import OverrideIn, PagingRepository
from tests._support import eventually
from tests.alerts._helpers import T0, air_keys, batch, feed, register

from ._helpers import Receiver, paging, person, rota, settings_for, site_code, temp_rule


async def _n(items, n):
    return len(items) >= n


async def test_a_repeat_after_a_hand_over_pages_the_person_now_on_call(
    pool, make_settings, database_url
):
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 1, "temp"))
    await temp_rule(pool, site, page_repeat_s=60)
    start = datetime.fromtimestamp(T0 / 1e6, UTC)
    async with Receiver() as rx:
        settings = settings_for(make_settings, database_url)
        leaving = await person(
            pool, name="leaving", webhook_url=rx.url + "/a", channels=["webhook"]
        )
        taking = await person(pool, name="taking", webhook_url=rx.url + "/b", channels=["webhook"])
        schedule = await rota(pool, site, [leaving])
        swap = OverrideIn(
            contact_id=taking.id,
            starts_at=start + timedelta(minutes=10),
            ends_at=start + timedelta(hours=2),
        )
        await PagingRepository(pool).add_override(schedule.id, swap)
        async with paging(settings, pool, catalog) as (svc, pager, clock):
            await feed(svc, batch([(ids[0], T0, 120.0)]))
            await eventually(lambda: _n(rx.got, 1), timeout=15)
            await pager.idle()
            clock.now += 11 * 60  # the repeat is due, and "taking" is on call now
            await pager.dispatch_due()  # moves the page
            await pager.dispatch_due()  # sends it
            await eventually(lambda: _n(rx.got, 2), timeout=15)
            await pager.idle()
            clock.now += 61  # the next repeat stays with "taking"
            await eventually(lambda: _n(rx.got, 3), timeout=15)
            await pager.idle()
    assert [(path, b["reason"]) for path, _, b in rx.got] == [
        ("/a", "opened"),
        ("/b", "repeat"),
        ("/b", "repeat"),
    ]
    alert_id = rx.got[0][2]["alert_ids"][0]
    rows = await PagingRepository(pool).deliveries(alert_id)
    skipped = [r for r in rows if r["outcome"] == "skipped"]
    assert [(r["person"], r["error"]) for r in skipped] == [("leaving", "handed over to taking")]

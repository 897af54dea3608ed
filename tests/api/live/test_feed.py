"""The live hub's broker feed: a broker that stops answering is a lost link, retried."""

from __future__ import annotations

import asyncio

from controlcenter.api.live.feed import ReplicaFeed
from controlcenter.api.live.hub import LiveHub
from controlcenter.api.live.index import SeriesIndex
from controlcenter.store import Catalog
from tests._support import TcpProxy, eventually, target_of, via_proxy


async def test_a_subscribe_that_times_out_is_retried_by_the_reconnect_loop(
    database_url, real_broker, make_settings, pool
):
    async with TcpProxy(*target_of(real_broker, 1883)) as proxy:
        settings = make_settings(
            database_url,
            mqtt_url=via_proxy(real_broker, proxy),
            mqtt={"connect_timeout_s": 0.3},
        )
        catalog = Catalog(pool)
        feed = ReplicaFeed(settings, LiveHub(settings.api, SeriesIndex(catalog)), catalog)
        proxy.replies = 1  # the CONNACK comes, the SUBACK never does
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(stop))
        try:

            async def retried() -> bool:
                assert not task.done(), task  # a timeout must not end the feed
                return proxy.stalled >= 2

            await eventually(retried)
            assert not feed.connected.is_set()
            proxy.replies = None  # the broker answers again: the next session subscribes
            await eventually(lambda: _is_set(feed.connected))
        finally:
            stop.set()
        await asyncio.wait_for(task, 10)


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()

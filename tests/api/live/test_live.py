"""Live feeds: end to end from MQTT, protocol, coalescing and slow clients."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import asyncpg
import httpx
import orjson
from websockets.asyncio.client import connect

from controlcenter.api.auth import ApiKeys, Role
from controlcenter.api.server import run_replica
from controlcenter.domain import SensorKey, SeriesKey
from controlcenter.embedded._port import free_port
from controlcenter.metrics import API_LIVE_DROPS
from controlcenter.store import Catalog
from tests._support import eventually, now_ms, publish, reading, running_service
from tests.api._api import batch, running_api, stalled_websocket, unique_site


async def _recv(ws, kind: str, timeout: float = 10.0) -> dict:
    """The next message of type ``kind`` (skipping others)."""
    async with asyncio.timeout(timeout):
        while True:
            msg = orjson.loads(await ws.recv())
            if msg["type"] == kind:
                return msg


async def _key(database_url: str, role: Role = Role.VIEWER) -> str:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        _, key = await ApiKeys(pool).create(role)
    finally:
        await pool.close()
    return key


async def test_live_feed_from_mqtt_publish_to_websocket(database_url, mqtt_url, make_settings):
    port = free_port()
    settings = make_settings(database_url, api={"port": port})
    site = unique_site()
    root = settings.mqtt.topic_root
    key = await _key(database_url)
    url = f"ws://127.0.0.1:{port}/api/v1/live?key={key}"
    async with running_service(settings), connect(url) as ws:
        await ws.send(orjson.dumps({"type": "subscribe", "site": site}))
        ack = await _recv(ws, "subscribed")
        assert ack["count"] == 0  # nothing known yet: series join as they appear
        t = now_ms()
        await publish(mqtt_url, [(f"{root}/v1/{site}/f1/air/aq1", reading(t, pm25=17.5))])
        frame = await _recv(ws, "readings")
        assert frame["value"] == [17.5]
        assert frame["time_us"] == [t * 1000]
        # Three readings of the series in one gateway message, so in one committed batch:
        # as three messages they could land in two batches under load, and the first
        # frame then rightly carried 1.0 or 2.0 (a quiet client gets a batch at once).
        three = [{"ts": t + v, "values": {"pm25": v}} for v in (1, 2, 3)]
        await publish(
            mqtt_url, [(f"{root}/v1/{site}/f1/air/aq1", orjson.dumps({"readings": three}))]
        )
        frame = await _recv(ws, "readings")
        assert frame["value"] == [3.0]  # coalesced to the latest
        assert "snapshot" not in frame  # news, after the first frame


async def test_a_replica_takes_live_feeds_from_the_broker(database_url, mqtt_url, make_settings):
    port = free_port()
    settings = make_settings(database_url, api={"port": port, "catalog_refresh_s": 0.2})
    site = unique_site()
    root = settings.mqtt.topic_root
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        (sid,) = await Catalog(pool).resolve(
            [SeriesKey(SensorKey(site, "f1", "power", "m1"), "kw")]
        )
        _, key = await ApiKeys(pool).create(Role.VIEWER)
    finally:
        await pool.close()
    stop, ready = asyncio.Event(), asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        replica = tg.create_task(run_replica(settings, stop, ready))
        try:
            async with asyncio.timeout(20):
                await ready.wait()
            async with connect(f"ws://127.0.0.1:{port}/api/v1/live?key={key}") as ws:
                await ws.send(orjson.dumps({"type": "subscribe", "series": [sid]}))
                assert (await _recv(ws, "subscribed"))["series"] == [sid]

                async def published_and_seen():
                    await publish(
                        mqtt_url, [(f"{root}/v1/{site}/f1/power/m1", reading(now_ms(), kw=5))]
                    )
                    try:
                        return await _recv(ws, "readings", timeout=0.5)
                    except TimeoutError:
                        return None

                frame = await eventually(published_and_seen)
                assert frame["series"] == [sid]
                assert frame["value"] == [5.0]
            # Alert transitions the service publishes reach the replica's alert clients.
            alert = {
                "type": "alert",
                "transition": "opened",
                "alert": {"site": site, "factory": "f1"},
            }
            url = f"ws://127.0.0.1:{port}/api/v1/alerts/live?key={key}"
            async with connect(url) as ws:
                await asyncio.sleep(0.2)
                topic = f"{root}/v1/alerts/{site}/f1/pm10-grade"
                await publish(mqtt_url, [(topic, orjson.dumps(alert))])
                assert await _recv(ws, "alert") == alert
            async with httpx.AsyncClient() as http:
                ready_doc = (await http.get(f"http://127.0.0.1:{port}/ready")).json()
            assert ready_doc["mode"] == "replica"
            assert ready_doc["broker"] == "ok"
        except Exception:
            replica.cancel()
            raise
        finally:
            stop.set()


async def test_subscribe_replaces_snapshots_heartbeats_and_errors(database_url, make_settings):
    settings = make_settings(database_url, api={"live_heartbeat_s": 0.3})
    async with running_api(settings) as api:
        site = unique_site()
        a = await api.series(site, "f1", "air", "aq1", ["pm10"])
        b = await api.series(site, "f2", "air", "aq1", ["pm10"])
        now = time.time_ns() // 1000
        api.state.hub.update(batch(a + b, [now, now], [1.0, 2.0]))
        key = await api.key()
        async with connect(f"{api.ws_url}/api/v1/live?key={key}") as ws:
            await ws.send(b"not json")
            assert (await _recv(ws, "error"))["detail"]
            await ws.send(orjson.dumps({"type": "subscribe", "kind": "Water!"}))
            assert (await _recv(ws, "error"))["detail"][0]["loc"] == ["kind"]
            await ws.send(orjson.dumps({"type": "subscribe", "site": site, "factory": "f1"}))
            await _recv(ws, "subscribed")
            snapshot = await _recv(ws, "readings")
            assert (snapshot["series"], snapshot["value"]) == (a, [1.0])
            assert snapshot["snapshot"] is True  # the latest view, not necessarily news
            # A new subscription at any time replaces the old one, with its own snapshot.
            await ws.send(orjson.dumps({"type": "subscribe", "site": site, "factory": "f2"}))
            await _recv(ws, "subscribed")
            assert (await _recv(ws, "readings"))["series"] == b
            await ws.send(orjson.dumps({"type": "ping"}))
            await _recv(ws, "pong")
            await _recv(ws, "heartbeat", timeout=2)
        # Reconnect and resubscribe: the snapshot restores the latest view.
        async with connect(f"{api.ws_url}/api/v1/live") as ws:
            await ws.send(orjson.dumps({"type": "auth", "key": key}))
            await ws.send(orjson.dumps({"type": "subscribe", "series": a + b}))
            await _recv(ws, "subscribed")
            again = await _recv(ws, "readings")
            assert dict(zip(again["series"], again["value"], strict=True)) == {a[0]: 1.0, b[0]: 2.0}


async def test_rate_cap_limits_frames_per_series(database_url, make_settings):
    async with running_api(make_settings(database_url)) as api:
        (sid,) = await api.series(unique_site(), "f1", "air", "aq1", ["pm10"])
        key = await api.key()
        async with connect(f"{api.ws_url}/api/v1/live?key={key}") as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "series": [sid], "max_rate_hz": 2}))
            assert (await _recv(ws, "subscribed"))["interval_s"] == 0.5
            frames = 0
            start = time.monotonic()
            while time.monotonic() - start < 1.5:
                api.state.hub.update(batch([sid], [time.time_ns() // 1000], [1.0]))
                try:
                    await _recv(ws, "readings", timeout=0.02)
                    frames += 1
                except TimeoutError:
                    pass
            assert 2 <= frames <= 4


async def test_a_slow_client_does_not_delay_a_fast_one_and_is_dropped(database_url, make_settings):
    settings = make_settings(
        database_url,
        api={
            "live_queue_frames": 2,
            "live_slow_client_timeout_s": 1.0,
            "live_send_timeout_s": 1.0,
        },
    )
    async with running_api(settings) as api:
        site = unique_site()
        ids = await api.catalog.resolve(
            [
                SeriesKey(SensorKey(site, f"f{f}", "air", "aq1"), m)
                for f in range(2_500)
                for m in ("pm10", "pm25", "co2", "voc")
            ]
        )
        key = await api.key()
        url = f"{api.ws_url}/api/v1/live?key={key}"
        dropped = API_LIVE_DROPS.labels("too_slow")._value.get()
        sub = orjson.dumps({"type": "subscribe", "site": site})
        # The slow client reads nothing: its socket fills, its queue fills, it falls behind.
        # 10,000 series: frames of ~350 kB, so the slow client's socket buffers fill fast.
        port = int(api.url.rsplit(":", 1)[1])
        slow = await asyncio.to_thread(stalled_websocket, port, f"/api/v1/live?key={key}", sub)
        async with connect(url) as fast:
            await fast.send(sub)
            await _recv(fast, "subscribed")
            lags = []
            deadline = time.monotonic() + 4
            step = 0
            while time.monotonic() < deadline:
                step += 1
                sent = time.monotonic()
                values = [float(step)] * len(ids)
                api.state.hub.update(batch(ids, [time.time_ns() // 1000] * len(ids), values))
                while True:
                    frame = await _recv(fast, "readings", timeout=2)
                    if frame["value"][-1] == float(step):
                        break
                lags.append(time.monotonic() - sent)
            assert max(lags) < 0.5, max(lags)
            assert len(lags) > 20
            await eventually(lambda: _gt(API_LIVE_DROPS.labels("too_slow")._value.get, dropped))
            await eventually(lambda: _eq(lambda: api.state.hub.clients, 1))
        slow.close()


async def _gt(get, than) -> bool:
    return get() > than


async def _eq(get, value) -> bool:
    return get() == value


async def test_a_client_that_stays_behind_is_closed_with_4008(database_url, make_settings):
    from websockets.exceptions import ConnectionClosed

    settings = make_settings(
        database_url,
        api={"live_queue_frames": 2, "live_slow_client_timeout_s": 0.5, "live_send_timeout_s": 0.5},
    )
    async with running_api(settings) as api:
        site = unique_site()
        ids = await api.catalog.resolve(  # 20,000 series: ~0.7 MB frames, past any buffer
            [
                SeriesKey(SensorKey(site, f"f{f}", "air", "aq1"), m)
                for f in range(5_000)
                for m in ("pm10", "pm25", "co2", "voc")
            ]
        )
        key = await api.key()
        # A tiny receive buffer, and max_queue=1: the client stops reading its socket while
        # we take no frames, so the server's sends back up within a few frames.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(api.url.rsplit(":", 1)[1])))
        sock.setblocking(False)
        async with connect(f"{api.ws_url}/api/v1/live?key={key}", max_queue=1, sock=sock) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "site": site}))
            await _recv(ws, "subscribed")
            for step in range(15):  # 1.5 s of news, none of it read: the client falls behind
                now = time.time_ns() // 1000
                api.state.hub.update(batch(ids, [now] * len(ids), [float(step)] * len(ids)))
                await asyncio.sleep(0.1)
            code = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    try:
                        while True:  # now read everything that was sent, then the close
                            await ws.recv()
                    except ConnectionClosed as exc:
                        code = exc.rcvd.code if exc.rcvd else -1
        assert code == 4008, code

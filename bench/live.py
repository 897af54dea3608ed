"""Live-feed latency: MQTT publish -> ingest -> live hub -> websocket, with many clients.

The complex: 10 sites x 50 factories x 4 sensors x 5 metrics = 10,000 series; every sensor
publishes one message (5 readings) per second: 10,000 readings/s (``--sites N``: N x 1,000,
for a machine that cannot take the full complex). The service
(``controlcenter serve``: ingest, scoring, alerts and the API) runs in its own process;
the publisher in another; the websocket clients in ``--procs`` more. Most clients
subscribe to one factory (20 series), some (``--site-clients``) to a whole site (1,000
series). Frames are coalesced to at most 10 per second per client.

Latency per delivered reading = receipt time - the reading's timestamp (set at publish,
ms resolution); p50/p99 over the measurement window. At the end every client's latest
view must hold the last published value of each of its series (nothing lost from it).

    .venv/bin/python bench/live.py [--clients 1000] [--site-clients 20] [--seconds 20] [--sites 10]

Targets (issue 6): p99 < 200 ms with 1,000 clients at 10,000 readings/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import numpy as np
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

# --sites N (default 10) scales the complex: N x 1,000 readings/s; children get it by env.
SITES, FACTORIES = int(os.environ.get("CC_BENCH_LIVE_SITES", "10")), 50
SENSORS = [("air", "aq1"), ("air", "aq2"), ("air", "aq3"), ("power", "m1")]
METRICS = {"air": ("pm10", "pm25", "co2", "temp", "humidity"),
           "power": ("kw", "kwh", "voltage", "current", "pf")}  # fmt: skip


def factories() -> list[tuple[str, str]]:
    return [(f"s{s}", f"f{f:02d}") for s in range(SITES) for f in range(FACTORIES)]


# -- publisher ------------------------------------------------------------------------------


def publish(host: str, port: int, root: str, seconds: float) -> None:
    """Every second, one message per sensor (2,000 messages, 10,000 readings), paced in
    20 slices; the value of every reading is the round number. Prints the last round."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bl-pub-{uuid.uuid4()}")
    client.max_inflight_messages_set(5_000)
    client.connect(host, port, keepalive=60)
    client.loop_start()
    topics = [
        (f"{root}/v1/{s}/{f}/{kind}/{code}", METRICS[kind])
        for s, f in factories()
        for kind, code in SENSORS
    ]
    slices = 20
    per_slice = -(-len(topics) // slices)
    start = time.monotonic()
    rounds = int(seconds)
    for r in range(1, rounds + 1):
        for k in range(slices):
            due = start + (r - 1) + k / slices
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            ts = int(time.time() * 1000)
            for topic, metrics in topics[k * per_slice : (k + 1) * per_slice]:
                values = ",".join(f'"{m}":{r}' for m in metrics)
                client.publish(topic, b'{"ts":%d,"values":{%s}}' % (ts, values.encode()), qos=1)
    late = time.monotonic() - start - rounds
    time.sleep(1.0)
    client.loop_stop()
    client.disconnect()
    sys.stdout.write(json.dumps({"last_round": rounds, "late_s": late}))


# -- clients --------------------------------------------------------------------------------


async def one_client(
    port: int, sub: dict[str, object], measure: tuple[float, float], until: float, out: dict
) -> None:
    # One key per client: the service admits only ``live_max_clients_per_key`` sockets per key.
    sub = dict(sub)
    url = f"ws://127.0.0.1:{port}/api/v1/live?key={sub.pop('key')}"
    lat: list[np.ndarray] = []
    latest: dict[int, float] = {}
    # Every series of the topology publishes: a factory has 20, a site 1,000.
    per_factory = sum(len(METRICS[kind]) for kind, _ in SENSORS)
    expected = per_factory * (1 if "factory" in sub else FACTORIES)
    try:
        await _session(url, sub, measure, until, lat, latest)
    except (OSError, TimeoutError, ConnectionClosed) as exc:
        out.setdefault("failed", []).append(f"{type(exc).__name__}: {exc}")
        return
    frames = len([x for x in lat if x.size])
    out.setdefault("lat_site" if "factory" not in sub else "lat_factory", []).extend(lat)
    out.setdefault("frames", []).append(frames)
    out.setdefault("views", []).append(
        (expected, len(latest), min(latest.values()) if latest else -1.0)
    )


async def _session(
    url: str,
    sub: dict[str, object],
    measure: tuple[float, float],
    until: float,
    lat: list[np.ndarray],
    latest: dict[int, float],
) -> None:
    async with connect(url, max_size=2**24, open_timeout=60) as ws:
        await ws.send(orjson.dumps({"type": "subscribe", **sub}))
        while True:
            left = until - time.time()
            if left <= 0:
                break
            try:
                async with asyncio.timeout(left):
                    raw = await ws.recv()
            except TimeoutError:
                break
            now = time.time()
            msg = orjson.loads(raw)
            if msg["type"] == "readings":
                # The snapshot holds the latest view, not fresh news: no latency to measure.
                if measure[0] <= now <= measure[1] and not msg.get("snapshot"):
                    t = np.asarray(msg["time_us"], dtype=np.float64) / 1e6
                    lat.append(now - t)
                latest.update(zip(msg["series"], msg["value"], strict=True))


async def clients_main(args: argparse.Namespace) -> None:
    subs = json.loads(await asyncio.to_thread(Path(args.subs).read_text))
    out: dict = {}
    measure = (args.measure_from, args.measure_to)
    async with asyncio.TaskGroup() as tg:
        for sub in subs:
            tg.create_task(one_client(int(args.port), sub, measure, args.until, out))
            await asyncio.sleep(0.005)  # ramp
    for kind in ("site", "factory"):
        lat = np.concatenate(out[f"lat_{kind}"]) if out.get(f"lat_{kind}") else np.zeros(0)
        np.save(f"{args.result}.{kind}.npy", lat)
    doc = json.dumps(
        {
            "frames": out.get("frames", []),
            "views": out.get("views", []),
            "failed": out.get("failed", []),
        }
    )
    await asyncio.to_thread(Path(args.result + ".json").write_text, doc)


# -- orchestration --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_database(server: str):
    name = f"cc_bench_live_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield urlunsplit(urlsplit(server)._replace(path="/" + name))
    finally:
        conn = await asyncpg.connect(server)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def subscriptions(n: int, site_clients: int) -> list[dict[str, object]]:
    fs = factories()
    subs: list[dict[str, object]] = [{"site": f"s{i % SITES}"} for i in range(site_clients)]
    subs += [
        {"site": fs[i % len(fs)][0], "factory": fs[i % len(fs)][1]} for i in range(n - site_clients)
    ]
    return subs


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--sites", type=int, default=SITES, help="50 factories, 1,000 readings/s each")
    ap.add_argument("--site-clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    ap.add_argument("--flush-interval", type=float, default=0.05, help="ingest.flush_interval_s")
    ap.add_argument(
        "--mode",
        choices=["in-process", "replica"],
        default="in-process",
        help="websockets served beside ingest, or by a `serve --api-only` replica process",
    )
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--mqtt", default="mqtt://127.0.0.1:1883")
    ap.add_argument("--role", choices=["main", "clients", "publish"], default="main")
    for name in ("port", "key", "subs", "result"):
        ap.add_argument(f"--{name}", help=argparse.SUPPRESS)
    for name in ("measure-from", "measure-to", "until"):
        ap.add_argument(f"--{name}", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ["CC_BENCH_LIVE_SITES"] = str(args.sites)  # for the child processes
    globals()["SITES"] = args.sites
    if args.role == "clients":
        await clients_main(args)
        return
    await orchestrate(args)


async def orchestrate(args: argparse.Namespace) -> None:
    from controlcenter.api import ApiKeys, Role
    from controlcenter.config import Settings
    from controlcenter.embedded._port import free_port
    from controlcenter.store import migrate

    mq = urlsplit(args.mqtt)
    root = f"bl{uuid.uuid4().hex[:6]}"
    # warm: every series registered before clients subscribe; ramp: every client connected
    # and past its snapshot before the measurement window opens.
    warm, ramp, settle = 5.0, 5.0, 3.0
    async with fresh_database(args.server) as url:
        await migrate(Settings(database_url=url, db={"timescale": "off"}))
        pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        keys = ApiKeys(pool)
        client_keys = [
            (await keys.create(Role.VIEWER, name=f"bench-{i}"))[1] for i in range(args.clients)
        ]
        port = free_port()
        env = {
            **os.environ,
            "CC_DATABASE_URL": url,
            "CC_MQTT_URL": args.mqtt,
            "CC_MQTT__TOPIC_ROOT": root,
            "CC_MQTT__CLIENT_ID": f"bl-{root}",
            "CC_API__PORT": str(port),
            "CC_DB__MIGRATE_ON_START": "false",
            "CC_LOG_LEVEL": "WARNING",
            "CC_INGEST__FLUSH_INTERVAL_S": str(args.flush_interval),
        }
        replica = None
        if args.mode == "replica":
            # Ingest without an API; the API alone in its own process, fed by the broker.
            replica = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "controlcenter", "serve", "--api-only",
                env={**env, "CC_MQTT__CLIENT_ID": f"bl-{root}-api",
                     "CC_API__CATALOG_REFRESH_S": "1"},
            )  # fmt: skip
            env = {**env, "CC_API__ENABLED": "false"}
        service = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controlcenter", "serve", env=env
        )
        tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
        try:
            await _wait_ready(port)
            total = warm + ramp + args.seconds
            pub = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--role", "publish", "--port", str(mq.port or 1883),
                "--key", root, "--until", str(total),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            await asyncio.sleep(warm)  # every series registered before clients subscribe
            t0 = time.time()
            measure_from = t0 + ramp
            measure_to = measure_from + args.seconds
            until = measure_to + settle
            subs = [
                {**sub, "key": k}
                for sub, k in zip(
                    subscriptions(args.clients, args.site_clients), client_keys, strict=True
                )
            ]
            procs = []
            for p in range(args.procs):
                part = subs[p :: args.procs]
                (tmp / f"subs{p}.json").write_text(json.dumps(part))
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, __file__, "--role", "clients", "--port", str(port),
                        "--subs", str(tmp / f"subs{p}.json"),
                        "--result", str(tmp / f"out{p}"), "--measure-from", str(measure_from),
                        "--measure-to", str(measure_to), "--until", str(until),
                    )
                )  # fmt: skip
            for proc in procs:
                await proc.wait()
            pub_out, _ = await pub.communicate()
            metrics = (await _get(port, "/metrics")).text
        finally:
            for proc in (service, replica):
                if proc is not None and proc.returncode is None:
                    proc.terminate()
                    await proc.wait()
            await pool.close()
        _report(args, tmp, json.loads(pub_out), metrics, measure_to - measure_from)


async def _wait_ready(port: int) -> None:
    for _ in range(300):
        with contextlib.suppress(httpx.TransportError):
            if (await _get(port, "/health")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise SystemExit("the service did not start")


async def _get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as c:
        return await c.get(f"http://127.0.0.1:{port}{path}")


def _report(args, tmp: Path, pub: dict, metrics: str, window: float) -> None:
    by_kind = {
        kind: 1000 * np.concatenate([np.zeros(0), *map(np.load, tmp.glob(f"out*.{kind}.npy"))])
        for kind in ("factory", "site")
    }
    lat = np.concatenate(list(by_kind.values()))
    lat = lat if lat.size else np.full(1, np.nan)
    frames: list[int] = []
    views: list[list[float]] = []
    failed: list[str] = []
    for p in sorted(tmp.glob("out*.json")):
        doc = json.loads(p.read_text())
        frames += doc["frames"]
        views += doc["views"]
        failed += doc["failed"]
    last = pub["last_round"]
    complete = sum(1 for exp, seen, low in views if exp == seen and low == last)
    drops = [
        ln for ln in metrics.splitlines() if ln.startswith("controlcenter_api_live_drops_total")
    ]
    print(f"clients: {len(views)} ({args.site_clients} whole-site), readings/s: 10,000, "
          f"window {window:.0f} s, API {args.mode}")  # fmt: skip
    print(f"latency publish->websocket over {lat.size:,} delivered readings: "
          f"p50 {np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms, "
          f"max {lat.max():.1f} ms")  # fmt: skip
    for kind, part in by_kind.items():
        if part.size:
            print(f"  {kind} clients: {part.size:,} readings, p50 {np.percentile(part, 50):.1f} "
                  f"ms, p99 {np.percentile(part, 99):.1f} ms")  # fmt: skip
    frames = frames or [0]
    print(f"frames per client per second: median {np.median(frames) / window:.1f}, "
          f"max {max(frames) / window:.1f}")  # fmt: skip
    print(f"latest view complete (every series at the last published value {last}): "
          f"{complete}/{len(views)} clients")  # fmt: skip
    print(f"publisher kept its schedule within {pub['late_s']:+.2f} s")
    print("drops:", "; ".join(drops) or "none")
    if failed:
        print(f"clients that failed: {len(failed)} (first: {failed[0]})")
    keep = (
        "controlcenter_ingest_readings_total",
        "controlcenter_ingest_write_seconds_sum",
        "controlcenter_ingest_write_seconds_count",
        "controlcenter_engine_batch_seconds_sum",
        "controlcenter_engine_batch_seconds_count",
    )
    print("API process:", "; ".join(ln for ln in metrics.splitlines() if ln.startswith(keep)))
    print(f"command: .venv/bin/python bench/live.py --clients {args.clients} "
          f"--site-clients {args.site_clients} --seconds {args.seconds:g} "
          f"--procs {args.procs} --flush-interval {args.flush_interval:g} "
          f"--mode {args.mode} --sites {args.sites}")  # fmt: skip


if __name__ == "__main__":
    if "--role" in sys.argv and sys.argv[sys.argv.index("--role") + 1] == "publish":
        a = sys.argv
        publish("127.0.0.1", int(a[a.index("--port") + 1]), a[a.index("--key") + 1],
                float(a[a.index("--until") + 1]))  # fmt: skip
    else:
        asyncio.run(main())

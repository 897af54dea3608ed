"""End-to-end ingest benchmark: MQTT broker -> controlcenter serve -> PostgreSQL.

A separate publisher process sends N readings as fast as the broker takes them, in two
shapes: one reading per message, and gateway batches of 100 readings per message. For each
shape the service runs as its own process on a fresh database; the benchmark reports the
sustained readings/s into the database (publisher start -> last row committed), checks
that the row count equals what was sent (no loss, no duplicates: the unique index would
hide duplicates, so the service's own counter of inserted rows is checked too), and the
service's peak memory (VmHWM). The bare-subscriber baseline (aiomqtt, QoS 1, acked on
receipt, no database) runs on the same broker in the same run, so the figures compare as
ratios.

The benchmark starts its own Mosquitto (the machine's binary) configured as a production
broker should be: Mosquitto's defaults keep only 1000 queued QoS 1 messages per client
and silently drop the rest, which no subscriber design can survive at full speed.

    .venv/bin/python bench/ingest.py [--n 1000000] [--batch-n 1000000] [--repeats 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
_COMMITTED = "controlcenter_ingest_readings_total "
PY = sys.executable
MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_queued_bytes 0
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def mosquitto() -> AsyncIterator[int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(MOSQUITTO_CONF.format(port=port))
        proc = await asyncio.create_subprocess_exec(
            binary,
            "-c",
            str(conf),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            await asyncio.sleep(0.05)
        try:
            yield port
        finally:
            proc.terminate()
            await proc.wait()


@contextlib.asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    name = f"cc_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = server_url.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        admin = await asyncpg.connect(server_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def service_env(db: str, port: int, root: str, api_port: int, client: str) -> dict[str, str]:
    """Environment of a benchmarked ``controlcenter serve``: this run's database, broker,
    topic root and API port, a fresh client id, and none of the caller's ``CC_`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    env.update(
        CC_DATABASE_URL=db,
        CC_MQTT_URL=f"mqtt://127.0.0.1:{port}",
        CC_MQTT__TOPIC_ROOT=root,
        CC_MQTT__CLIENT_ID=f"{client}-{uuid.uuid4().hex[:6]}",
        CC_LOG_LEVEL="WARNING",
        CC_API__PORT=str(api_port),
    )
    return env


async def publish(port: int, root: str, n: int, batch: int) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        PY,
        str(ROOT / "bench" / "_publisher.py"),
        "127.0.0.1",
        str(port),
        root,
        str(n),
        str(batch),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


async def bare_subscriber(port: int, n: int, receive_maximum: int) -> float:
    """Messages/s of the bare subscriber for n single-reading messages."""
    root = f"benchbare{uuid.uuid4().hex[:6]}"
    sub = await asyncio.create_subprocess_exec(
        PY,
        str(ROOT / "bench" / "_bare_subscriber.py"),
        "127.0.0.1",
        str(port),
        root,
        str(n),
        str(receive_maximum),
        stdout=asyncio.subprocess.PIPE,
    )
    assert sub.stdout is not None
    assert (await sub.stdout.readline()).strip() == b"ready"
    started = time.perf_counter()
    pub = asyncio.create_task(publish(port, root, n, 1))
    await sub.stdout.readline()
    seconds = time.perf_counter() - started
    await pub
    await sub.wait()
    return n / seconds


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def service_run(
    server_url: str, port: int, n: int, batch: int, env_extra: dict[str, str]
) -> dict[str, float]:
    root = f"bench{uuid.uuid4().hex[:6]}"
    api_port = _free_port()
    async with fresh_database(server_url) as db, httpx.AsyncClient(timeout=10) as http:
        env = service_env(db, port, root, api_port, "bench-svc") | env_extra
        svc = await asyncio.create_subprocess_exec(PY, "-m", "controlcenter", "serve", env=env)
        conn = await asyncpg.connect(db)

        async def committed() -> int:
            # The service's own counter of rows inserted: cheap to poll, unlike count(*).
            text = (await http.get(f"http://127.0.0.1:{api_port}/metrics")).text
            line = next(x for x in text.splitlines() if x.startswith(_COMMITTED))
            return int(float(line.split()[-1]))

        try:
            # Ready when a probe reading is stored: migrated and subscribed.
            for _ in range(600):
                await _probe(port, root)
                await asyncio.sleep(0.1)
                with contextlib.suppress(httpx.TransportError, StopIteration):
                    if await committed():
                        break
            await asyncio.sleep(0.5)  # a late probe must land before the baseline
            base = await committed()
            started = time.perf_counter()
            pub = asyncio.create_task(publish(port, root, n, batch))
            count = base
            while count < base + n:
                await asyncio.sleep(0.02)
                count = await committed()
                if time.perf_counter() - started > 1800:
                    break
            seconds = time.perf_counter() - started
            published = await pub
            await asyncio.sleep(1.0)  # anything beyond n would be a duplicate
            inserted = await committed() - base
            # Only the benchmark's own site: the probes are not counted.
            final = int(
                await conn.fetchval(
                    "SELECT count(*) FROM readings JOIN series USING (series_id) "
                    "JOIN sensors USING (sensor_id) JOIN factories USING (factory_id) "
                    "JOIN sites USING (site_id) WHERE sites.code = 'bench'"
                )
            )
            peak = _peak_rss_mb(svc.pid)
        finally:
            await conn.close()
            svc.terminate()
            code = await svc.wait()
    return {
        "readings_per_s": n / seconds,
        "publisher_readings_per_s": published["readings"] / published["seconds"],
        "sent": published["readings"],
        "stored": final,
        "inserted": inserted,
        "peak_rss_mb": peak,
        "exit_code": code,
    }


async def _probe(port: int, root: str) -> None:
    payload = '{"ts": %d, "values": {"pm10": 1}}'
    code = (
        "import paho.mqtt.publish as p, time;"
        f"p.single({root + '/v1/probe/f/air/a'!r}, {payload!r} % (time.time() * 1000),"
        f" qos=1, hostname='127.0.0.1', port={port})"
    )
    proc = await asyncio.create_subprocess_exec(PY, "-c", code)
    await proc.wait()


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=1_000_000, help="readings, one per message")
    ap.add_argument("--batch-n", type=int, default=1_000_000, help="readings in batches of 100")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--server-url",
        default=os.environ.get("CC_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = ap.parse_args()
    rmax = 2000
    bare: list[float] = []
    single: list[dict[str, float]] = []
    batched: list[dict[str, float]] = []
    async with mosquitto() as port:
        for _ in range(args.repeats):
            bare.append(await bare_subscriber(port, args.n, rmax))
            single.append(await service_run(args.server_url, port, args.n, 1, {}))
            batched.append(await service_run(args.server_url, port, args.batch_n, 100, {}))
    med = statistics.median
    bare_rate = med(bare)
    s_rate = med(r["readings_per_s"] for r in single)
    b_rate = med(r["readings_per_s"] for r in batched)
    s_rss = max(r["peak_rss_mb"] for r in single)
    b_rss = max(r["peak_rss_mb"] for r in batched)
    s_pub = med(r["publisher_readings_per_s"] for r in single)
    b_pub = med(r["publisher_readings_per_s"] for r in batched)
    exact = all(r["stored"] == r["sent"] == r["inserted"] for r in single + batched)
    lines = [
        f"bare aiomqtt QoS 1 subscriber: {bare_rate:,.0f} msgs/s (median of {len(bare)})",
        f"single-reading messages: {s_rate:,.0f} readings/s = {s_rate / bare_rate:.0%} of bare; "
        f"sent {single[-1]['sent']:,.0f}, stored {single[-1]['stored']:,.0f}; "
        f"peak RSS {s_rss:.0f} MB",
        f"batches of 100: {b_rate:,.0f} readings/s; sent {batched[-1]['sent']:,.0f}, "
        f"stored {batched[-1]['stored']:,.0f}; peak RSS {b_rss:.0f} MB",
        f"publisher offered: single {s_pub:,.0f}/s, batched {b_pub:,.0f}/s",
        "loss/duplicates: " + ("none" if exact else "MISMATCH"),
        f"reproduce: .venv/bin/python bench/ingest.py --n {args.n} --batch-n {args.batch_n} "
        f"--repeats {args.repeats}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.write(json.dumps({"bare": bare, "single": single, "batched": batched}) + "\n")


if __name__ == "__main__":
    asyncio.run(main())

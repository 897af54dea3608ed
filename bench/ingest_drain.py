"""Ingest at the subscriber's own speed: drain a backlog the broker holds, no publisher running.

``bench/ingest.py`` publishes live, and on two cores its one Python publisher bounds both
the bare subscriber and the service. Here the broker is loaded first: a persistent session
is primed (subscribed, then away), N single-reading messages are published into it, and
only then does the consumer connect, with the machine otherwise idle. Measured from the
first message (bare aiomqtt subscriber, QoS 1, acked on receipt) or the first committed
reading (``controlcenter serve``, acked after commit) to the N-th; stored == sent checked.

    .venv/bin/python bench/ingest_drain.py [--n 300000] [--batch 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import (  # the sibling benchmark's helpers
    _COMMITTED,
    PY,
    ROOT,
    _free_port,
    _probe,
    fresh_database,
    mosquitto,
    publish,
    service_env,
)


async def bare(port: int, n: int, batch: int) -> float:
    root, cid = f"drainbare{uuid.uuid4().hex[:6]}", f"drain-bare-{uuid.uuid4().hex[:6]}"
    script = str(ROOT / "bench" / "_bare_subscriber.py")
    args = ("127.0.0.1", str(port), root, str(-(-n // batch)), "20000", cid)
    prime = await asyncio.create_subprocess_exec(
        PY, script, *args, "prime", stdout=asyncio.subprocess.PIPE
    )
    await prime.communicate()
    await publish(port, root, n, batch)  # queued in the session
    sub = await asyncio.create_subprocess_exec(PY, script, *args, stdout=asyncio.subprocess.PIPE)
    out, _ = await sub.communicate()
    doc = json.loads(out.decode().strip().splitlines()[-1])
    return float(doc["messages"]) * batch / float(doc["seconds"])  # readings/s


async def service(server_url: str, port: int, n: int, batch: int) -> tuple[float, int]:
    root, api_port = f"drainsvc{uuid.uuid4().hex[:6]}", _free_port()
    async with fresh_database(server_url) as db, httpx.AsyncClient(timeout=10) as http:
        env = service_env(db, port, root, api_port, "drain-svc")

        async def committed() -> int:
            text = (await http.get(f"http://127.0.0.1:{api_port}/metrics")).text
            line = next(x for x in text.splitlines() if x.startswith(_COMMITTED))
            return int(float(line.split()[-1]))

        async def start() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(PY, "-m", "controlcenter", "serve", env=env)

        svc = await start()  # migrates and subscribes: the session exists from here on
        for _ in range(600):
            await _probe(port, root)
            await asyncio.sleep(0.1)
            with contextlib.suppress(httpx.TransportError, StopIteration):
                if await committed():
                    break
        svc.terminate()
        await svc.wait()
        await publish(port, root, n, batch)  # queued in the service's session
        env["CC_DB__MIGRATE_ON_START"] = "false"
        svc = await start()
        try:
            first = last = None
            count = 0
            while count < n:
                await asyncio.sleep(0.01)
                with contextlib.suppress(httpx.TransportError, StopIteration):
                    count = await committed()
                if count and first is None:
                    first = (time.perf_counter(), count)
                last = time.perf_counter()
            assert first is not None
            assert last is not None
            conn = await asyncpg.connect(db)
            stored = int(
                await conn.fetchval(
                    "SELECT count(*) FROM readings JOIN series USING (series_id) "
                    "JOIN sensors USING (sensor_id) JOIN factories USING (factory_id) "
                    "JOIN sites USING (site_id) WHERE sites.code = 'bench'"
                )
            )
            await conn.close()
        finally:
            svc.terminate()
            await svc.wait()
    return (n - first[1]) / (last - first[0]), stored


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300_000, help="readings")
    ap.add_argument("--batch", type=int, default=1, help="readings per message")
    ap.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    async with mosquitto() as port:
        bare_rate = await bare(port, args.n, args.batch)
        svc_rate, stored = await service(args.server_url, port, args.n, args.batch)
    print(
        f"bare aiomqtt QoS 1 subscriber draining {args.n:,} readings in messages of "
        f"{args.batch}: {bare_rate:,.0f} readings/s"
    )
    print(
        f"controlcenter serve draining them into PostgreSQL: {svc_rate:,.0f} readings/s "
        f"= {svc_rate / bare_rate:.0%} of bare; stored {stored:,} of {args.n:,}"
    )
    print(f"reproduce: .venv/bin/python bench/ingest_drain.py --n {args.n} --batch {args.batch}")


if __name__ == "__main__":
    asyncio.run(main())

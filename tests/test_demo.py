"""``controlcenter demo`` from nothing: embedded PostgreSQL and MQTT, readings arrive, a key
works, Ctrl-C stops it cleanly (what ``scripts/demo.sh`` runs on a fresh machine)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path

import httpx

from controlcenter.embedded._port import free_port


async def test_demo_runs_on_embedded_services_and_stops_on_ctrl_c(tmp_path: Path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    env.update(CC_DATA_DIR=str(tmp_path / "data"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controlcenter", "demo", "--factories", "2", "--rate", "100",
        "--port", str(port), env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    log: list[str] = []
    key, stored, database_url, rates = None, 0, None, None
    try:
        async with asyncio.timeout(90):
            while stored == 0 or key is None or rates is None:
                line = (await proc.stderr.readline()).decode()
                assert line, "the demo ended early:\n" + "".join(log[-20:])
                log.append(line)
                if m := re.search(r"admin API key \(shown once\): (cc_\S+)", line):
                    key = m.group(1)
                if m := re.search(r"CC_DATABASE_URL=(\S+) \S*controlcenter create-key", line):
                    database_url = m.group(1)
                if m := re.search(r"stored (\d+) values", line):
                    stored = int(m.group(1))
                if m := re.search(r"(\d+) readings/s = (\d+) values/s", line):
                    rates = (int(m.group(1)), int(m.group(2)))
        assert "embedded PostgreSQL" in "".join(log)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            r = await c.get("/api/v1/latest", headers={"X-API-Key": key})
            assert r.status_code == 200, r.text
            assert len(r.json()["series"]) > 0
            # The simulated complex is on the map: every factory and sensor has a position.
            sites = (await c.get("/api/v1/sites", headers={"X-API-Key": key})).json()["items"]
            for site in sites:
                m = await c.get(f"/api/v1/sites/{site['site']}/map", headers={"X-API-Key": key})
                placed = m.json()["factories"] + m.json()["sensors"]
                assert placed, m.text
                assert all(p["lat"] and p["lon"] and p["plan_x"] is not None for p in placed)
            # The key command finds the demo's embedded database with the URL it printed.
            assert database_url is not None, "".join(log)
            made = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "controlcenter", "create-key", "--role", "viewer",
                env={**env, "CC_DATABASE_URL": database_url}, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await made.communicate()
            viewer = re.search(r"cc_\S+", out.decode())
            assert viewer is not None, out
            r = await c.get("/api/v1/me", headers={"X-API-Key": viewer.group(0)})
            assert r.json()["role"] == "viewer"
        # A reading carries several metrics: more values/s than readings/s.
        assert rates[1] > rates[0] > 0, rates
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    while await proc.stderr.readline():
                        pass
                    await proc.wait()
    assert proc.returncode == 0, "".join(log[-20:])

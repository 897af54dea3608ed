"""A running service with a simulated site, and a headless Chromium to look at it: what the
dashboard's browser tests share (``conftest.py`` builds one per test module)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from controlcenter.api.auth import ApiKeys, Role
from controlcenter.config import Settings
from controlcenter.embedded._port import free_port
from tests._support import EMBEDDED_MQTT, eventually, now_ms, publish, reading

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
FACTORIES = ("f001", "f002", "f003")


@dataclass
class Complex:
    """A running service with a simulated site, and a browser to look at it."""

    url: str
    site: str
    root: str
    mqtt_url: str
    pool: asyncpg.Pool
    browser: Any
    keys: ApiKeys
    errors: list[str] = field(default_factory=list)

    def topic(self, factory: str, kind: str, sensor: str) -> str:
        return f"{self.root}/v1/{self.site}/{factory}/{kind}/{sensor}"

    async def key(self, role: Role, factory: str | None = None) -> str:
        site = self.site if factory else None
        _, key = await self.keys.create(role, name=f"web-{role.label}", site=site, factory=factory)
        return key

    async def send(self, factory: str, **air: float) -> None:
        await publish(
            self.mqtt_url, [(self.topic(factory, "air", "aq1"), reading(now_ms(), **air))]
        )

    async def page(self, key: str | None = None) -> Any:
        """A new page at the dashboard, signed in with ``key`` when given."""
        context = await self.browser.new_context(viewport={"width": 1440, "height": 900})
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        await page.goto(self.url + "/")
        if key is not None:
            await page.fill("#login-key", key)
            await page.click("#login-submit")
            await page.wait_for_selector("#app:not([hidden])")
        return page


def settings_for(
    database_url: str, mqtt_url: str, root: str, data_dir: Path, api: dict[str, Any] | None = None
) -> Settings:
    """The browser tests' service; ``api`` overrides API settings (a module's ``API``)."""
    return Settings(
        database_url=database_url,
        mqtt_url=mqtt_url,
        data_dir=data_dir,
        mqtt={
            "protocol": "3.1.1" if EMBEDDED_MQTT else "5",  # amqtt: 3.1.1 only
            "topic_root": root,
            "client_id": f"cc-web-{uuid.uuid4().hex[:8]}",
            "session_expiry_s": 300,
            "reconnect_initial_s": 0.05,
            "reconnect_max_s": 0.5,
        },
        ingest={"flush_interval_s": 0.05},
        # No storm grouping: these tests are about the page, and a second critical alert
        # within the window would wait the window out (30 s) before it is paged.
        alerts={"group_window_s": 0},
        db={"migrate_on_start": False, "rollup_interval_s": 0.5},
        api={"port": free_port(), "live_frame_interval_s": 0.1, **(api or {})},
    )


async def seed(cx: Complex) -> None:
    """Three factories, each with an air station, a power meter and a car park."""
    ts = now_ms()
    messages = []
    for i, factory in enumerate(FACTORIES):
        messages += [
            (cx.topic(factory, "air", "aq1"), reading(ts, pm10=20 + i, pm25=8 + i, co2=420)),
            (cx.topic(factory, "power", "m1"), reading(ts, kw=100 + 10 * i, pf=0.97)),
            (cx.topic(factory, "parking", "p1"), reading(ts, occupied=10 + i, capacity=40)),
        ]
    await publish(cx.mqtt_url, messages)

    async def stored() -> bool:
        n = await cx.pool.fetchval(
            "SELECT count(*) FROM series se JOIN sensors s USING (sensor_id)"
            " JOIN factories f USING (factory_id) JOIN sites si USING (site_id)"
            " WHERE si.code = $1",
            cx.site,
        )
        return bool(n == 3 * 7)

    await eventually(stored)

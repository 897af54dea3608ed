"""The default scenario's safety sensors on the map, in a real headless Chromium: the
simulator's gas and odour detectors of one site as points and its weather station's wind as
the arrow. Screenshot: ``test-artifacts/dashboard-map-safety.png``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from controlcenter.api.auth import Role
from tests._support import eventually, now_ms, publish, reading
from tests.web._browser import ARTIFACTS, CHROMIUM, Complex

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="the playwright package is not installed"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
)
SETTLED = (
    "() => { const d = window.ccDashboard; return d.book.complete && d.mapView.drawn"
    " && d.mapView.drawn.version === d.book.version; }"
)


async def test_the_simulated_safety_sensors_and_wind_are_on_the_map(cx: Complex) -> None:
    from simulators.layout import build_layout
    from simulators.placement import positions_document
    from simulators.safety_live import SafetyFeed
    from simulators.scenario import load_scenario

    from controlcenter.layoutfile import import_document, parse_positions

    layout = build_layout(load_scenario().with_overrides(factories=60))
    one = positions_document(layout)["sites"][0]
    simulated, site = one["site"], f"{cx.site}-safety"
    one["site"] = site
    await import_document(cx.pool, parse_positions(json.dumps({"sites": [one]}).encode()))
    # The last ten minutes of the simulator's gas, odour and weather readings of that site.
    start = now_ms() - 600_000
    feed = SafetyFeed(layout, start, np.ones(layout.n_factories, dtype=np.bool_))
    messages, counts = [], {}
    for kind in ("gas", "odor", "weather"):
        steps = 600_000 // feed.intervals[kind]
        for _, path, times, _, values in feed.readings(kind, steps - 2, steps):
            at, rest = path.split("/", 1)
            if at != simulated:
                continue
            counts[kind] = counts.get(kind, 0) + 1
            for t, v in zip(times.tolist(), values, strict=True):
                messages.append((f"{cx.root}/v1/{site}/{rest}", reading(t, **v)))
    assert counts.get("gas", 0) >= 3
    assert counts.get("weather", 0) >= 1
    await publish(cx.mqtt_url, messages)

    async def stored() -> bool:
        query = (
            "SELECT count(DISTINCT se.sensor_id) FROM readings r JOIN series se USING (series_id)"
            " WHERE se.sensor_id IN (SELECT sensor_id FROM sensors JOIN factories"
            " USING (factory_id) JOIN sites USING (site_id) WHERE sites.code = $1)"
        )
        return bool(await cx.pool.fetchval(query, site) == sum(counts.values()))

    await eventually(stored)
    page = await cx.page(await cx.key(Role.VIEWER))
    await page.evaluate("s => { location.hash = '#/map/' + encodeURIComponent(s); }", site)
    await page.wait_for_selector(".m-sensor.k-gas")
    await page.wait_for_function(SETTLED)
    assert await page.locator(".m-factory").count() == len(one["factories"])
    assert await page.locator(".m-sensor.k-gas").count() == counts["gas"]
    assert await page.locator(".m-sensor.k-odor").count() == counts.get("odor", 0)
    # The simulated station's wind, within a few degrees of what it read.
    await page.wait_for_selector("#map-wind:not(.none) .wind-arrow[data-rotation]")
    rotation = float(await page.get_attribute("#map-wind .wind-arrow", "data-rotation") or "nan")
    last = json.loads(messages[-1][1])["values"]["wind_dir"]
    assert abs((rotation - (last + 180.0) + 180.0) % 360.0 - 180.0) < 10.0
    await page.wait_for_timeout(300)
    await page.screenshot(path=ARTIFACTS / "dashboard-map-safety.png")
    await page.context.close()
    assert not cx.errors, cx.errors

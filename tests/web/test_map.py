"""The map view in a real headless Chromium: factories drawn where they stand and coloured
by their state, gas and odour sensors as points, the wind as an arrow, an episode as its
source and the sensors it reached, over the site plan when one is uploaded; in Korean and
English. Screenshots go to ``test-artifacts/dashboard-map*.png``."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import httpx
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

# f001 north-west, f002 east, f003 south of the complex (about 600 m x 400 m).
PLACES = {
    "f001": (37.4060, 126.6880, 100.0, 80.0),
    "f002": (37.4052, 126.6940, 630.0, 170.0),
    "f003": (37.4030, 126.6905, 320.0, 410.0),
}
RGB = {0: "rgb(42, 157, 143)", 2: "rgb(244, 162, 97)", 3: "rgb(230, 57, 70)"}
WIND_FROM = 225.0  # south-west: the arrow points north-east (45 degrees)


async def _situation(cx: Complex, admin: httpx.AsyncClient) -> None:
    ts = now_ms()
    await publish(
        cx.mqtt_url,
        [
            (cx.topic("f001", "gas", "gd1"), reading(ts, lel=0.0, h2s=0.2)),
            (cx.topic("f002", "gas", "gd1"), reading(ts, lel=1.0, h2s=0.1)),
            (cx.topic("f002", "odor", "od1"), reading(ts, ou=3.0)),
            (cx.topic("f003", "odor", "od1"), reading(ts, ou=2.0)),
            (cx.topic("f003", "weather", "wx1"), reading(ts, wind_speed=3.4, wind_dir=WIND_FROM)),
        ],
    )

    async def stored() -> bool:
        n = await cx.pool.fetchval(
            "SELECT count(*) FROM sensors s JOIN factories f USING (factory_id)"
            " JOIN sites si USING (site_id) WHERE si.code = $1"
            " AND s.kind IN ('gas', 'odor', 'weather')",
            cx.site,
        )
        return bool(n == 5)

    await eventually(stored)
    for factory, (lat, lon, x, y) in PLACES.items():
        r = await admin.put(
            f"/api/v1/sites/{cx.site}/factories/{factory}/position",
            json={"lat": lat, "lon": lon, "plan_x": x, "plan_y": y},
        )
        assert r.status_code == 200, r.text
    # One sensor with a position of its own (30 m east of f002); the others at their factory.
    r = await admin.put(
        f"/api/v1/sites/{cx.site}/sensors/od1/position",
        params={"factory": "f002"},
        json={"lat": 37.4052, "lon": 126.69434, "plan_x": 660.0, "plan_y": 170.0},
    )
    assert r.status_code == 200, r.text
    await cx.pool.execute(
        "INSERT INTO alerts (rule_name, subject, severity, site, factory, kind, sensor,"
        " opened_at, state) VALUES"
        " ('map-test', 'm1', 'critical', $1, 'f001', 'gas', 'gd1', now(), 'open'),"
        " ('map-test', 'm2', 'warning', $1, 'f002', NULL, NULL, now(), 'acknowledged')",
        cx.site,
    )


async def _fill(page: Any, factory: str, site: str) -> str:
    return str(
        await page.eval_on_selector(
            f'.m-factory[data-factory="{site}/{factory}"] circle', "c => getComputedStyle(c).fill"
        )
    )


async def _box(page: Any, selector: str) -> dict[str, float]:
    # A redraw (the 10 s reload) replaces the element: measure the new one.
    for _ in range(20):
        box = await page.locator(selector).first.bounding_box()
        if box is not None:
            return dict(box)
        await page.wait_for_timeout(50)
    raise AssertionError(f"{selector} is not drawn")


async def _centre(page: Any, selector: str) -> tuple[float, float]:
    box = await _box(page, selector)
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


# The map as drawn with every active alert (the alert book loaded): no repaint is pending.
SETTLED = (
    "() => { const d = window.ccDashboard; return d.book.complete && d.mapView.drawn"
    " && d.mapView.drawn.version === d.book.version; }"
)


async def test_the_map_draws_factories_sensors_wind_and_episodes(cx: Complex) -> None:
    async with httpx.AsyncClient(base_url=cx.url, timeout=10) as admin:
        admin.headers["X-API-Key"] = await cx.key(Role.ADMIN)
        await _situation(cx, admin)
        page = await cx.page(await cx.key(Role.VIEWER))
        await page.evaluate("site => { location.hash = '#/map/' + encodeURIComponent(site); }",
                            cx.site)  # fmt: skip
        f = lambda code: f'.m-factory[data-factory="{cx.site}/{code}"] circle'  # noqa: E731
        await page.wait_for_selector(f("f003"))
        await page.wait_for_function(SETTLED)
        assert await page.get_attribute("#map-svg", "data-frame") == "geo"

        # Colours: f001 critical (open), f002 warning (acknowledged), f003 ok.
        assert await _fill(page, "f001", cx.site) == RGB[3]
        assert await _fill(page, "f002", cx.site) == RGB[2]
        assert await _fill(page, "f003", cx.site) == RGB[0]
        # Where they stand: north up, east right.
        (x1, y1), (x2, y2), (x3, y3) = [await _centre(page, f(c)) for c in PLACES]
        assert x1 < x3 < x2
        assert y1 < y2 < y3
        # Gas and odour sensors as points; the alerting detector in the critical colour.
        assert await page.locator(".m-sensor.k-gas").count() == 2
        assert await page.locator(".m-sensor.k-odor").count() == 2
        gd1 = '.m-sensor[data-sensor="f001/gas/gd1"]'
        assert "lvl-3" in (await page.get_attribute(gd1, "class") or "")
        # od1 of f002 stands 30 m east of its factory, as positioned.
        ox, oy = await _centre(page, '.m-sensor[data-sensor="f002/odor/od1"]')
        assert ox > x2
        assert abs(oy - y2) < 3

        # The wind: from the south-west, the arrow points north-east (rotated 45 degrees).
        arrow = "#map-wind .wind-arrow"
        await page.wait_for_selector(f'{arrow}[data-rotation="45"]')
        matrix = await page.eval_on_selector(
            arrow, "g => { const m = g.transform.baseVal.consolidate().matrix; return [m.a, m.b]; }"
        )
        assert matrix == pytest.approx([math.cos(math.pi / 4), math.sin(math.pi / 4)], abs=1e-6)
        tip = await page.eval_on_selector(
            arrow + " path",
            "p => { const r = p.getBoundingClientRect(); return [r.width, r.height]; }",
        )
        assert tip[0] == pytest.approx(tip[1], rel=0.25)  # diagonal, not upright
        label = await page.inner_text("#map-wind-label")
        assert "225" in label
        assert "3.4" in label
        await page.wait_for_timeout(300)
        await page.screenshot(path=ARTIFACTS / "dashboard-map.png")

        # An episode (attribution's shape): its source ringed, lines to the sensors reached.
        await page.evaluate(
            """site => {
              const v = window.ccDashboard.mapView;
              clearInterval(v.timer); // no reload replaces the fixture meanwhile
              v.doc = {...v.doc, episodes: [{id: 7, kind: "odor", pollutant: "odor",
                source_factory: "f002", confidence: 0.82, onset: new Date().toISOString(),
                sensors_reached: [{factory: "f002", kind: "odor", sensor: "od1", peak_ratio: 3.1},
                                  {factory: "f003", kind: "odor", sensor: "od1"},
                                  {factory: "f002", kind: "air", sensor: "aqs1"}]}]};
              window.ccDashboard.markDirty();
            }""",
            cx.site,
        )
        ep = '.m-episode[data-source="f002"]'
        await page.wait_for_selector(f"{ep} .m-source")
        assert await page.locator(f"{ep} .m-reach").count() == 2
        assert await page.locator(f"{ep} .m-reached").count() == 2
        sx, sy = await _centre(page, f"{ep} .m-source")
        assert (abs(sx - x2), abs(sy - y2)) < (2, 2)  # ringed around f002
        assert "82%" in await page.inner_text("#map-episodes")
        # Every sensor the episode reached is counted, drawn as a point or not (air).
        assert "sensors reached: 3" in await page.inner_text("#map-episodes")
        await page.wait_for_timeout(300)
        await page.screenshot(path=ARTIFACTS / "dashboard-map-episode.png")

        # Korean and English labels: the switch relabels the wind and the episodes.
        texts = {}
        for _ in range(2):
            await page.click("header .lang-switch")
            await page.wait_for_function(
                "before => document.querySelector('#map-wind-label').textContent !== before",
                arg=label,
            )
            label = await page.inner_text("#map-wind-label")
            lang = await page.evaluate("() => document.documentElement.lang")
            texts[lang] = (label, await page.inner_text("#map-episodes"))
            await page.screenshot(path=ARTIFACTS / f"dashboard-map-{lang}.png")
        assert "남서" in texts["ko"][0]
        assert "추정 발생원 f002" in texts["ko"][1]
        assert "south-west" in texts["en"][0]
        assert "likely from f002" in texts["en"][1]

        # Over an uploaded plan: the plan frame, the image drawn under the factories.
        from PIL import Image, ImageDraw

        img = Image.new("RGB", (700, 500), (24, 40, 56))
        draw = ImageDraw.Draw(img)
        for gx in range(0, 700, 50):
            draw.line([(gx, 0), (gx, 500)], fill=(40, 64, 88))
        for gy in range(0, 500, 50):
            draw.line([(0, gy), (700, gy)], fill=(40, 64, 88))
        draw.rectangle([60, 40, 150, 120], outline=(120, 160, 200), width=3)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        r = await admin.put(
            f"/api/v1/sites/{cx.site}/plan",
            params={"width_m": 700, "height_m": 500},
            content=buf.getvalue(),
            headers={"Content-Type": "image/png"},
        )
        assert r.status_code == 200, r.text
        await page.evaluate("() => window.ccDashboard.mapView.load()")
        await page.wait_for_selector('#map-svg[data-frame="plan"] image.m-plan')
        href = await page.get_attribute("image.m-plan", "href")
        assert href is not None
        assert href.startswith("data:image/png;base64,")
        px1, py1 = await _centre(page, f("f001"))
        plan = await _box(page, "image.m-plan")
        # f001 at (100 m, 80 m) on a 700 m x 500 m plan.
        assert px1 - plan["x"] == pytest.approx(plan["width"] * 100 / 700, abs=3)
        assert py1 - plan["y"] == pytest.approx(plan["height"] * 80 / 500, abs=3)
        assert await _fill(page, "f001", cx.site) == RGB[3]
        await page.wait_for_timeout(300)
        await page.screenshot(path=ARTIFACTS / "dashboard-map-plan.png")
        await page.context.close()
    assert not cx.errors, cx.errors


async def test_a_simulated_site_is_drawn_whole_from_its_positions(cx: Complex) -> None:
    from simulators.layout import build_layout
    from simulators.placement import positions_document
    from simulators.scenario import load_scenario

    from controlcenter.layoutfile import import_document, parse_positions

    doc = positions_document(build_layout(load_scenario().with_overrides(factories=120)))
    one = doc["sites"][0]
    site = f"{cx.site}-sim"
    one["site"] = site
    await import_document(cx.pool, parse_positions(json.dumps({"sites": [one]}).encode()))
    hot = one["factories"][0]["factory"]
    await cx.pool.execute(
        "INSERT INTO alerts (rule_name, subject, severity, site, factory, opened_at, state)"
        " VALUES ('map-test', 'sim', 'critical', $1, $2, now(), 'open')",
        site,
        hot,
    )
    page = await cx.page(await cx.key(Role.VIEWER))
    await page.evaluate("site => { location.hash = '#/map/' + encodeURIComponent(site); }", site)
    await page.wait_for_selector(f'.m-factory[data-factory="{site}/{hot}"].lvl-3')
    await page.wait_for_function(SETTLED)
    assert await page.locator(".m-factory").count() == len(one["factories"])
    # Every factory inside the drawing, none on top of another.
    boxes = await page.eval_on_selector_all(
        ".m-factory circle",
        "cs => cs.map(c => { const r = c.getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2, r.width]; })",
    )
    area = await page.locator("#map-svg").bounding_box()
    assert area is not None
    for x, y, _ in boxes:
        assert area["x"] < x < area["x"] + area["width"]
        assert area["y"] < y < area["y"] + area["height"]
    gaps = [math.dist(a[:2], b[:2]) for i, a in enumerate(boxes) for b in boxes[i + 1 :]]
    assert min(gaps) > boxes[0][2] * 0.9  # markers (one diameter across) do not overlap
    await page.wait_for_timeout(300)
    await page.screenshot(path=ARTIFACTS / "dashboard-map-simulated.png")

    # The wheel zooms around the pointer: the factory under it stays there, markers keep
    # their size on screen; a double click shows the whole site again.
    marker = f'.m-factory[data-factory="{site}/{hot}"] circle'
    box = await _box(page, marker)
    cx_, cy_ = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    full = await page.get_attribute("#map-svg", "viewBox")
    await page.mouse.move(cx_, cy_)
    for _ in range(4):
        await page.mouse.wheel(0, -200)
        await page.wait_for_timeout(50)
    zoomed = await page.get_attribute("#map-svg", "viewBox")
    assert full is not None
    assert zoomed is not None
    ratio = float(zoomed.split()[2]) / float(full.split()[2])
    assert ratio == pytest.approx(0.8**4, rel=0.01)
    after = await _box(page, marker)
    assert after["x"] + after["width"] / 2 == pytest.approx(cx_, abs=2)
    assert after["y"] + after["height"] / 2 == pytest.approx(cy_, abs=2)
    assert after["width"] == pytest.approx(box["width"], rel=0.05)
    await page.screenshot(path=ARTIFACTS / "dashboard-map-zoomed.png")
    await page.dblclick("#map-svg", position={"x": 5, "y": 5})
    assert await page.get_attribute("#map-svg", "viewBox") == full
    await page.context.close()
    assert not cx.errors, cx.errors

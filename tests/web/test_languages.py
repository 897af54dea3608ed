"""The dashboard in Korean and in English, as a control room sees it: the vendored Korean
font renders, units and dates follow one formatter in the complex's time zone, counts carry
their legend, and the value axis fits a large counter. Screenshots of the overview, a
factory view and the alerts panel in both languages go to ``test-artifacts/``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from controlcenter.api.auth import Role
from tests._support import now_ms, publish, reading
from tests.web._browser import ARTIFACTS, CHROMIUM, Complex

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="the playwright package is not installed"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
)

# 2026-12-05 10:30 UTC is 19:30 in Seoul.
WHEN_MS = 1_796_466_600_000
EXPECTED = {
    "ko": {"date": "2026. 12. 5. 오후 7:30", "critical": "위험", "spaces": "면"},
    "en": {"date": "2026-12-05 19:30", "critical": "critical", "spaces": "spaces"},
}
COUNTER_KWH = 2_027_621


async def _situation(cx: Complex) -> None:
    """f001: PM2.5 bad (a warning) and a large kWh counter; f002: a full car park (info)."""
    ts = now_ms()
    await publish(
        cx.mqtt_url,
        [
            (cx.topic("f001", "air", "aq1"), reading(ts, pm25=50, pm10=60)),
            (cx.topic("f001", "power", "m1"), reading(ts, kw=105, kwh=COUNTER_KWH)),
            (cx.topic("f002", "parking", "p1"), reading(ts, occupied=40, capacity=40)),
        ],
    )


async def _open(cx: Complex, lang: str) -> Any:
    context = await cx.browser.new_context(viewport={"width": 1440, "height": 900})
    await context.add_init_script(f"localStorage.setItem('cc.lang', '{lang}')")
    page = await context.new_page()
    page.on("pageerror", lambda exc: cx.errors.append(f"pageerror: {exc}"))
    await page.goto(cx.url + "/")
    await page.fill("#login-key", await cx.key(Role.OPERATOR))
    await page.click("#login-submit")
    await page.wait_for_selector(f'.tile[data-factory="{cx.site}/f002"][data-level="1"]')
    await page.wait_for_selector(f'.tile[data-factory="{cx.site}/f001"][data-level="2"]')
    return page


@pytest.mark.parametrize("lang", ["ko", "en"])
async def test_the_page_in_each_language(cx: Complex, lang: str) -> None:
    await _situation(cx)
    page = await _open(cx, lang)
    want = EXPECTED[lang]
    # The vendored font, not the system's, renders the Hangul (also "한국어" on the English page).
    await page.evaluate("document.fonts.ready")
    assert await page.evaluate("document.fonts.check('16px \"CC Noto Sans KR\"', '한국어 위험')")
    loaded = await page.evaluate(
        "[...document.fonts].filter(f => f.status === 'loaded').map(f => f.family)"
    )
    assert any("CC Noto Sans KR" in family for family in loaded), loaded
    # One date formatter, in the complex's time zone (named in the header).
    fmt = f"import('{cx.url}/static/format.js')"
    assert await page.evaluate(f"{fmt}.then(f => f.dateTime({WHEN_MS}))") == want["date"]
    # A value beyond the SI prefixes (a broken meter's sum) stays short.
    assert await page.evaluate(f"{fmt}.then(f => f.si(1.5e20))") == "1.50e+20"
    assert await page.evaluate(f"{fmt}.then(f => f.pct(8.5e305))") == "8.50e+307%"
    assert await page.inner_text("#clock .clock-zone") == "Asia/Seoul"
    # The header's open-alert counts carry their legend, and agree with the tiles.
    legend = await page.inner_text('[data-stat="alerts"]')
    assert want["critical"] in legend
    assert _count(await page.inner_text('[data-stat="alerts-warning"]')) >= 1
    assert _count(await page.inner_text('[data-stat="alerts-info"]')) >= 1
    await page.screenshot(path=ARTIFACTS / f"dashboard-overview-{lang}.png")

    panel = await page.query_selector("#alerts-panel")
    await panel.screenshot(path=ARTIFACTS / f"dashboard-alerts-{lang}.png")

    # Alert values carry units: the car park's in spaces, PM2.5 in µg/m³ (each factory's
    # own list: the panel may hold other tests' alerts first).
    await page.click(f'.tile[data-factory="{cx.site}/f002"]')
    parking = '#factory-alerts li.alert[data-severity="info"]'
    assert want["spaces"] in await page.inner_text(f"{parking} .a-detail")
    await page.click("#view-factory .factory-head a")
    await page.click(f'.tile[data-factory="{cx.site}/f001"]')
    pm = '#factory-alerts li.alert[data-severity="warning"]:has-text("pm25")'
    assert "µg/m³" in await page.inner_text(f"{pm} .a-detail")
    await page.wait_for_selector('.chart-card[data-chart="power/kwh"] canvas')
    await page.wait_for_selector('#sensor-rows tr[data-sensor="air/aq1"]')
    # The value axis fits its longest label: the counter in full or with an SI prefix.
    await page.wait_for_function(
        "() => { const g = window.ccDashboard.factoryView.groups.find(g => g.key === 'power/kwh');"
        " return g && g.grid && g.chart.data[0].length > 0 && g.chart.axes[1]._values?.length; }"
    )
    axis = await page.evaluate(
        """() => { const g = window.ccDashboard.factoryView.groups.find(g => g.key === 'power/kwh');
        const ax = g.chart.axes[1]; g.chart.ctx.font = ax.font[0];
        const labels = ax._values ?? [];
        const widths = labels.map(l => g.chart.ctx.measureText(l).width);
        const widest = Math.max(...widths) / devicePixelRatio;
        return {size: ax._size, widest, labels}; }"""
    )
    assert axis["labels"], axis
    assert all(re.fullmatch(r"[\d,.]+[kMGT]?", label) for label in axis["labels"]), axis
    assert axis["size"] >= axis["widest"], axis
    ticks = await page.evaluate(
        f"{fmt}.then(f => [f.valueTicks([2027600, 2027620, 2027640], 20),"
        " f.valueTicks([0, 2e6, 4e6], 2e6), f.valueTicks([2.02e6, 2.03e6], 1e4),"
        " f.valueTicks([1189279.4, 1189279.5], 0.1)])"
    )
    assert ticks[0] == (["2,027,600", "2,027,620", "2,027,640"] if lang == "en" else ticks[0])
    assert ticks[0][1].replace(",", "").replace(".", "") == "2027620"  # in full, never cut
    assert ticks[1] == ["0", "2M", "4M"]
    assert ticks[2] == ["2.02M", "2.03M"]
    assert len(set(ticks[3])) == 2  # a counter's tenths: distinct labels, never "1M" twice
    # No empty Location column; the kind column holds one line.
    headers = await page.eval_on_selector_all("#view-factory thead th", "els => els.length")
    assert headers == 4
    kind = await page.query_selector('#sensor-rows tr[data-sensor="air/aq1"] td:nth-child(2)')
    box = await kind.bounding_box()
    assert box["height"] < 30, box
    await page.wait_for_timeout(400)
    await page.screenshot(path=ARTIFACTS / f"dashboard-factory-{lang}.png", full_page=True)
    await page.context.close()
    assert not cx.errors, cx.errors


def _count(text: str) -> int:
    """A header count as the page shows it: grouped by the locale ("1,967") when the
    run's shared database holds other tests' alerts."""
    return int(text.replace(",", "").strip())

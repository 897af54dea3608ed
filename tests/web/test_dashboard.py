"""The dashboard in a real headless Chromium (Debian's package) over a running service.

One service per module (ingest, scoring, alerts and the API on a free port) receives
readings over MQTT; the page is driven with Playwright. Screenshots of each view go to
``test-artifacts/`` (gitignored). Skipped when ``/usr/bin/chromium`` or Playwright is
missing: CI needs ``apt-get install -y chromium`` for these to run.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from controlcenter.api.auth import Role
from tests._support import eventually, now_ms, publish, reading
from tests.web._browser import ARTIFACTS, CHROMIUM, FACTORIES, Complex

#: A chart's points: how far (s) each lies from the history's bucket grid, the last value.
CHART_POINTS = """key => {
  const g = window.ccDashboard.factoryView.groups.find(g => g.key === key);
  const xs = g.chart.data[0], ys = g.chart.data[1];
  const at = x => (x - g.grid.origin) / g.grid.step;
  return {n: xs.length, offsets: xs.map(x => Math.abs(at(x) - Math.round(at(x))) * g.grid.step),
          last: ys[ys.length - 1]};
}"""

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="the playwright package is not installed"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
)


async def tile_text(page: Any, site: str, factory: str, metric: str) -> str:
    sel = f'.tile[data-factory="{site}/{factory}"] [data-metric="{metric}"]'
    return str(await page.inner_text(sel))


async def test_page_and_static_files_need_no_key_but_data_does(cx: Complex) -> None:
    async with httpx.AsyncClient(base_url=cx.url, timeout=10) as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert "static/app.js" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        for path in (
            "/static/app.js",
            "/static/style.css",
            "/static/vendor/uplot/LICENSE",
            "/static/vendor/noto-sans-kr/LICENSE",
            "/static/vendor/noto-sans-kr/NotoSansKR-Regular.subset.woff2",
        ):
            assert (await http.get(path)).status_code == 200, path
        assert (await http.get("/static/dashboard.py")).status_code == 404
        assert (await http.get("/api/v1/me")).status_code == 401
        assert (await http.get("/api/v1/factories")).status_code == 401
        key = await cx.key(Role.VIEWER, "f002")
        me = (await http.get("/api/v1/me", headers={"X-API-Key": key})).json()
        assert (me["role"], me["site"], me["factory"]) == ("viewer", cx.site, "f002")
        assert (await http.get("/api/v1/config")).status_code == 401
        config = (await http.get("/api/v1/config", headers={"X-API-Key": key})).json()
        assert config["time_zone"] == "Asia/Seoul"


async def test_login_rejects_a_bad_key_and_keeps_the_key_in_the_tab(cx: Complex) -> None:
    page = await cx.page()
    await page.wait_for_selector("#login:not([hidden])")
    await page.screenshot(path=ARTIFACTS / "dashboard-login.png")
    await page.fill("#login-key", "cc_000000000000_nope")
    await page.click("#login-submit")
    await page.wait_for_selector("#login-error:not([hidden])")
    assert await page.is_hidden("#app")
    cx.errors.clear()  # the browser logs the expected 401
    key = await cx.key(Role.VIEWER)
    await page.fill("#login-key", key)
    await page.click("#login-submit")
    await page.wait_for_selector(f'.tile[data-factory="{cx.site}/f001"]')
    assert await page.evaluate("sessionStorage.getItem('cc.key')") == key
    assert await page.evaluate("localStorage.getItem('cc.key')") is None
    await page.reload()  # the tab remembers the key
    await page.wait_for_selector(f'.tile[data-factory="{cx.site}/f001"]')
    await page.click("#logout")
    await page.wait_for_selector("#login:not([hidden])")
    assert await page.evaluate("sessionStorage.getItem('cc.key')") is None
    await page.context.close()
    assert not cx.errors, cx.errors


async def test_overview_and_factory_view_follow_live_readings(cx: Complex) -> None:
    page = await cx.page(await cx.key(Role.VIEWER))
    await page.wait_for_selector(f'.tile[data-factory="{cx.site}/f001"]')
    for factory in FACTORIES:
        assert await page.is_visible(f'.tile[data-factory="{cx.site}/{factory}"]')
    seen: set[str] = set()
    for value in (11, 22, 33):
        await cx.send("f001", pm25=value, pm10=40)

        async def shows(v: int = value) -> bool:
            text = await tile_text(page, cx.site, "f001", "pm25")
            seen.add(text)
            return text.startswith(str(v))

        await eventually(shows, timeout=10)
    assert len(seen) >= 3  # the tile followed the feed
    await page.fill("#tile-filter", "f002")
    assert await page.is_hidden(f'.tile[data-factory="{cx.site}/f001"]')
    await page.fill("#tile-filter", "")
    await page.screenshot(path=ARTIFACTS / "dashboard-overview.png")

    # The language switch relabels the page.
    await page.click("header .lang-switch")
    label = await page.inner_text(f'.tile[data-factory="{cx.site}/f001"] .t-label')
    await page.click("header .lang-switch")
    assert label != await page.inner_text(f'.tile[data-factory="{cx.site}/f001"] .t-label')

    await page.click(f'.tile[data-factory="{cx.site}/f001"]')
    await page.wait_for_selector('.chart-card[data-chart="air/pm25"] canvas')
    await page.wait_for_selector('#sensor-rows tr[data-sensor="air/aq1"]')
    for value in (24, 26):
        await cx.send("f001", pm25=value, pm10=41)

        async def charted(v: int = value) -> bool:
            values = await page.inner_text('#sensor-rows tr[data-sensor="air/aq1"] .s-values')
            return f"PM2.5 {v} µg/m³" in values

        await eventually(charted, timeout=10)
    # History and live readings on one bucket grid: no raw point after the buckets.
    await page.wait_for_function("() => window.ccDashboard.factoryView.loadedRange === '1h'")
    drawn = await page.evaluate(CHART_POINTS, "air/pm25")
    assert drawn["n"] >= 1
    assert max(drawn["offsets"]) < 2e-3, drawn  # every point on the history's grid (ms times)
    assert 11 <= drawn["last"] <= 33  # the live readings, averaged into their bucket
    for choice in ("15m", "24h", "1h"):  # a range switch leaves the line whole
        await page.select_option("#range", choice)
        await page.wait_for_function(
            "r => window.ccDashboard.factoryView.loadedRange === r", arg=choice
        )
        drawn = await page.evaluate(CHART_POINTS, "air/pm25")
        assert drawn["n"] >= 1, choice
        assert max(drawn["offsets"]) < 2e-3, (choice, drawn)
        assert drawn["last"] is not None
    seen_text = await page.inner_text('#sensor-rows tr[data-sensor="air/aq1"] .s-seen')
    assert seen_text.strip()
    assert seen_text != "never"
    await page.wait_for_timeout(300)
    await page.screenshot(path=ARTIFACTS / "dashboard-factory.png", full_page=True)
    await page.context.close()
    assert not cx.errors, cx.errors


async def test_a_new_critical_alert_appears_and_is_acknowledged_from_the_page(cx: Complex) -> None:
    operator = await cx.page(await cx.key(Role.OPERATOR))
    viewer = await cx.page(await cx.key(Role.VIEWER))
    for page in (operator, viewer):
        await page.wait_for_selector(f'.tile[data-factory="{cx.site}/f003"]')
        await page.wait_for_selector('#live-status[data-state="connected"]')
    await cx.send("f003", pm25=120, pm10=60)  # PM2.5 very bad: pm25-grade, critical
    item = f'#alert-list li.alert[data-severity="critical"]:has-text("{cx.site} / f003")'
    await operator.wait_for_selector(item, timeout=15_000)
    await operator.wait_for_selector("#critical-banner:not([hidden])")
    await viewer.wait_for_selector(item, timeout=15_000)
    # A viewer is offered no action; an operator may acknowledge but not resolve.
    assert await viewer.locator(f"{item} .a-actions button").count() == 0
    assert await viewer.locator(f"{item} .a-assign").count() == 0
    assert await operator.locator(f'{item} button[data-action="resolve"]').count() == 0
    tile = f'.tile[data-factory="{cx.site}/f003"]'
    await operator.wait_for_selector(f'{tile}[data-level="3"] .t-alerts.crit')
    # The tile, its alert and the header tell the same story.
    await operator.wait_for_selector(f'{tile} [data-metric="pm25"][data-grade="very_bad"]')
    # Header counts follow the same alerts as the tiles (other tests' sites may be there too).
    await operator.wait_for_timeout(600)
    book = await operator.evaluate(
        "() => { const d = window.ccDashboard; const c = [...d.book.byId.values()]"
        ".filter(a => a.severity === 'critical' && d.store.byKey.has(a.site + '/' + a.factory));"
        " return [c.length, new Set(c.map(a => a.site + '/' + a.factory)).size]; }"
    )
    assert book[0] >= 1
    assert _count(await operator.inner_text('[data-stat="alerts-critical"]')) == book[0]
    assert _count(await operator.inner_text('[data-stat="lvl-3"]')) == book[1]
    await operator.screenshot(path=ARTIFACTS / "dashboard-alerts.png")

    alert_id = int(await operator.get_attribute(item, "data-alert-id"))
    await operator.click(f'{item} button[data-action="acknowledge"]')

    async def acknowledged() -> bool:
        row = await cx.pool.fetchrow(
            "SELECT state, acknowledged_by FROM alerts WHERE alert_id = $1", alert_id
        )
        return row is not None and row["state"] == "acknowledged"

    await eventually(acknowledged, timeout=10)
    by = await cx.pool.fetchval("SELECT acknowledged_by FROM alerts WHERE alert_id = $1", alert_id)
    assert by == "web-operator"
    acked = f'#alert-list li.alert[data-alert-id="{alert_id}"][data-state="acknowledged"]'
    await operator.wait_for_selector(acked)
    await viewer.wait_for_selector(acked)  # the transition reached the other screen live
    assert await operator.locator(f'{acked} button[data-action="acknowledge"]').is_hidden()
    await operator.screenshot(path=ARTIFACTS / "dashboard-alerts-acknowledged.png")
    for page in (operator, viewer):
        await page.context.close()
    assert not cx.errors, cx.errors


async def test_a_factory_scoped_key_sees_only_its_factory(cx: Complex) -> None:
    await cx.send("f001", pm25=90, pm10=60)  # an alert elsewhere, that it must not see

    async def other_alert() -> bool:
        n = await cx.pool.fetchval(
            "SELECT count(*) FROM alerts WHERE site = $1 AND factory = 'f001'", cx.site
        )
        return bool(n)

    await eventually(other_alert, timeout=15)
    page = await cx.page(await cx.key(Role.MAINTENANCE, "f002"))
    await page.wait_for_selector(f'.tile[data-factory="{cx.site}/f002"]')
    await page.wait_for_selector('#live-status[data-state="connected"]')
    await cx.send("f002", pm25=17, pm10=30)
    await cx.send("f001", pm25=19, pm10=30)

    async def live() -> bool:
        return (await tile_text(page, cx.site, "f002", "pm25")).startswith("17")

    await eventually(live, timeout=10)
    await page.wait_for_timeout(600)  # a few paints after f001's reading
    tiles = await page.eval_on_selector_all(".tile", "els => els.map(e => e.dataset.factory)")
    assert tiles == [f"{cx.site}/f002"]
    html = await page.content()
    for other in ("f001", "f003"):
        assert f"{cx.site}/{other}" not in html
        assert f"{cx.site} / {other}" not in html
    known = await page.evaluate(
        "[...window.ccDashboard.store.series.values()].map(s => s.factory)"
        ".concat([...window.ccDashboard.book.byId.values()].map(a => a.factory))"
    )
    assert set(known) == {"f002"}
    await page.screenshot(path=ARTIFACTS / "dashboard-scoped.png")

    # Its own factory's alert: maintenance assigns and resolves it from the page.
    await cx.send("f002", pm25=50, pm10=30)
    item = '#alert-list li.alert[data-severity="warning"]'
    await page.wait_for_selector(item, timeout=15_000)
    alert_id = int(await page.get_attribute(item, "data-alert-id"))
    await page.click(f'{item} button[data-action="assign"]')
    await page.fill(f"{item} .a-assign input", "crew 7")
    await page.click(f'{item} .a-assign button[data-role="ok"]')
    await page.wait_for_selector(f'{item}:has-text("crew 7")')
    await page.click(f'{item} button[data-action="resolve"]')
    await page.wait_for_selector(f'#alert-list li[data-alert-id="{alert_id}"]', state="detached")
    row = await cx.pool.fetchrow("SELECT state, assignee FROM alerts WHERE alert_id = $1", alert_id)
    assert (row["state"], row["assignee"]) == ("resolved", "crew 7")
    await page.goto(f"{cx.url}/#/f/{cx.site}/f001")  # another factory by URL: nothing shown
    await page.wait_for_selector("#factory-missing:not([hidden])")
    assert await page.locator(".chart-card").count() == 0
    await page.context.close()
    assert not cx.errors, cx.errors


async def test_the_factory_view_shows_a_gas_alarm_on_its_safety_card(cx: Complex) -> None:
    """A gas detector (a kind of the registry, not of code) past its second set point: the
    factory's safety card names the reading and the alarm, its chart is titled by the
    registry's kind title, and its unit is the registry's."""
    await publish(
        cx.mqtt_url, [(cx.topic("f003", "gas", "gd1"), reading(now_ms(), h2s=16.0, o2=20.9))]
    )

    async def alarmed() -> bool:
        n = await cx.pool.fetchval(
            "SELECT count(*) FROM alerts WHERE site = $1 AND factory = 'f003'"
            " AND rule_name = 'gas-h2s' AND state = 'open'",
            cx.site,
        )
        return bool(n)

    await eventually(alarmed)
    page = await cx.page(await cx.key(Role.VIEWER))
    await page.wait_for_selector(f'.tile[data-factory="{cx.site}/f003"]')
    await page.wait_for_function(
        "site => window.ccDashboard.store.factories.some(f => f.key === site + '/f003')"
        " && window.ccDashboard.store.series.size > 0",
        arg=cx.site,
    )
    await page.evaluate("() => window.ccDashboard.refreshCatalog()")
    await page.click(f'.tile[data-factory="{cx.site}/f003"]')
    await page.wait_for_selector('.chart-card[data-chart="gas/h2s"]')
    lang = await page.evaluate("() => document.documentElement.lang")
    card = '#factory-cards [data-card="safety"]'
    await page.wait_for_function(
        "sel => document.querySelector(sel).textContent !== '\u2013'", arg=card
    )
    if lang == "ko":
        await page.click("header .lang-switch")
    assert await page.inner_text(card) == "alarm"
    detail = await page.inner_text('#factory-cards [data-card="safety-detail"]')
    assert detail == "h2s 16.0 ppm · alarm 2", detail
    title = await page.inner_text('.chart-card[data-chart="gas/h2s"] .chart-kind')
    assert title == "Gas detection"
    await page.screenshot(path=ARTIFACTS / "dashboard-safety.png", full_page=True)
    await page.context.close()
    assert not cx.errors, cx.errors


async def test_a_changed_key_keeps_the_page_and_a_revoked_one_signs_it_out(cx: Complex) -> None:
    """The server closes a key's sockets with 4401 when the key is revoked, and also when
    its role changed (the key still works). The page asks ``/me`` before it signs out:
    a changed key reloads the page with the same key, a revoked one signs out."""
    key = await cx.key(Role.VIEWER)
    key_id = key.split("_")[1]
    page = await cx.page(key)
    await page.wait_for_selector('#live-status[data-state="connected"]')
    assert "viewer" in await page.inner_text("#who")
    await cx.pool.execute("UPDATE api_keys SET role = 'operator' WHERE key_id = $1", key_id)
    await page.wait_for_function(
        "() => document.querySelector('#who').textContent.includes('operator')", timeout=15_000
    )
    assert await page.is_visible("#app")
    assert await page.evaluate("sessionStorage.getItem('cc.key')") == key
    await page.wait_for_selector('#live-status[data-state="connected"]')
    await cx.pool.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1", key_id)
    await page.wait_for_selector("#login:not([hidden])", timeout=15_000)
    assert await page.evaluate("sessionStorage.getItem('cc.key')") is None
    await page.context.close()
    cx.errors.clear()  # the browser logs the 401 that told it the key was revoked


def _count(text: str) -> int:
    """A header count as the page shows it: grouped by the locale ("1,967") when the
    run's shared database holds other tests' alerts."""
    return int(text.replace(",", "").strip())


async def test_a_tile_grades_pm25_by_its_own_band_and_never_rounds_across_one(
    cx: Complex,
) -> None:
    # PM2.5 35.4 is "bad" (normal ends at 35): shown as "35" it read as a contradiction of
    # the Korean table; and a tile with normal PM2.5 beside very bad PM10 named PM2.5
    # "very bad" (the air's worst grade, which the factory view shows).
    page = await cx.page(await cx.key(Role.VIEWER))
    await page.wait_for_selector(f'.tile[data-factory="{cx.site}/f002"]')
    row = f'.tile[data-factory="{cx.site}/f002"] [data-metric="pm25"]'

    async def shows(prefix: str) -> str | None:
        # Wait for this reading's value (f002 may show an earlier test's PM2.5, such as a
        # "bad" 50, before it), then read the grade the tile gives it.
        await page.wait_for_function(
            "([sel, p]) => (document.querySelector(sel)?.innerText ?? '').startsWith(p)",
            arg=[row, prefix],
            timeout=10_000,
        )
        return await page.get_attribute(row, "data-grade")

    await cx.send("f002", pm25=35.4, pm10=40)
    assert await shows("35.4") == "bad"
    await cx.send("f002", pm25=20, pm10=200)
    assert await shows("20 ") == "normal"
    await page.context.close()
    assert not cx.errors, cx.errors

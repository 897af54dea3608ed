"""The dashboard of a person on call: their pages arrive live (the pager's websocket
channel, through the real service), and every alert shows its delivery record. Korean and
English; screenshots go to ``test-artifacts/dashboard-page-{ko,en}.png``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from controlcenter.api.auth import Role
from controlcenter.paging import Contact, PagingRepository, Schedule
from tests.web._browser import ARTIFACTS, CHROMIUM, Complex

pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
)
WANT = {"ko": ("당번 호출", "호출 기록", "전송"), "en": ("You are paged", "Pages", "sent")}


@pytest.mark.parametrize(("lang", "factory"), [("ko", "f002"), ("en", "f003")])
async def test_a_person_on_call_sees_their_page_live_and_each_alert_its_deliveries(
    cx: Complex, lang, factory
):
    repo = PagingRepository(cx.pool)
    key = await cx.key(Role.OPERATOR)
    me = await repo.save(
        Contact(
            name=f"당번-{lang}",
            language=lang,
            factories=(f"{cx.site}/{factory}",),
            channels=("websocket",),
            key_id=key.split("_")[1],
        )
    )
    today = datetime.now(ZoneInfo("Asia/Seoul")).date()
    schedule = await repo.save(
        Schedule(
            name=f"web-pages-{cx.site}-{lang}",
            site=cx.site,
            start_date=today - timedelta(days=7),
            rotation=(me.id or 0,),
        )
    )
    context = await cx.browser.new_context(viewport={"width": 1440, "height": 900})
    await context.add_init_script(f"localStorage.setItem('cc.lang', '{lang}')")
    page = await context.new_page()
    page.on("pageerror", lambda exc: cx.errors.append(f"pageerror: {exc}"))
    try:
        await page.goto(cx.url + "/")
        await page.fill("#login-key", key)
        await page.click("#login-submit")
        await page.wait_for_function("() => window.ccDashboard?.pages?.ws?.readyState === 1")
        await cx.send(factory, pm25=130, pm10=60)  # PM2.5 very bad: a critical alert
        card = await page.wait_for_selector("#mypages .mypage.sev-critical", timeout=30_000)
        title, pages, sent = WANT[lang]
        assert title in await card.inner_text()
        assert f"{cx.site}/{factory}" in await card.inner_text()
        await page.evaluate("document.fonts.ready")
        await page.screenshot(path=ARTIFACTS / f"dashboard-page-{lang}.png")

        item = f'#alert-list li.alert[data-severity="critical"]:has-text("{cx.site} / {factory}")'
        button = f"{item} .a-tools .btn-pages"
        assert await page.inner_text(button) == pages
        await page.click(button)
        row = await page.wait_for_selector(f"{item} .a-pages .a-page.outcome-sent")
        text = await row.inner_text()
        assert me.name in text
        assert "websocket" in text
        assert sent in text
        await (await page.query_selector(item)).screenshot(
            path=ARTIFACTS / f"dashboard-alert-pages-{lang}.png"
        )
        await page.click("#mypages .mypage-dismiss")
        await page.wait_for_selector("#mypages", state="hidden")
    finally:
        await repo.delete(Schedule, schedule.id or 0)
        await context.close()
    assert not cx.errors, cx.errors


async def test_a_key_bound_to_nobody_gets_no_pages_and_no_errors(cx: Complex):
    page = await cx.page(await cx.key(Role.VIEWER))
    await page.wait_for_function("() => window.ccDashboard?.pages?.stopped === true")
    assert await page.is_hidden("#mypages")
    await page.context.close()
    assert not cx.errors, cx.errors

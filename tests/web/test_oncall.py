"""The dashboard's "on call now" strip in Korean and English: who is on call per site, with
a phone link and the hand-over time in the complex's time zone. Screenshots go to
``test-artifacts/dashboard-oncall-{ko,en}.png``."""

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
WANT = {
    "ko": ("지금 당번", "까지", "1단계"),
    "en": ("On call now", "until", "level 1"),
}


@pytest.fixture(scope="module")
async def rota(cx: Complex) -> None:
    repo = PagingRepository(cx.pool)
    first = await repo.save(
        Contact(name="정하늘", phone="010-5555-0101", sites=(cx.site,), channels=("sms",))
    )
    second = await repo.save(
        Contact(name="Chris Lee", phone="010-5555-0202", language="en", channels=("sms",))
    )
    today = datetime.now(ZoneInfo("Asia/Seoul")).date()
    for level, person in ((0, first), (1, second)):
        await repo.save(
            Schedule(
                name=f"web-{cx.site}-{level}",
                site=cx.site,
                level=level,
                start_date=today - timedelta(days=today.weekday()),
                handover_day=0,
                handover_time=datetime.min.time(),
                rotation=(person.id or 0,),
            )
        )


@pytest.mark.parametrize("lang", ["ko", "en"])
async def test_on_call_now_is_shown_per_site_in_each_language(cx: Complex, rota, lang):
    context = await cx.browser.new_context(viewport={"width": 1440, "height": 900})
    await context.add_init_script(f"localStorage.setItem('cc.lang', '{lang}')")
    page = await context.new_page()
    page.on("pageerror", lambda exc: cx.errors.append(f"pageerror: {exc}"))
    await page.goto(cx.url + "/")
    await page.fill("#login-key", await cx.key(Role.VIEWER))
    await page.click("#login-submit")
    items = f'#oncall .oncall-item[data-site="{cx.site}"]'
    await page.wait_for_selector(items)
    title, until, level = WANT[lang]
    assert await page.inner_text("#oncall .oncall-title") == title
    texts = await page.eval_on_selector_all(items, "els => els.map(e => e.innerText)")
    assert len(texts) == 2, texts
    assert "정하늘" in texts[0]
    assert "010-5555-0101" in texts[0]
    assert until in texts[0]
    assert "Chris Lee" in texts[1]
    assert level in texts[1]
    href = await page.get_attribute(f"{items} .oncall-phone", "href")
    assert href == "tel:010-5555-0101"
    await page.evaluate("document.fonts.ready")
    strip = await page.query_selector("#oncall")
    await strip.screenshot(path=ARTIFACTS / f"dashboard-oncall-{lang}.png")
    await page.screenshot(path=ARTIFACTS / f"dashboard-overview-oncall-{lang}.png")
    await context.close()
    assert not cx.errors, cx.errors

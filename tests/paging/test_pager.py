"""The pager end to end: alert -> on-call person -> e-mail (real SMTP server), SMS, AlimTalk
and the HTTP template (a real local HTTP receiver); repeats, quiet hours, outages, restarts,
storm grouping, and the acknowledge link."""

from __future__ import annotations

import hashlib
import hmac
import re

from controlcenter.metrics import PAGING_DELIVERIES
from controlcenter.paging import Pager, PagingRepository, verify
from tests._support import eventually
from tests.alerts._helpers import T0, Clock, air_keys, batch, feed, register, running
from tests.alerts._helpers import service as make_service

from ._helpers import (
    LINK_SECRET,
    PUBLIC,
    SOLAPI_ACCEPTED,
    SOLAPI_SECRET,
    Receiver,
    pager_running,
    paging_settings,
    person,
    quiet_person,
    rota,
    settings_for,
    site_code,
    temp_rule,
)
from ._mail import PASSWORD, MailServer


async def _deliveries(pool, alert_id):
    return await PagingRepository(pool).deliveries(alert_id)


async def test_on_call_people_get_an_email_in_their_language_with_alert_and_ack_links(
    pool, make_settings, database_url, tmp_path
):
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 1, "temp", factory="f007"))
    rule = await temp_rule(pool, site)
    ko = await person(pool, name="김민준", email="mj@example.kr", language="ko")
    en = await person(pool, name="Alex Kim", email="alex@example.kr", language="en")
    off = await person(pool, name="off duty", email="off@example.kr")
    # T0 (2027-01-15) is in the second week after 2027-01-04: the rotation's second person
    await rota(pool, site, [off, ko])
    await rota(pool, site, [en])
    async with MailServer(tmp_path) as mail:
        settings = settings_for(
            make_settings,
            database_url,
            smtp=mail.settings().model_dump(mode="json") | {"password": PASSWORD},
        )
        clock = Clock()
        svc = make_service(settings, pool, catalog, clock)
        pager = Pager(settings, pool, clock=clock)
        svc.add_channel(pager.offer)
        async with running(svc), pager_running(pager):
            await feed(svc, batch([(ids[0], T0, 120.0)]))
            await eventually(lambda: _n(mail.inbox, 2), timeout=15)
            await pager.idle()
    by_to = {m["X-Envelope-To"]: m for m in mail.inbox}
    assert set(by_to) == {"mj@example.kr", "alex@example.kr"}
    korean = by_to["mj@example.kr"]
    english = by_to["alex@example.kr"]
    assert korean["Subject"] == f"[주의] {rule.name} 발생 · {site}/f007"
    assert english["Subject"] == f"[WARNING] {rule.name} opened · {site}/f007"
    ko_body = korean.get_body(("plain",)).get_content()
    en_body = english.get_body(("plain",)).get_content()
    assert "당번 호출입니다" in ko_body
    assert "temp 120" in ko_body
    assert "you are on call" in en_body
    assert "temp 120" in en_body
    assert f"{PUBLIC}/#/f/{site}/f007" in en_body
    (token,) = re.findall(rf"{re.escape(PUBLIC)}/ack/(\S+)", en_body)
    (alert_id,) = [
        r["alert_id"]
        for r in await pool.fetch("SELECT alert_id FROM alerts WHERE rule_name = $1", rule.name)
    ]
    ticket = verify(LINK_SECRET.encode(), token, now=clock())
    assert ticket.alerts == (alert_id,)
    assert ticket.contact == en.id
    rows = await _deliveries(pool, alert_id)
    assert sorted((r["person"], r["channel"], r["outcome"]) for r in rows) == sorted(
        [("김민준", "email", "sent"), ("Alex Kim", "email", "sent")]
    )


async def _n(items, n):
    return len(items) >= n


async def test_sms_alimtalk_and_http_template_use_the_documented_requests(
    pool, make_settings, database_url
):
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 1, "temp"))
    await temp_rule(pool, site)
    async with Receiver(body=SOLAPI_ACCEPTED) as rx:
        settings = settings_for(
            make_settings,
            database_url,
            solapi={
                "api_url": rx.url,
                "api_key": "NCSTESTKEY",
                "api_secret": SOLAPI_SECRET,
                "sender": "0212345678",
                "pf_id": "KA01PF-test",
                "template_id": "KA01TP-alert",
            },
            http={
                "url": rx.url + "/gateway",
                "headers": {"x-token": "abc"},
                "body": {"dest": "{phone}", "msg": "{text}", "meta": {"ack": "{ack_link}"}},
            },
        )
        p = await person(
            pool,
            name="박서연",
            phone="010-1234-5678",
            channels=["sms", "alimtalk", "http"],
        )
        await rota(pool, site, [p])
        clock = Clock()
        svc = make_service(settings, pool, catalog, clock)
        pager = Pager(settings, pool, clock=clock)
        svc.add_channel(pager.offer)
        async with running(svc), pager_running(pager):
            await feed(svc, batch([(ids[0], T0, 120.0)]))
            await eventually(lambda: _n(rx.got, 3), timeout=15)
    by_kind = {}
    for path, headers, body in rx.got:
        kind = "http" if path == "/gateway" else body["message"].get("type")
        by_kind[kind] = (path, headers, body)
    path, headers, body = by_kind["SMS"] if "SMS" in by_kind else by_kind["LMS"]
    assert path == "/messages/v4/send"
    auth = headers["authorization"]
    m = re.fullmatch(
        r"HMAC-SHA256 apiKey=NCSTESTKEY, date=(\S+), salt=(\w+), signature=(\w+)", auth
    )
    assert m, auth
    want = hmac.new(SOLAPI_SECRET.encode(), (m[1] + m[2]).encode(), hashlib.sha256).hexdigest()
    assert m[3] == want
    msg = body["message"]
    assert msg["to"] == "01012345678"
    assert msg["from"] == "0212345678"
    assert msg["text"].startswith("[주의]")
    assert "/ack/" in msg["text"]
    _, _, ata = by_kind["ATA"]
    kakao = ata["message"]["kakaoOptions"]
    assert kakao["pfId"] == "KA01PF-test"
    assert kakao["templateId"] == "KA01TP-alert"
    assert kakao["variables"]["#{링크}"].startswith(f"{PUBLIC}/ack/")
    _, gw_headers, gw = by_kind["http"]
    assert gw_headers["x-token"] == "abc"
    assert gw["dest"] == "010-1234-5678"
    assert gw["msg"].startswith("[주의]")
    assert gw["meta"]["ack"].startswith(f"{PUBLIC}/ack/")


async def test_pages_repeat_until_acknowledged_and_survive_a_restart(
    pool, make_settings, database_url
):
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 1, "temp"))
    await temp_rule(pool, site, page_repeat_s=60)
    async with Receiver() as rx:
        settings = settings_for(make_settings, database_url)
        p = await person(pool, name="repeat", webhook_url=rx.url + "/me", channels=["webhook"])
        await rota(pool, site, [p])
        clock = Clock()
        svc = make_service(settings, pool, catalog, clock)
        pager = Pager(settings, pool, clock=clock)
        svc.add_channel(pager.offer)
        async with running(svc):
            async with pager_running(pager):
                await feed(svc, batch([(ids[0], T0, 120.0)]))
                await eventually(lambda: _n(rx.got, 1), timeout=15)
                await pager.idle()
                clock.now += 30
                await pager.dispatch_due()
                await pager.idle()
                assert len(rx.got) == 1  # not yet due
            # a restart: a new pager finds the pending repeat in the database
            clock.now += 31
            pager2 = Pager(settings, pool, clock=clock)
            svc.add_channel(pager2.offer)
            async with pager_running(pager2):
                await eventually(lambda: _n(rx.got, 2), timeout=15)
                await pager2.idle()
                alert_id = rx.got[0][2]["alert_ids"][0]
                await svc.book.acknowledge(alert_id, "someone")
                await eventually(lambda: _empty(pool, alert_id), timeout=10)
                clock.now += 600
                await pager2.dispatch_due()
                await pager2.idle()
    assert [b["reason"] for _, _, b in rx.got] == ["opened", "repeat"]
    rows = await _deliveries(pool, alert_id)
    assert [r["reason"] for r in rows] == ["opened", "repeat"]


async def _empty(pool, alert_id):
    return not await PagingRepository(pool).pending(alert_id)


async def test_quiet_hours_hold_warnings_until_they_end_but_not_criticals(
    pool, make_settings, database_url
):
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 2, "temp"))
    await temp_rule(pool, site)
    async with Receiver() as rx:
        settings = settings_for(make_settings, database_url)
        await quiet_person(pool, site, rx, ["webhook"])
        clock = Clock()
        svc = make_service(settings, pool, catalog, clock)
        pager = Pager(settings, pool, clock=clock)
        svc.add_channel(pager.offer)
        async with running(svc), pager_running(pager):
            await feed(svc, batch([(ids[0], T0, 120.0), (ids[1], T0, 400.0)]))
            await eventually(lambda: _n(rx.got, 1), timeout=15)
            await pager.idle()
            first = [b["severity"] for _, _, b in rx.got]
            clock.now += 3600 + 1  # 18:00:01: quiet hours are over
            await pager.dispatch_due()
            await eventually(lambda: _n(rx.got, 2), timeout=15)
            await pager.idle()  # the send's record is written after the receiver answers
    assert first == ["critical"]
    assert [(b["severity"], b["reason"]) for _, _, b in rx.got][1] == ("warning", "held")
    warning_id = rx.got[1][2]["alert_ids"][0]
    outcomes = [r["outcome"] for r in await _deliveries(pool, warning_id)]
    assert outcomes == ["held", "sent"]


async def test_a_provider_outage_delays_pages_records_retries_and_never_blocks_alerts(
    pool, make_settings, database_url
):
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 1, "temp"))
    rule = await temp_rule(pool, site)
    before = {o: _count("webhook", o) for o in ("retry", "sent")}
    async with Receiver([503, 503, 500]) as rx:
        settings = settings_for(make_settings, database_url)
        p = await person(pool, name="outage", webhook_url=rx.url + "/o", channels=["webhook"])
        await rota(pool, site, [p])
        clock = Clock()
        svc = make_service(settings, pool, catalog, clock)
        pager = Pager(settings, pool, clock=clock)
        svc.add_channel(pager.offer)
        async with running(svc), pager_running(pager):
            await feed(svc, batch([(ids[0], T0, 120.0)]))
            # evaluation went on: the alert is stored whatever the provider does
            assert await pool.fetchval(
                "SELECT count(*) FROM alerts WHERE rule_name = $1", rule.name
            )
            await eventually(lambda: _n(rx.got, 1), timeout=15)
            await pager.idle()
    alert_id = rx.got[0][2]["alert_ids"][0]
    rows = await _deliveries(pool, alert_id)
    assert [(r["attempt"], r["outcome"]) for r in rows] == [
        (1, "retry"),
        (2, "retry"),
        (3, "retry"),
        (4, "sent"),
    ]
    assert "HTTP 503" in rows[0]["error"]
    assert _count("webhook", "retry") - before["retry"] == 3
    assert _count("webhook", "sent") - before["sent"] == 1


def _count(channel, outcome):
    return PAGING_DELIVERIES.labels(channel, outcome)._value.get()


async def test_a_site_wide_event_pages_each_person_twice_not_forty_times(
    pool, make_settings, database_url
):
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 40, "temp"))
    await temp_rule(pool, site)
    async with Receiver() as rx:
        settings = make_settings(
            database_url,
            alerts={"publish_mqtt": False, "group_window_s": 30, "escalation_check_s": 3600},
            paging=paging_settings(),
        )
        p = await person(pool, name="storm", webhook_url=rx.url + "/s", channels=["webhook"])
        await rota(pool, site, [p])
        clock = Clock()
        svc = make_service(settings, pool, catalog, clock)
        pager = Pager(settings, pool, clock=clock)
        svc.add_channel(pager.offer)
        async with running(svc), pager_running(pager):
            await feed(svc, batch([(i, T0, 120.0) for i in ids]))
            await eventually(lambda: _n(rx.got, 1), timeout=15)
            clock.now += 31  # the storm window closes: one grouped page
            await eventually(lambda: _n(rx.got, 2), timeout=15)
            await pager.idle()
    assert [b["count"] for _, _, b in rx.got] == [1, 39]
    assert len(rx.got) == 2


async def test_an_escalation_pages_the_next_level_on_call(pool, make_settings, database_url):
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 1, "temp"))
    await temp_rule(pool, site, escalate_after_s=60)
    async with Receiver() as rx:
        settings = settings_for(make_settings, database_url)
        first = await person(pool, name="first", webhook_url=rx.url + "/1", channels=["webhook"])
        second = await person(pool, name="second", webhook_url=rx.url + "/2", channels=["webhook"])
        await rota(pool, site, [first])
        await rota(pool, site, [second], level=1)
        clock = Clock()
        svc = make_service(settings, pool, catalog, clock)
        pager = Pager(settings, pool, clock=clock)
        svc.add_channel(pager.offer)
        async with running(svc), pager_running(pager):
            await feed(svc, batch([(ids[0], T0, 120.0)]))
            await eventually(lambda: _n(rx.got, 1), timeout=15)
            svc.book.contacts = await svc.repo.contacts()
            clock.now += 61
            assert await svc.book.escalate_due() == 1
            await eventually(lambda: _n(rx.got, 2), timeout=15)
            await pager.idle()
    assert [(path, b["reason"]) for path, _, b in rx.got] == [("/1", "opened"), ("/2", "escalated")]

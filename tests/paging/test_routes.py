"""Paging routes over a real server: admin-only management, the on-call view, an alert's
deliveries, and acknowledging from the page's link (GET confirms, POST acknowledges)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from controlcenter.alerts import Rule
from controlcenter.api.auth import Role
from controlcenter.config import Settings
from controlcenter.paging import PagingRepository, sign
from tests.api._api import running_api

from ._helpers import LINK_SECRET, site_code

SEOUL = ZoneInfo("Asia/Seoul")  # the default CC_TIME_ZONE: hand-overs are in it


@pytest.fixture(scope="module")
async def api(database_url: str, mqtt_url: str):
    settings = Settings(
        database_url=database_url,
        mqtt_url=mqtt_url,
        alerts={"publish_mqtt": False, "group_window_s": 0},
        paging={"link_secret": LINK_SECRET, "public_url": "https://cc.example.kr"},
    )
    async with running_api(settings, alerts=True) as running:
        yield running


def _contact(**over):
    return {"name": "이도윤", "email": "dy@example.kr", "phone": "010-2222-3333"} | over


async def test_only_admins_manage_contacts_and_bad_contacts_get_a_clear_4xx(api):
    admin = await api.client(Role.ADMIN)
    maint = await api.client(Role.MAINTENANCE)
    r = await maint.post("/api/v1/paging/contacts", json=_contact())
    assert r.status_code == 403
    r = await admin.post("/api/v1/paging/contacts", json=_contact(channels=["sms", "email"]))
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert (await admin.get(f"/api/v1/paging/contacts/{cid}")).json()["channels"] == [
        "sms",
        "email",
    ]
    r = await admin.post("/api/v1/paging/contacts", json=_contact(phone=None, channels=["sms"]))
    assert r.status_code == 400
    assert "needs phone" in r.text
    r = await admin.post("/api/v1/paging/contacts", json=_contact(language="fr"))
    assert r.status_code == 422
    r = await admin.put(f"/api/v1/paging/contacts/{cid}", json=_contact(name="이도윤 (교대)"))
    assert r.json()["name"] == "이도윤 (교대)"
    assert (await admin.delete(f"/api/v1/paging/contacts/{cid}")).status_code == 204
    assert (await admin.get(f"/api/v1/paging/contacts/{cid}")).status_code == 404


async def test_a_contact_is_bound_to_one_api_key_for_its_dashboard_pages(api):
    admin = await api.client(Role.ADMIN)
    key_id = (await api.key()).split("_")[1]
    r = await admin.post("/api/v1/paging/contacts", json=_contact(channels=["websocket"]))
    assert r.status_code == 400
    assert "needs key_id" in r.text
    r = await admin.post("/api/v1/paging/contacts", json=_contact(key_id="cc_not_an_id"))
    assert r.status_code == 422
    body = _contact(channels=["websocket", "mqtt"], key_id=key_id)
    r = await admin.post("/api/v1/paging/contacts", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["key_id"] == key_id
    r = await admin.post("/api/v1/paging/contacts", json=body | {"name": "someone else"})
    assert r.status_code == 409
    assert "bound to another contact" in r.text


async def test_on_call_now_follows_the_rotation_and_an_override(api):
    admin = await api.client(Role.ADMIN)
    site = site_code()
    a = (await admin.post("/api/v1/paging/contacts", json=_contact(name="A"))).json()
    b = (await admin.post("/api/v1/paging/contacts", json=_contact(name="B"))).json()
    today = datetime.now(SEOUL).date()
    monday = today - timedelta(days=today.weekday() + 7)  # a Monday 1-2 weeks ago
    sched = {
        "name": f"day-{site}",
        "site": site,
        "start_date": monday.isoformat(),
        "handover_day": monday.weekday(),
        "handover_time": "00:00:00",
        "rotation": [a["id"], b["id"]],
    }
    r = await admin.post("/api/v1/paging/schedules", json=sched)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert (await admin.post("/api/v1/paging/schedules", json=sched)).status_code == 409
    bad = sched | {"name": f"x-{site}", "rotation": [2**31 - 1]}
    assert (await admin.post("/api/v1/paging/schedules", json=bad)).status_code == 409
    viewer = await api.client(Role.VIEWER)

    async def who_now():
        body = (await viewer.get("/api/v1/oncall")).json()
        return [d for d in body["on_call"] if d["site"] == site]

    # weeks since the start: 1 (a Monday one week ago this week or later) -> B; else A
    (duty,) = await who_now()
    weeks = (datetime.now(SEOUL).date() - monday).days // 7
    assert duty["name"] == ("B" if weeks % 2 else "A")
    assert duty["phone"] == "010-2222-3333"
    other = a if duty["name"] == "B" else b
    now = datetime.now(UTC)
    r = await admin.post(
        f"/api/v1/paging/schedules/{sid}/overrides",
        json={
            "contact_id": other["id"],
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "reason": "swap",
        },
    )
    assert r.status_code == 201, r.text
    (duty,) = await who_now()
    assert duty["name"] == other["name"]
    assert duty["override"] is True
    r = await admin.post(
        f"/api/v1/paging/schedules/{sid}/overrides",
        json={"contact_id": a["id"], "starts_at": now.isoformat(), "ends_at": now.isoformat()},
    )
    assert r.status_code == 400


async def _open_alert(api, site):
    svc = api.state.alerts
    rule = await svc.repo.save_rule(
        Rule.model_validate(
            {
                "name": f"ack-{site}",
                "scope": {"site": site},
                "conditions": [{"metric": "temp", "raise_at": 80}],
            }
        )
    )
    row = await svc.book.open(
        rule, f"{site}/f1/air/a1/temp", {"site": site, "factory": "f1"}, 1, 99.0, rule.base_severity
    )
    return row["alert_id"]


async def test_the_ack_link_shows_a_confirm_page_and_acknowledges_only_on_post(api):
    site = site_code()
    alert_id = await _open_alert(api, site)
    c = (
        await (await api.client(Role.ADMIN)).post(
            "/api/v1/paging/contacts", json=_contact(name="최지우", language="ko")
        )
    ).json()
    token = sign(LINK_SECRET.encode(), [alert_id], contact=c["id"], expires=int(time.time()) + 600)
    anon = await api.client(None)
    page = await anon.get(f"/ack/{token}")
    assert page.status_code == 200
    assert "확인" in page.text
    assert '<form method="post">' in page.text
    viewer = await api.client(Role.VIEWER)
    assert (await viewer.get(f"/api/v1/alerts/{alert_id}")).json()["state"] == "open"
    done = await anon.post(f"/ack/{token}")
    assert done.status_code == 200
    assert "최지우" in done.text
    alert = (await viewer.get(f"/api/v1/alerts/{alert_id}")).json()
    assert alert["state"] == "acknowledged"
    assert alert["acknowledged_by"] == "최지우 (page link)"
    assert any(
        h["transition"] == "acknowledged" and h["actor"] == "최지우 (page link)"
        for h in alert["history"]
    )
    assert (await anon.post(f"/ack/{token}")).status_code == 409  # already acknowledged


async def test_forged_or_expired_ack_links_are_refused(api):
    site = site_code()
    alert_id = await _open_alert(api, site)
    anon = await api.client(None)
    forged = sign(b"not-the-secret-key", [alert_id], contact=1, expires=int(time.time()) + 600)
    expired = sign(LINK_SECRET.encode(), [alert_id], contact=1, expires=int(time.time()) - 1)
    for token in (forged, expired, "garbage", "a.b"):
        r = await anon.post(f"/ack/{token}")
        assert r.status_code == 404
    viewer = await api.client(Role.VIEWER)
    assert (await viewer.get(f"/api/v1/alerts/{alert_id}")).json()["state"] == "open"


async def test_deliveries_of_an_alert_are_listed_within_the_keys_scope(api):
    site = site_code()
    alert_id = await _open_alert(api, site)
    repo = PagingRepository(api.pool)
    await repo.record([(alert_id, None, "x", "sms", "opened", 1, "retry", "HTTP 503")])
    await repo.record([(alert_id, None, "x", "sms", "opened", 2, "sent", "")])
    viewer = await api.client(Role.VIEWER)
    body = (await viewer.get(f"/api/v1/alerts/{alert_id}/deliveries")).json()
    assert [(d["attempt"], d["outcome"]) for d in body["deliveries"]] == [(1, "retry"), (2, "sent")]
    scoped = await api.client(Role.VIEWER, scope=(site, "f2"))
    assert (await scoped.get(f"/api/v1/alerts/{alert_id}/deliveries")).status_code == 404
    mine = await api.client(Role.VIEWER, scope=(site, "f1"))
    assert (await mine.get(f"/api/v1/alerts/{alert_id}/deliveries")).status_code == 200

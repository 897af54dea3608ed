"""The report routes over a real server: roles, factory scopes, bad input, files, archive."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from controlcenter.api.auth import Role
from controlcenter.config import Settings
from tests.api._api import running_api
from tests.reports._seed import TZ, raw_energy, seed


@pytest.fixture(scope="module")
async def api(database_url, mqtt_url):
    async with running_api(Settings(database_url=database_url, mqtt_url=mqtt_url)) as running:
        yield running


@pytest.fixture(scope="module")
async def cx(api):
    return await seed(api.pool, [date(2026, 11, 20), date(2026, 11, 21)])


async def test_an_operator_makes_a_daily_pdf_that_is_stored_and_downloadable(api, cx):
    op = await api.client(Role.OPERATOR)
    r = await op.get("/api/v1/reports/daily", params={"site": cx.site, "date": "2026-11-21"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert f"report-daily-{cx.site}-2026-11-21-ko.pdf" in r.headers["content-disposition"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "일간 보고서" in text
    assert cx.site in text
    report_id = int(r.headers["x-report-id"])
    listed = (await op.get("/api/v1/reports", params={"site": cx.site})).json()["reports"]
    assert report_id in [x["report_id"] for x in listed]
    got = await op.get(f"/api/v1/reports/{report_id}")
    assert got.status_code == 200
    assert got.content == r.content


async def test_a_monthly_workbook_carries_the_raw_figures(api, cx):
    op = await api.client(Role.OPERATOR)
    r = await op.get(
        "/api/v1/reports/monthly",
        params={"site": cx.site, "month": "2026-11", "format": "xlsx", "lang": "en"},
    )
    assert r.status_code == 200, r.text
    book = load_workbook(io.BytesIO(r.content))
    total = next(row for row in book["energy"].iter_rows(values_only=True) if row[0] == "Total")
    from controlcenter.reports import Period

    p = Period.parse("monthly", "2026-11", TZ)
    kwh, peak, _ = await raw_energy(api.pool, cx.series["kw"], p.start, p.end)
    assert total[1] == pytest.approx(kwh, rel=1e-9)
    assert total[2] == pytest.approx(peak, rel=1e-9)


async def test_roles_are_enforced(api, cx):
    params = {"site": cx.site, "date": "2026-11-21"}
    viewer = await api.client(Role.VIEWER)
    assert (await viewer.get("/api/v1/reports/daily", params=params)).status_code == 403
    assert (await viewer.get("/api/v1/reports")).status_code == 403
    nobody = await api.client(None)
    assert (await nobody.get("/api/v1/reports/daily", params=params)).status_code == 401
    op = await api.client(Role.OPERATOR)
    assert (await op.get("/api/v1/reports/subscribers")).status_code == 403


async def test_a_factory_key_gets_its_own_factory_only(api, cx):
    key = await api.client(Role.OPERATOR, scope=(cx.site, "f02"))
    mine = await key.get("/api/v1/reports/daily", params={"site": cx.site, "date": "2026-11-21"})
    assert mine.status_code == 200, mine.text
    assert f"{cx.site}-f02-2026-11-21" in mine.headers["content-disposition"]
    other = await key.get(
        "/api/v1/reports/daily", params={"site": cx.site, "factory": "f01", "date": "2026-11-21"}
    )
    assert other.status_code == 403
    listed = (await key.get("/api/v1/reports")).json()["reports"]
    assert listed
    assert {(x["site"], x["factory"]) for x in listed} == {(cx.site, "f02")}
    assert (await key.get("/api/v1/reports", params={"factory": "f01"})).status_code == 403
    op = await api.client(Role.OPERATOR)
    whole = await op.get("/api/v1/reports/daily", params={"site": cx.site, "date": "2026-11-20"})
    assert (await key.get(f"/api/v1/reports/{whole.headers['x-report-id']}")).status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("daily", {"date": "2026-13-01"}, 400),
        ("daily", {"date": "2026-02-30"}, 400),
        ("daily", {"date": "yesterday"}, 422),
        ("daily", {}, 422),
        ("monthly", {"month": "2026-13"}, 400),
        ("monthly", {"month": "2026-11-01"}, 422),
        ("daily", {"date": "2026-11-21", "format": "doc"}, 422),
        ("daily", {"date": "2026-11-21", "lang": "fr"}, 422),
        ("daily", {"date": "2026-11-21", "site": "nosuchsite"}, 404),
        ("daily", {"date": "2026-11-21", "factory": "nosuch"}, 404),
        ("daily", {"date": "2026-11-21", "site": "bad site!"}, 422),
    ],
)
async def test_bad_input_is_a_clear_4xx(api, cx, path, params, status):
    op = await api.client(Role.OPERATOR)
    r = await op.get(f"/api/v1/reports/{path}", params={"site": cx.site, **params})
    assert r.status_code == status, r.text
    assert r.json()["detail"]


async def test_unknown_reports_are_404(api):
    op = await api.client(Role.OPERATOR)
    assert (await op.get("/api/v1/reports/999999999")).status_code == 404
    assert (await op.get("/api/v1/reports/0")).status_code == 422


async def test_admins_manage_subscribers(api, cx):
    admin = await api.client(Role.ADMIN)
    body = {"name": "관제실", "email": "room@example.com", "site": cx.site, "lang": "ko"}
    made = await admin.post("/api/v1/reports/subscribers", json=body)
    assert made.status_code == 201, made.text
    sid = made.json()["subscriber_id"]
    listed = (await admin.get("/api/v1/reports/subscribers", params={"site": cx.site})).json()
    assert [s["email"] for s in listed["subscribers"]] == ["room@example.com"]
    bad = await admin.post("/api/v1/reports/subscribers", json={**body, "email": "nobody"})
    assert bad.status_code == 422
    bad = await admin.post("/api/v1/reports/subscribers", json={**body, "format": "doc"})
    assert bad.status_code == 422
    bad = await admin.post("/api/v1/reports/subscribers", json={**body, "monthly": 0})
    assert bad.status_code == 422  # not a boolean (schemathesis found it accepted)
    assert (await admin.delete(f"/api/v1/reports/subscribers/{sid}")).status_code == 204
    assert (await admin.delete(f"/api/v1/reports/subscribers/{sid}")).status_code == 404
    scoped = await api.client(Role.ADMIN, scope=(cx.site, "f01"))
    assert (await scoped.post("/api/v1/reports/subscribers", json=body)).status_code == 403

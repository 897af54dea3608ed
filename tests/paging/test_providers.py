"""A provider that answers HTTP 200 may still refuse the message: SOLAPI's documented
``statusCode`` decides (a real local HTTP receiver plays SOLAPI)."""

from __future__ import annotations

import pytest

from controlcenter.metrics import PAGING_DELIVERIES
from controlcenter.paging import PagingRepository
from tests._support import eventually
from tests.alerts._helpers import T0, air_keys, batch, feed, register

from ._helpers import (
    SOLAPI_ACCEPTED,
    SOLAPI_SECRET,
    Receiver,
    paging,
    person,
    rota,
    settings_for,
    site_code,
    temp_rule,
)


def _answer(code: str, message: str) -> tuple[int, dict]:
    return 200, SOLAPI_ACCEPTED | {"statusCode": code, "statusMessage": message}


CASES = {
    # a busy handset (3041) is worth another attempt; the next one is accepted
    "busy-then-accepted": (
        [_answer("3041", "단말기 busy")],
        [(1, "retry", "SOLAPI 3041: 단말기 busy"), (2, "sent", "")],
    ),
    # an unregistered sender number (1062) will not get better: failed at once
    "refused-under-http-200": (
        [_answer("1062", "발신번호 미등록")],
        [(1, "failed", "SOLAPI 1062: 발신번호 미등록")],
    ),
    # an HTTP error keeps SOLAPI's errorCode and errorMessage
    "http-400-with-error-body": (
        [(400, {"errorCode": "ValidationError", "errorMessage": "to is invalid"})],
        [(1, "failed", "HTTP 400 ValidationError: to is invalid")],
    ),
    # an answer that is not SOLAPI's (no statusCode) is not taken for a delivery
    "no-status-code": (
        [(200, {"ok": True})],
        [(1, "retry", "SOLAPI answered without a statusCode"), (2, "sent", "")],
    ),
}


async def _asked(rx, n):
    return rx.requests >= n


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
async def test_solapi_failures_reported_in_the_answer_are_retried_or_failed(
    pool, make_settings, database_url, case
):
    answers, expected = CASES[case]
    site = site_code()
    catalog, ids = await register(pool, air_keys(site, 1, "temp"))
    await temp_rule(pool, site)
    before = PAGING_DELIVERIES.labels("sms", "failed")._value.get()
    async with Receiver(answers, body=SOLAPI_ACCEPTED) as rx:
        solapi = {
            "api_url": rx.url,
            "api_key": "NCSTESTKEY",
            "api_secret": SOLAPI_SECRET,
            "sender": "0212345678",
        }
        settings = settings_for(make_settings, database_url, solapi=solapi)
        p = await person(pool, name="sms", phone="010-2222-3333", channels=["sms"])
        await rota(pool, site, [p])
        async with paging(settings, pool, catalog) as (svc, pager, _clock):
            await feed(svc, batch([(ids[0], T0, 120.0)]))
            await eventually(lambda: _asked(rx, len(expected)), timeout=15)
            await pager.idle()
    alert_id = await pool.fetchval(
        "SELECT alert_id FROM alerts WHERE site = $1 ORDER BY alert_id LIMIT 1", site
    )
    rows = await PagingRepository(pool).deliveries(alert_id)
    got = [(r["attempt"], r["outcome"], r["error"]) for r in rows]
    assert [(a, o) for a, o, _ in got] == [(a, o) for a, o, _ in expected]
    for (_, _, error), (_, _, want) in zip(got, expected, strict=True):
        assert error.startswith(want), (error, want)
    failed = sum(o == "failed" for _, o, _ in expected)
    assert PAGING_DELIVERIES.labels("sms", "failed")._value.get() - before == failed
    assert rx.requests == len(expected)  # a refused message is not sent again

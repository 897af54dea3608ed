"""The lifecycle worker's shutdown path: stopped mid-storm, it records what it could not
apply in ``alert_backlog``, and the next start applies it; nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import json
import math
import uuid

import pytest

from controlcenter.alerts import Rule
from controlcenter.alerts._worker import Transition, Work
from controlcenter.alerts.rules import Severity
from controlcenter.anomaly import Events
from tests.alerts._helpers import T0, Clock, add_rules, air_keys, alerts_of, batch, register
from tests.alerts._helpers import service as make_service


@pytest.fixture
def site():
    return f"site{uuid.uuid4().hex[:8]}"


async def _backlog(pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM alert_backlog"))


async def test_stopped_mid_storm_the_worker_records_the_rest_and_the_next_start_applies_it(
    pool, make_settings, database_url, site
):
    n = 1_500
    catalog, ids = await register(pool, air_keys(site, n))
    name = f"r{uuid.uuid4().hex[:10]}"
    (rule,) = await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}],
        },
    )
    settings = make_settings(
        database_url,
        alerts={"publish_mqtt": False, "group_window_s": 0, "shutdown_timeout_s": 0.2},
    )
    svc = make_service(settings, pool, catalog, Clock())
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    await asyncio.wait_for(svc.started.wait(), 20)
    # Two batches of breaches (1,500 opens, a transaction each), then at once: stop.
    half = n // 2
    b1 = batch([(i, T0, 120.0) for i in ids[:half]])
    b2 = batch([(i, T0, 120.0) for i in ids[half:]])
    await svc.on_scored(b1, b1.value * 0, _no_events())
    await svc.on_scored(b2, b2.value * 0, _no_events())
    stop.set()
    await asyncio.wait_for(task, 20)  # returns, no exception: nothing is cancelled
    assert task.exception() is None
    opened_at_stop = len(await alerts_of(pool, name))
    assert opened_at_stop < n, "the worker applied everything within 0.2 s: nothing tested"
    assert await _backlog(pool) >= 1
    assert svc.worker.pending == 0  # nothing left in memory: all of it is in the backlog

    # The next start replays the backlog before it evaluates anything.
    svc2 = make_service(settings, pool, catalog, Clock())
    notified: list = []
    svc2.add_listener(notified.append)  # as the API's live hub listens
    await svc2.start()
    rows = await alerts_of(pool, name)
    assert len(rows) == n
    assert {r["state"] for r in rows} == {"open"}
    assert len({r["subject"] for r in rows}) == n  # one alert per sensor, none twice
    opened = await pool.fetchval(
        "SELECT count(*) FROM alert_history h JOIN alerts a USING (alert_id)"
        " WHERE a.rule_name = $1 AND h.transition = 'opened'",
        name,
    )
    assert opened == n
    assert await _backlog(pool) == 0
    # Each replayed open is notified once; those stored before the stop are not again.
    replayed = [p for p in notified if p["rule"] == name and p["transition"] == "opened"]
    assert len(replayed) == n - opened_at_stop
    # The replayed alerts are active in the new service's rule state too: no second open.
    assert sum(1 for rule_id, _ in svc2.book.active if rule_id == rule.id) == n


def _no_events():
    return Events.empty()


def test_a_backlog_document_round_trips_through_json_even_with_nan_and_infinity():
    """jsonb refuses NaN and infinity: a reading's NaN must not make the backlog's record
    fail (and lose the shutdown's transitions)."""
    rule = Rule.model_validate(
        {"id": 7, "name": "r", "conditions": [{"metric": "pm10", "raise_at": 80}]}
    )
    where = {"site": "s", "factory": "f", "kind": "air", "sensor": "a", "metric": "pm10"}
    work = Work(
        [Transition(rule, "s/f/air/a/pm10", where, 5, math.nan, True, Severity.parse("warning"))],
        [(7, "s/f/air/a/pm10", math.inf, 1.5, 6, Severity.parse("critical"))],
    )
    text = json.dumps(work.encoded(), allow_nan=False)  # what jsonb accepts
    back = Work.decoded(json.loads(text), {7: rule})
    (tr,) = back.transitions
    assert tr.rule is rule
    assert (tr.where, tr.at_us, tr.opened) == (where, 5, True)
    assert math.isnan(tr.value)
    assert tr.severity == Severity.parse("warning")
    assert back.updates == [(7, "s/f/air/a/pm10", math.inf, 1.5, 6, Severity.parse("critical"))]
    assert Work.decoded(json.loads(text), {}).transitions == []  # the rule was deleted since

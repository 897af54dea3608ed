"""The stored registry: packaged kinds written at load, an admin's kind seen by another
process's book at its next refresh, default rules stored once, and a built-in rule
following its kind's default until an operator edits it."""

from __future__ import annotations

import asyncio
import json
import uuid

from controlcenter.alerts.storage.repository import AlertRepository
from controlcenter.kinds import packaged, parse_kind
from controlcenter.store import KindBook
from tests._support import eventually


async def test_a_kind_saved_by_one_process_reaches_the_others_at_their_refresh(pool):
    here, there = KindBook(pool), KindBook(pool, refresh_s=0.05)
    await here.load()
    await there.load()
    assert {"gas", "fire", "odor", "water", "weather"} <= set(there.current.names)
    name = f"vib{uuid.uuid4().hex[:6]}"
    rule = f"vib-{uuid.uuid4().hex[:6]}"
    await here.save(
        name,
        {
            "metrics": {"rms": {"unit": "mm/s", "limits": [0, 1000]}},
            "rules": [{"name": rule, "conditions": [{"metric": "rms", "raise_at": 11.2}]}],
        },
        create=True,
    )
    assert here.current.unit(name, "rms") == "mm/s"
    assert name not in there.current
    stop = asyncio.Event()
    seen: list[int] = []
    there.add_listener(lambda reg: seen.append(len(reg)))
    task = asyncio.create_task(there.run(stop))
    try:
        await eventually(lambda: asyncio.sleep(0, name in there.current))
    finally:
        stop.set()
        await task
    assert there.current.limits(name) == {"rms": (0.0, 1000.0)}
    assert seen[-1] == len(there.current)
    stored = await pool.fetchrow(
        "SELECT builtin, definition FROM alert_rules WHERE name = $1", rule
    )
    assert stored["builtin"] is True
    assert json.loads(stored["definition"])["scope"] == {"kind": name}


async def test_loading_twice_keeps_one_row_per_kind_and_one_rule_per_default(pool):
    book = KindBook(pool)
    await book.load()
    await book.load()
    assert await pool.fetchval("SELECT count(*) FROM sensor_kinds WHERE kind = 'gas'") == 1
    assert await pool.fetchval("SELECT count(*) FROM alert_rules WHERE name = 'gas-lel'") == 1
    assert await pool.fetchval("SELECT builtin FROM sensor_kinds WHERE kind = 'gas'") is True


def _kind(rule: str, clear_after_s: float | None) -> dict[str, object]:
    cond: dict[str, object] = {"name": rule, "conditions": [{"metric": "ppm", "raise_at": 10}]}
    if clear_after_s is not None:
        cond["clear_after_s"] = clear_after_s
    return {"metrics": {"ppm": {"unit": "ppm", "limits": [0, 1000]}}, "rules": [cond]}


async def test_a_fixed_default_rule_reaches_a_deployment_unless_an_operator_edited_it(pool):
    # Release 1 ships two kinds' default rules without an off-delay; release 2 adds it
    # (as the gas rules got theirs). One rule was edited by an operator in between.
    kept, follows = f"k{uuid.uuid4().hex[:6]}", f"f{uuid.uuid4().hex[:6]}"
    kept_rule, follows_rule = f"{kept}-limit", f"{follows}-limit"

    def release(clear: float | None) -> KindBook:
        base = packaged()
        for name, rule in ((kept, kept_rule), (follows, follows_rule)):
            base = base.with_kind(parse_kind(name, _kind(rule, clear)))
        return KindBook(pool, base)

    await release(None).load()
    before = await pool.fetchval("SELECT definition FROM alert_rules WHERE name = $1", follows_rule)
    assert "clear_after_s" not in json.loads(before)
    repo = AlertRepository(pool)
    mine = next(r for r in await repo.rules() if r.name == kept_rule)
    await repo.save_rule(mine.model_copy(update={"clear_after_s": 60.0}))

    await release(300.0).load()
    rows = {
        r["name"]: (r["builtin"], json.loads(r["definition"]))
        for r in await pool.fetch(
            "SELECT name, builtin, definition FROM alert_rules WHERE name = ANY($1::text[])",
            [kept_rule, follows_rule],
        )
    }
    assert rows[follows_rule][0] is True
    assert rows[follows_rule][1]["clear_after_s"] == 300
    assert rows[kept_rule][0] is False
    assert rows[kept_rule][1]["clear_after_s"] == 60.0
    # Loading the same release again changes nothing.
    stamp = await pool.fetchval("SELECT updated_at FROM alert_rules WHERE name = $1", follows_rule)
    await release(300.0).load()
    assert (
        await pool.fetchval("SELECT updated_at FROM alert_rules WHERE name = $1", follows_rule)
        == stamp
    )

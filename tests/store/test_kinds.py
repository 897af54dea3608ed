"""The stored registry: packaged kinds written at load, an admin's kind seen by another
process's book at its next refresh, and default rules stored once."""

from __future__ import annotations

import asyncio
import json
import uuid

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

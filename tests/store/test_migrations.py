"""Migrations: down and up again, and the indexes of ``readings``."""

from __future__ import annotations

import asyncio
import json

import asyncpg
from alembic import command
from alembic.script import ScriptDirectory

from controlcenter.alerts.storage.repository import _LATEST_VALUES
from controlcenter.config import Settings
from controlcenter.store import alembic_config, migrate, read_storage_mode
from controlcenter.store.reads import LATEST as _LATEST_DB
from tests.conftest import create_database, drop_database

# Every index on readings and on its partitions (plain) or chunks (TimescaleDB), with its
# access method and first column.
_INDEXES = """
SELECT ic.relname AS index, am.amname AS method, a.attname AS first_column
FROM pg_index x
JOIN pg_class ic ON ic.oid = x.indexrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
WHERE x.indrelid = 'readings'::regclass
   OR x.indrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'readings'::regclass)
"""


async def test_no_btree_index_leads_readings_by_time_for_the_latest_value_queries(pool):
    # Such an index (TimescaleDB's default readings_time_idx) made the planner answer the
    # latest-value queries by walking every series' rows newest first: 9.1 s instead of
    # 81 ms. The series' own (series_id, time DESC) index is the one to use.
    indexes = await pool.fetch(_INDEXES)
    assert {r["first_column"] for r in indexes if r["method"] == "btree"} == {"series_id"}
    assert "readings_time_idx" not in {r["index"] for r in indexes}
    time_led = {r["index"] for r in indexes if r["first_column"] == "time"}
    for sql in (_LATEST_DB, _LATEST_VALUES):
        plan = await pool.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", [1, 2, 3])
        assert not time_led & set(_index_names(json.loads(plan))), sql
    if not (await read_storage_mode(pool)).timescale:
        # The rollup refresh finds the minutes it recomputes by a BRIN index on time.
        assert ("brin", "time") in {(r["method"], r["first_column"]) for r in indexes}


def _index_names(node: object) -> list[str]:
    if isinstance(node, list):
        return [n for item in node for n in _index_names(item)]
    if isinstance(node, dict):
        own = [node["Index Name"]] if "Index Name" in node else []
        return own + [n for value in node.values() for n in _index_names(value)]
    return []


async def test_downgrade_to_0002_and_upgrade_again(pg_server_url, mqtt_url, run_id):
    name = f"cc_test_{run_id}_downup"
    url = await create_database(pg_server_url, name)
    settings = Settings(database_url=url, mqtt_url=mqtt_url)
    try:
        await migrate(settings)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("INSERT INTO readings VALUES (now(), 1, 42.0)")
            cfg = alembic_config(settings)
            await asyncio.to_thread(command.downgrade, cfg, "0002")
            assert await conn.fetchval("SELECT version_num FROM alembic_version") == "0002"
            await migrate(settings)
            head = ScriptDirectory.from_config(cfg).get_current_head()
            assert await conn.fetchval("SELECT version_num FROM alembic_version") == head
            assert await conn.fetchval("SELECT value FROM readings WHERE series_id = 1") == 42.0
            tables = ("readings_1m", "readings_5m", "readings_1h", "cc_rollup_pending")
            for table in tables:
                assert await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table), table
        finally:
            await conn.close()
    finally:
        await drop_database(pg_server_url, name)


async def test_0018_hands_built_in_rules_an_operator_edited_to_the_operator(
    pg_server_url, mqtt_url, run_id
):
    name = f"cc_test_{run_id}_rules18"
    url = await create_database(pg_server_url, name)
    settings = Settings(database_url=url, mqtt_url=mqtt_url)
    try:
        cfg = alembic_config(settings)
        await asyncio.to_thread(command.upgrade, cfg, "0017")
        conn = await asyncpg.connect(url)
        try:
            # Seeded by 0007: built in, never saved since. One of them an operator saved.
            await conn.execute(
                "UPDATE alert_rules SET enabled = false,"
                " updated_at = updated_at + interval '1 day' WHERE name = 'co2-limit'"
            )
            await migrate(settings)
            rows = dict(await conn.fetch("SELECT name, builtin FROM alert_rules"))
            assert rows["co2-limit"] is False
            assert rows["voc-limit"] is True
        finally:
            await conn.close()
    finally:
        await drop_database(pg_server_url, name)

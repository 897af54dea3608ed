"""The TimescaleDB path, as far as plain PostgreSQL can check it: the mode decision, the
statements generated, and that they live in one module."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from controlcenter.errors import ConfigError
from controlcenter.store import read_storage_mode, timescale

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("wanted", "available", "preloaded", "use"),
    [
        ("auto", True, True, True),
        ("auto", True, False, False),  # CREATE EXTENSION would be FATAL here
        ("auto", False, False, False),
        ("off", True, True, False),
        ("require", True, True, True),
    ],
)
def test_the_mode_needs_the_extension_installed_and_preloaded(wanted, available, preloaded, use):
    got, why = timescale.decide(wanted, available=available, preloaded=preloaded)
    assert got is use
    assert why


@pytest.mark.parametrize(("available", "reason"), [(True, "shared_preload"), (False, "not inst")])
def test_require_refuses_a_server_that_cannot_load_timescaledb(available, reason):
    with pytest.raises(ConfigError, match=reason):
        timescale.decide("require", available=available, preloaded=False)


def test_preload_libraries_are_read_as_postgresql_lists_them():
    assert timescale.preloaded("timescaledb")
    assert timescale.preloaded(" pg_stat_statements , timescaledb ")
    assert timescale.preloaded('"$libdir/timescaledb"')
    assert not timescale.preloaded("pg_stat_statements")
    assert not timescale.preloaded("timescaledb_toolkit, pg_cron")


async def test_auto_mode_on_this_server_follows_the_decision(pool, database_url):
    conn = await asyncpg.connect(database_url)
    try:
        available = bool(await conn.fetchval(timescale.AVAILABLE))
        libraries = await conn.fetchval(timescale.PRELOAD_LIBRARIES)
    finally:
        await conn.close()
    use, _ = timescale.decide("auto", available=available, preloaded=timescale.preloaded(libraries))
    assert (await read_storage_mode(pool)).timescale is use


def test_the_hypertable_has_no_default_time_index_and_can_be_made_again():
    sql = " ".join(timescale.create_hypertable(7).split())
    assert "create_hypertable('readings', 'time'," in sql
    assert "chunk_time_interval => INTERVAL '7 days'" in sql
    assert "create_default_indexes => false" in sql
    assert "if_not_exists => true" in sql
    assert timescale.DROP_TIME_INDEX == "DROP INDEX IF EXISTS readings_time_idx"
    for statement in (timescale.add_compression_policy(7), timescale.add_retention_policy(365)):
        assert "if_not_exists => true" in statement


@pytest.mark.parametrize("name", ["readings_1m", "readings_5m", "readings_1h"])
def test_every_refresh_policy_covers_the_retention_period(name):
    sql = " ".join(timescale.add_cagg_policy(name, 400).split())
    assert f"add_continuous_aggregate_policy('{name}'," in sql
    assert "start_offset => INTERVAL '400 days'" in sql
    assert f"end_offset => INTERVAL '{timescale.CAGG_WIDTHS[name]}'" in sql
    assert "if_not_exists => true" in sql


@pytest.mark.parametrize("name", ["readings_1m", "readings_5m", "readings_1h"])
def test_continuous_aggregates_sum_without_overflow(name):
    sql = " ".join(timescale.create_cagg(name).split())
    assert f"time_bucket(INTERVAL '{timescale.CAGG_WIDTHS[name]}', time) AS bucket" in sql
    assert "WITH NO DATA" in sql
    assert "materialized_only = false" in sql
    assert "FILTER" not in sql  # CASE inside the aggregates: every 2.x accepts that
    # sum() only over values small enough, or as numeric; never a bare sum(value) or avg.
    assert not re.search(r"\bsum\(value\)|\bavg\(", sql)
    for column in ("min", "max", "avg", "sum", "count", "last"):
        assert f"AS {column}" in sql


def test_refresh_calls_are_literal_and_one_per_statement():
    start = datetime(2026, 12, 5, 9, tzinfo=UTC)
    end = datetime(2026, 12, 5, 10, tzinfo=UTC)
    sql = timescale.refresh_cagg("readings_1h", start, end)
    assert sql == (
        "CALL refresh_continuous_aggregate('readings_1h',"
        " TIMESTAMPTZ '2026-12-05T09:00:00+00:00', TIMESTAMPTZ '2026-12-05T10:00:00+00:00')"
    )
    assert ";" not in sql
    with pytest.raises(ValueError, match="not a rollup"):
        timescale.refresh_cagg("readings; DROP TABLE x", start, end)


_TIMESCALE_CALLS = re.compile(
    r"create_hypertable\(|_policy\(|refresh_continuous_aggregate|time_bucket\(|"
    r"timescaledb\.(continuous|compress)|CREATE EXTENSION|readings_time_idx"
)


def test_timescaledb_statements_live_in_one_module():
    sources = [
        *(ROOT / "src" / "controlcenter").rglob("*.py"),
        *(ROOT / "migrations").rglob("*.py"),
    ]
    holders = {
        p.relative_to(ROOT).as_posix()
        for p in sources
        if any(_TIMESCALE_CALLS.search(text) for text in _strings(p.read_text()))
    }
    assert holders == {"src/controlcenter/store/timescale.py"}


def _strings(source: str) -> list[str]:
    """The string literals of a module that are not docstrings (those may name the calls)."""
    tree = ast.parse(source)
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]

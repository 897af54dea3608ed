"""``controlcenter report``: the file written, and bad arguments said plainly."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import date

import asyncpg
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from tests.reports._seed import seed


def _run(args: list[str], database_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    if database_url is not None:
        env["CC_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "controlcenter", "report", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
async def site(database_url):
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        yield (await seed(pool, [date(2026, 11, 15)], alerts=False)).site
    finally:
        await pool.close()


async def test_the_command_writes_the_pdf_and_the_workbook(site, database_url, tmp_path):
    out = tmp_path / "day.pdf"
    done = _run(["daily", "--site", site, "--date", "2026-11-15", "--out", str(out)], database_url)
    assert done.returncode == 0, done.stderr
    text = "".join(p.extract_text() for p in PdfReader(out).pages)
    assert f"일간 보고서 · {site} · 2026-11-15" in text
    out = tmp_path / "month.xlsx"
    args = ["monthly", "--site", site, "--factory", "f01", "--month", "2026-11", "--lang", "en"]
    done = _run([*args, "--out", str(out)], database_url)
    assert done.returncode == 0, done.stderr
    book = load_workbook(io.BytesIO(out.read_bytes()))
    assert book["Summary"]["A1"].value == f"Monthly report · {site} · 2026-11"
    assert ["Factory", "f01"] in [list(r) for r in book["Summary"].iter_rows(values_only=True)]


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["daily", "--site", "x", "--out", "a.pdf"], 2, "needs --date"),
        (["monthly", "--site", "x", "--month", "2026-13", "--out", "a.pdf"], 2, "no such month"),
        (["daily", "--site", "x", "--date", "2026-11-15", "--out", "a.pdf"], 2, "CC_DATABASE_URL"),
        (["weekly", "--site", "x", "--out", "a.pdf"], 2, "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, status, message):
    done = _run(args, None)
    assert done.returncode == status
    assert message in done.stderr


async def test_an_unknown_site_exits_1(database_url, tmp_path):
    args = ["daily", "--site", "nosuchsite", "--date", "2026-11-15", "--out", str(tmp_path / "x")]
    done = _run(args, database_url)
    assert done.returncode == 1
    assert "no such site: nosuchsite" in done.stderr

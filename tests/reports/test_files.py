"""The files themselves: the workbook read back with openpyxl, the PDF's text extracted
(pypdf) and its pages rendered to PNG once (pdftoppm) under ``test-artifacts/``."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from controlcenter.reports import Period, ReportRequest, Scope, make_report
from controlcenter.reports.document import shown
from tests.reports._seed import TZ, raw_energy, seed

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
async def complex_(database_url):
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield await seed(pool, [date(2026, 11, 3), date(2026, 11, 4)]), pool
    finally:
        await pool.close()


def _pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)


def _render_pages(content: bytes, name: str) -> list[Path]:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed (apt-get install -y poppler-utils)")
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / f"{name}.pdf"
    pdf.write_bytes(content)
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", str(pdf), str(ARTIFACTS / name)], check=True, timeout=60
    )
    return sorted(ARTIFACTS.glob(f"{name}-*.png"))


@pytest.mark.parametrize(
    ("kind", "value", "lang"), [("daily", "2026-11-04", "ko"), ("monthly", "2026-11", "en")]
)
async def test_the_pdf_shows_the_figures_in_its_language_and_renders(complex_, kind, value, lang):
    cx, pool = complex_
    request = ReportRequest(Scope(cx.site), Period.parse(kind, value, TZ), lang, "pdf")
    report = await make_report(pool, request)
    assert report.content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(report.content))
    fonts = {
        str(f["/BaseFont"]) for page in reader.pages for f in page["/Resources"]["/Font"].values()
    }
    assert any("CCReportGothic" in f for f in fonts), fonts  # the Korean font is embedded
    text = _pdf_text(report.content)
    words = (
        ["일간 보고서", "대기질", "에너지", "주차", "경보", "매우나쁨", "부하율"]
        if lang == "ko"
        else ["Monthly report", "Air quality", "Energy", "Parking", "Alerts", "Load factor"]
    )
    for word in words:
        assert word in text, word
    d = report.data
    kwh, peak, _ = await raw_energy(pool, cx.series["kw"], request.period.start, request.period.end)
    for figure in (shown(kwh, "num"), shown(peak, "num"), shown(d.energy.total.load_factor, "pct")):
        assert figure in text, figure
    for n in d.air.grade_hours("pm10"):
        assert shown(n, "int") in text
    assert str(d.alerts.total) in text
    pages = _render_pages(report.content, f"report-{kind}-{lang}")
    assert pages, "pdftoppm wrote no page"
    assert all(p.stat().st_size > 5_000 for p in pages)


async def test_the_workbook_holds_the_numbers_themselves(complex_):
    cx, pool = complex_
    request = ReportRequest(Scope(cx.site), Period.parse("daily", "2026-11-04", TZ), "ko", "xlsx")
    report = await make_report(pool, request)
    (ARTIFACTS / "report-daily-ko.xlsx").parent.mkdir(exist_ok=True)
    (ARTIFACTS / "report-daily-ko.xlsx").write_bytes(report.content)
    book = load_workbook(io.BytesIO(report.content))
    assert book.sheetnames == ["Summary", "air", "energy", "parking", "alerts"]
    assert book["Summary"]["A1"].value.startswith("일간 보고서")
    energy = list(book["energy"].iter_rows(values_only=True))
    total = next(r for r in energy if r and r[0] == "합계")
    kwh, peak, _ = await raw_energy(pool, cx.series["kw"], request.period.start, request.period.end)
    assert total[1] == pytest.approx(kwh, rel=1e-9)
    assert total[2] == pytest.approx(peak, rel=1e-9)
    assert total[4] == 1600
    assert total[6] == pytest.approx(kwh / 24 / peak, rel=1e-9)
    air = list(book["air"].iter_rows(values_only=True))
    pm10 = next(r for r in air if r and r[0] == "PM10")
    assert list(pm10[1:5]) == report.data.air.grade_hours("pm10")
    assert sum(pm10[1:5]) == 4 * 24
    alerts = list(book["alerts"].iter_rows(values_only=True))
    site_row = next(r for r in alerts if r and r[0] == "단지 전체")
    assert site_row[1] == 12
    assert len(book["energy"]._images) == 1  # the chart

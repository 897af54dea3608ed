"""The workbook writer (openpyxl): a summary sheet, then one sheet per section.

Cells hold the numbers themselves (shares as fractions with a percentage format), so a
reader can compute with them; each section's charts are placed to the right of its tables.
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.drawing.image import Image
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from controlcenter.reports.document import Document, Fmt, Section

__all__ = ["write_xlsx"]

_NUMBER_FORMATS: dict[Fmt, str] = {"int": "#,##0", "num": "#,##0.0", "pct": "0.0%", "text": "@"}
_HEAD = Font(bold=True)
_FILL = PatternFill("solid", fgColor="E8EAF6")


def _section(ws: Worksheet, section: Section) -> None:
    ws.append([section.title])
    ws.cell(ws.max_row, 1).font = Font(bold=True, size=13)
    ws.append([section.note])
    widest = 0
    for table in section.tables:
        ws.append([])
        ws.append([table.title])
        ws.cell(ws.max_row, 1).font = _HEAD
        ws.append(table.columns)
        for k in range(len(table.columns)):
            cell = ws.cell(ws.max_row, k + 1)
            cell.font, cell.fill = _HEAD, _FILL
        for row in table.rows:
            ws.append(row)
            for k, fmt in enumerate(table.fmts):
                ws.cell(ws.max_row, k + 1).number_format = _NUMBER_FORMATS[fmt]
        widest = max(widest, len(table.columns))
    for k in range(widest):
        ws.column_dimensions[chr(ord("A") + k)].width = 18
    anchor_col = chr(ord("A") + widest + 1)
    at = 1
    for png in section.charts:
        image = Image(io.BytesIO(png))
        image.width, image.height = image.width // 2, image.height // 2
        ws.add_image(image, f"{anchor_col}{at}")
        at += int(image.height // 20) + 2


def write_xlsx(doc: Document) -> bytes:
    """The workbook of ``doc`` (CPU work: call it from a thread in async code)."""
    book = Workbook()
    summary = book.active
    assert summary is not None  # a new workbook has its sheet  # noqa: S101
    summary.title = "Summary"
    summary.append([doc.title])
    summary.cell(1, 1).font = Font(bold=True, size=14)
    for label, value in doc.facts:
        summary.append([label, value])
    summary.column_dimensions["A"].width = 16
    summary.column_dimensions["B"].width = 40
    for section in doc.sections:
        _section(book.create_sheet(section.key), section)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

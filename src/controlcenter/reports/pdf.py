"""The PDF writer (ReportLab): A4, the vendored Korean font embedded, charts as images."""

from __future__ import annotations

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as RLTable

from controlcenter.reports._fonts import reportlab_fonts
from controlcenter.reports.document import Document, Section, Table, shown

__all__ = ["write_pdf"]

_MARGIN = 15 * mm
_WIDTH = A4[0] - 2 * _MARGIN
_FOLD_ROWS = 12


def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = reportlab_fonts()
    # wordWrap CJK breaks Korean text between any two syllables where a line is full.
    base = ParagraphStyle("base", fontName=regular, fontSize=9, leading=12, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", base, fontName=bold, fontSize=16, leading=20),
        "h1": ParagraphStyle("h1", base, fontName=bold, fontSize=13, leading=17, spaceBefore=8),
        "h2": ParagraphStyle("h2", base, fontName=bold, fontSize=10, leading=13, spaceBefore=4),
        "note": ParagraphStyle("note", base, fontSize=8, leading=10, textColor=colors.grey),
        "cell": ParagraphStyle("cell", base, fontSize=8, leading=10),
        "head": ParagraphStyle("head", base, fontName=bold, fontSize=8, leading=10),
        "num": ParagraphStyle("num", base, fontSize=8, leading=10, alignment=2),
        "base": base,
    }


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _folded(table: Table) -> Table:
    """A long two-column table (a value by hour) set side by side in three pairs."""
    if len(table.columns) != 2 or len(table.rows) <= _FOLD_ROWS:
        return table
    height = -(-len(table.rows) // 3)
    parts = [table.rows[k : k + height] for k in range(0, len(table.rows), height)]
    rows = [
        [cell for part in parts for cell in (part[r] if r < len(part) else [None, None])]
        for r in range(height)
    ]
    n = len(parts)
    return Table(table.title, table.columns * n, table.fmts * n, rows)


def _table(table: Table, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    table = _folded(table)
    head = [Paragraph(_escape(c), st["head"]) for c in table.columns]
    body = [
        [
            Paragraph(_escape(shown(v, f)), st["cell"] if f == "text" else st["num"])
            for v, f in zip(row, table.fmts, strict=True)
        ]
        for row in table.rows
    ]
    grid = RLTable([head, *body], colWidths=[_WIDTH / len(head)] * len(head), repeatRows=1)
    grid.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eaf6")),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#3949ab")),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f7f7f7")]),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    title = Paragraph(_escape(table.title), st["h2"])
    if not table.rows:
        return [title, grid, Spacer(1, 2 * mm)]
    return [KeepTogether([title, grid]), Spacer(1, 3 * mm)]


def _chart(png: bytes) -> Image:
    image = Image(io.BytesIO(png))
    scale = _WIDTH / image.imageWidth
    image.drawWidth, image.drawHeight = _WIDTH, image.imageHeight * scale
    return image


def _section(section: Section, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    charts = [_chart(png) for png in section.charts]
    head: list[Flowable] = [
        Paragraph(_escape(section.title), st["h1"]),
        Paragraph(_escape(section.note), st["note"]),
        Spacer(1, 2 * mm),
        *charts[:1],
    ]
    # The heading stays with its first chart (never alone at the foot of a page).
    story: list[Flowable] = [KeepTogether(head), *charts[1:]]
    for table in section.tables:
        story += _table(table, st)
    return story


def write_pdf(doc: Document) -> bytes:
    """The PDF of ``doc`` (CPU work: call it from a thread in async code)."""
    st = _styles()
    out = io.BytesIO()
    pdf = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=doc.title,
        author="controlcenter",
    )
    story: list[Flowable] = [Paragraph(_escape(doc.title), st["title"]), Spacer(1, 2 * mm)]
    story += [
        Paragraph(f"<b>{_escape(label)}</b>: {_escape(value)}", st["base"])
        for label, value in doc.facts
    ]
    for section in doc.sections:
        story += _section(section, st)
    pdf.build(story)
    return out.getvalue()

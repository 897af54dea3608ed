"""The vendored Korean font (``fonts/``, see scripts/subset_report_font.py), registered once."""

from __future__ import annotations

import threading
from pathlib import Path

__all__ = ["BOLD", "FAMILY", "REGULAR", "font_path", "matplotlib_font", "reportlab_fonts"]

FONTS = Path(__file__).with_name("fonts")
FAMILY = "CC Report Gothic"
REGULAR = "CCReportGothic"
BOLD = "CCReportGothic-Bold"
_lock = threading.Lock()
_done: set[str] = set()


def font_path(style: str = "Regular") -> Path:
    """The TrueType file of one weight (Regular or Bold)."""
    return FONTS / f"CCReportGothic-{style}.ttf"


def reportlab_fonts() -> tuple[str, str]:
    """Register the font with ReportLab (once per process); (regular, bold) names."""
    with _lock:
        if "reportlab" not in _done:
            from reportlab.lib.fonts import addMapping
            from reportlab.pdfbase import pdfmetrics
            from reportlab.pdfbase.ttfonts import TTFont

            pdfmetrics.registerFont(TTFont(REGULAR, str(font_path("Regular"))))
            pdfmetrics.registerFont(TTFont(BOLD, str(font_path("Bold"))))
            addMapping(REGULAR, 0, 0, REGULAR)
            addMapping(REGULAR, 1, 0, BOLD)
            addMapping(REGULAR, 0, 1, REGULAR)
            addMapping(REGULAR, 1, 1, BOLD)
            _done.add("reportlab")
    return REGULAR, BOLD


def matplotlib_font() -> str:
    """Register the font with matplotlib (once per process); its family name."""
    with _lock:
        if "matplotlib" not in _done:
            from matplotlib import font_manager

            font_manager.fontManager.addfont(str(font_path("Regular")))
            font_manager.fontManager.addfont(str(font_path("Bold")))
            _done.add("matplotlib")
    return FAMILY

"""The vendored font covers every word of the reports (else: scripts/subset_report_font.py)."""

from __future__ import annotations

from fontTools.ttLib import TTFont

from controlcenter.reports._fonts import FONTS, font_path
from controlcenter.reports._text import LABELS


def test_the_vendored_font_has_every_character_of_both_dictionaries():
    for style in ("Regular", "Bold"):
        cmap = TTFont(str(font_path(style))).getBestCmap()
        words = "".join(v for lang in LABELS.values() for v in lang.values())
        missing = sorted({c for c in words if c.isprintable() and ord(c) not in cmap})
        assert not missing, f"run scripts/subset_report_font.py: {style} lacks {missing}"
        assert ord("녕") in cmap  # Hangul beyond the dictionary


def test_the_font_ships_with_its_licence_and_its_own_name():
    assert "SIL Open Font License" in (FONTS / "LICENSE").read_text(encoding="utf-8")
    assert "subset_report_font.py" in (FONTS / "SOURCE.txt").read_text(encoding="utf-8")
    name = TTFont(str(font_path("Regular")))["name"].getDebugName(1)
    assert name == "CC Report Gothic"  # the OFL reserves "NanumGothic" for the original


def test_both_dictionaries_have_the_same_words():
    assert LABELS["ko"].keys() == LABELS["en"].keys()

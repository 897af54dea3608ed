"""Rebuild the reports' Korean font: NanumGothic, subset, renamed, vendored as TrueType.

PDF reports must show Hangul on any machine without downloading anything, so the font is
embedded in each PDF (ReportLab embeds a subset of what a page uses) and ships inside the
package. ReportLab needs TrueType outlines (Noto CJK is CFF), hence NanumGothic, from
Debian's ``fonts-nanum`` package (SIL Open Font License 1.1)::

    apt-get install -y fonts-nanum        # /usr/share/fonts/truetype/nanum/
    .venv/bin/python scripts/subset_report_font.py

The characters kept: printable ASCII and Latin-1, the 2,350 Hangul syllables of KS X 1001
(every syllable EUC-KR can write: what Korean names and words use), the compatibility
jamo, every non-ASCII character of the reports' dictionary (``reports/_text.py``) and a
few signs (μ ³ ° · dashes, quotes). The OFL reserves the name "NanumGothic" for the original, so
the subset is renamed "CC Report Gothic". It writes ``src/controlcenter/reports/fonts/``
(one TTF per weight, ``LICENSE`` from the package's copyright file, ``SOURCE.txt`` with the
inputs' sha256 and this command). ``tests/reports/test_font.py`` fails when the dictionary
gains a character the font lacks: run this script again then.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from controlcenter.reports._text import LABELS  # noqa: E402

OUT = ROOT / "src" / "controlcenter" / "reports" / "fonts"
DEBIAN_FONTS = Path("/usr/share/fonts/truetype/nanum")
DEBIAN_COPYRIGHT = Path("/usr/share/doc/fonts-nanum/copyright")
FAMILY = "CC Report Gothic"
WEIGHTS = {"Regular": "NanumGothic.ttf", "Bold": "NanumGothicBold.ttf"}
SIGNS = "μ³²°·\u2013\u2014…\u2018\u2019“”→←↑↓%‰"  # dashes and quotes


def report_text() -> str:
    """Every character a report may show from its own words, plus the sets above."""
    chars = {chr(c) for c in range(0x20, 0x7F)} | {chr(c) for c in range(0xA0, 0x100)}
    for c in range(0xAC00, 0xD7A4):
        # Python's EUC-KR writes the other syllables as 8-byte jamo sequences: keep
        # only those with a 2-byte KS X 1001 code.
        if len(chr(c).encode("euc-kr")) == 2:
            chars.add(chr(c))
    chars |= {chr(c) for c in range(0x3131, 0x318F)} | set(SIGNS)
    for words in LABELS.values():
        for value in words.values():
            chars |= {c for c in value if c.isprintable()}
    return "".join(sorted(chars))


def rename(font: TTFont, style: str) -> None:
    """Give the subset its own family name (the OFL's reserved font name rule)."""
    names = {
        1: FAMILY,
        2: style,
        3: f"{FAMILY} {style}; subset of NanumGothic",
        4: f"{FAMILY} {style}",
        6: f"CCReportGothic-{style}",
        16: FAMILY,
        17: style,
    }
    table = font["name"]
    for record in list(table.names):
        if record.nameID in names:
            table.removeNames(nameID=record.nameID)
    for name_id, value in names.items():
        table.setName(value, name_id, 3, 1, 0x409)
        table.setName(value, name_id, 1, 0, 0)


def write_subset(source: Path, target: Path, chars: str, style: str) -> int:
    """Subset ``source`` to ``chars`` as TrueType at ``target``; its size."""
    options = subset.Options()
    options.layout_features = ["kern", "liga", "ccmp", "locl"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False  # smaller; PDF viewers and matplotlib render unhinted
    font = subset.load_font(str(source), options)
    for tag in ("TSI0", "TSI1", "TSI2", "TSI3", "TSI5"):  # VTT sources, not needed
        if tag in font:
            del font[tag]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    rename(font, style)
    font.save(str(target))
    return target.stat().st_size


def main() -> None:
    """Write the subset fonts, their licence and their provenance."""
    chars = report_text()
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [
        f"Subset of NanumGothic (Debian fonts-nanum), renamed {FAMILY!r}.",
        "Made by: .venv/bin/python scripts/subset_report_font.py",
        f"Characters kept: {len(chars)}",
    ]
    for style, name in WEIGHTS.items():
        source = DEBIAN_FONTS / name
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        size = write_subset(source, OUT / f"CCReportGothic-{style}.ttf", chars, style)
        lines.append(f"{name} sha256 {digest} -> CCReportGothic-{style}.ttf ({size} bytes)")
        print(f"{style}: {size} bytes")
    (OUT / "LICENSE").write_text(DEBIAN_COPYRIGHT.read_text(encoding="utf-8"), encoding="utf-8")
    (OUT / "SOURCE.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""Rebuild the dashboard's Korean web font: Noto Sans CJK KR, subset to what the page shows.

The page must render Hangul on a kiosk that has no Korean font, without downloading
anything at run time, so the font ships inside the package (like uPlot). This script makes
it reproducible from Debian's ``fonts-noto-cjk`` package (SIL Open Font License 1.1)::

    apt-get install -y fonts-noto-cjk     # /usr/share/fonts/opentype/noto/*.ttc
    .venv/bin/python scripts/subset_font.py

The characters kept: printable ASCII, every non-ASCII character of the dashboard's files
(the Korean dictionary in ``web/i18n.js``, units such as µg/m³ and °C, arrows and dashes),
what the date formatter writes in Korean (오전, 오후) and the words of ``EXTRA``. It writes
``web/vendor/noto-sans-kr/`` (one woff2 per weight, ``LICENSE`` from the package's copyright
file, ``SOURCE.txt`` with the inputs' sha256 and the command). ``tests/web/test_assets.py``
fails when the dictionary gains a character the font lacks: run this script again then.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "src" / "controlcenter" / "web"
OUT = WEB / "vendor" / "noto-sans-kr"
DEBIAN_FONTS = Path("/usr/share/fonts/opentype/noto")
DEBIAN_COPYRIGHT = Path("/usr/share/doc/fonts-noto-cjk/copyright")
FACE = "Noto Sans CJK KR"
WEIGHTS = {"Regular": "NotoSansCJK-Regular.ttc", "Bold": "NotoSansCJK-Bold.ttc"}
#: Written by Intl in Korean (dates, numbers) though not in any file of the page.
EXTRA = "오전오후년월일시분초"


def page_text() -> str:
    """Every character the page may show from its own files, plus ASCII and ``EXTRA``."""
    chars = {chr(c) for c in range(0x20, 0x7F)} | set(EXTRA)
    # kinds.yaml: the sensor kinds' titles (GET /api/v1/kinds) the page shows; the page
    # texts of paging/message.py: a person's pages, shown live on their dashboard.
    served = [WEB.parent / "kinds.yaml", WEB.parent / "paging" / "message.py"]
    for path in sorted([*WEB.glob("*.js"), *WEB.glob("*.html"), *served]):
        chars |= {c for c in path.read_text(encoding="utf-8") if ord(c) > 0x7E}
    return "".join(sorted(c for c in chars if c.isprintable()))


def face_number(path: Path) -> int:
    """Index of the Korean face inside Debian's font collection."""
    for i, font in enumerate(TTCollection(str(path)).fonts):
        if font["name"].getDebugName(1) == FACE:
            return i
    raise SystemExit(f"{path} has no {FACE!r} face")


def write_subset(source: Path, target: Path, text: str) -> int:
    """Subset ``source``'s Korean face to ``text`` as woff2 at ``target``; its size."""
    options = subset.Options()
    options.flavor = "woff2"
    options.font_number = face_number(source)
    options.layout_features = ["kern", "liga", "ccmp", "locl", "ljmo", "vjmo", "tjmo"]
    options.name_languages = [0x409]
    options.hinting = False
    options.desubroutinize = True
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    subset.save_font(font, str(target), options)
    return target.stat().st_size


def licence_text(copyright_file: Path) -> str:
    """The OFL 1.1 text from a Debian copyright file (its ``License: SIL-1.1`` paragraph)."""
    doc = copyright_file.read_text(encoding="utf-8")
    match = re.search(r"^License: SIL-1\.1\n((?: .*\n)+)", doc, re.M)
    if match is None:
        raise SystemExit(f"{copyright_file} has no SIL-1.1 licence text")
    lines = [line[1:] for line in match.group(1).splitlines()]
    return "\n".join("" if line == "." else line for line in lines) + "\n"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fonts", type=Path, default=DEBIAN_FONTS, help="folder of the .ttc")
    parser.add_argument("--copyright", type=Path, default=DEBIAN_COPYRIGHT)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    text = page_text()
    source_lines = [
        f"{FACE} from Debian's fonts-noto-cjk (SIL Open Font License 1.1, see LICENSE),",
        "subset by scripts/subset_font.py (fontTools) to the characters below.",
        "Copyright 2014-2021 Adobe (http://www.adobe.com/), with Reserved Font Name 'Source'.",
        "",
    ]
    for weight, name in WEIGHTS.items():
        source = args.fonts / name
        target = OUT / f"NotoSansKR-{weight}.subset.woff2"
        size = write_subset(source, target, text)
        source_lines.append(f"{target.name}: {size} bytes, sha256 {sha256(target)}")
        source_lines.append(f"  from {name} sha256 {sha256(source)}")
    source_lines += ["", f"characters ({len(text)}):", text]
    (OUT / "SOURCE.txt").write_text("\n".join(source_lines) + "\n", encoding="utf-8")
    (OUT / "LICENSE").write_text(licence_text(args.copyright), encoding="utf-8")
    print(f"{len(text)} characters -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""The dashboard's files are inside the package (so wheels carry them) and complete."""

from __future__ import annotations

import re
from importlib.resources import files

from controlcenter.web import DASHBOARD_DIR, DashboardFiles


def test_every_file_the_page_references_is_in_the_package() -> None:
    web = files("controlcenter.web")
    index = (web / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="static/([^"]+)"', index)
    assert "app.js" in refs
    for ref in refs:
        assert (DASHBOARD_DIR / ref).is_file(), ref
        assert DashboardFiles.servable(ref), ref
    # ES modules import each other relatively: every import resolves to a file.
    for script in DASHBOARD_DIR.glob("*.js"):
        for module in re.findall(r'from "\./([^"]+)"', script.read_text(encoding="utf-8")):
            assert (DASHBOARD_DIR / module).is_file(), f"{script.name} imports {module}"


def test_vendored_library_ships_with_its_licence() -> None:
    uplot = DASHBOARD_DIR / "vendor" / "uplot"
    assert "MIT License" in (uplot / "LICENSE").read_text(encoding="utf-8")
    assert "1.6.32" in (uplot / "SOURCE.txt").read_text(encoding="utf-8")


def test_every_string_key_exists_in_both_languages() -> None:
    text = (DASHBOARD_DIR / "i18n.js").read_text(encoding="utf-8")
    en, ko = text.split("\n  ko: {", 1)
    en_keys = set(re.findall(r'^\s+"([a-z_.0-9]+)":', en, re.M))
    ko_keys = set(re.findall(r'^\s+"([a-z_.0-9]+)":', ko, re.M))
    assert en_keys == ko_keys
    used = set()
    scripts = [p for p in DASHBOARD_DIR.glob("*.js") if p.name != "i18n.js"]
    for path in [*scripts, DASHBOARD_DIR / "index.html"]:
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'data-i18n(?:-placeholder|-title)?="([a-z_.0-9]+)"', source))
        used |= set(re.findall(r'\bt\("([a-z_.0-9]+)"', source))
    assert used <= en_keys, used - en_keys


def test_the_korean_font_ships_with_its_licence_and_covers_every_string() -> None:
    from fontTools.ttLib import TTFont

    font_dir = DASHBOARD_DIR / "vendor" / "noto-sans-kr"
    assert "SIL OPEN FONT LICENSE Version 1.1" in (font_dir / "LICENSE").read_text("utf-8")
    assert "scripts/subset_font.py" in (font_dir / "SOURCE.txt").read_text("utf-8")
    needed = {"오", "전", "후"}  # Korean dates (Intl) use these
    # the dashboard shows a person's pages as paging/message.py words them
    pages = DASHBOARD_DIR.parent / "paging" / "message.py"
    for path in [*DASHBOARD_DIR.glob("*.js"), DASHBOARD_DIR / "index.html", pages]:
        needed |= {c for c in path.read_text(encoding="utf-8") if ord(c) > 0x7E and c.isprintable()}
    assert any("\uac00" <= c <= "\ud7a3" for c in needed)  # Hangul syllables among them
    for weight in ("Regular", "Bold"):
        font = TTFont(font_dir / f"NotoSansKR-{weight}.subset.woff2")
        cmap = font.getBestCmap()
        missing = sorted(c for c in needed if ord(c) not in cmap)
        assert not missing, f"run scripts/subset_font.py again: {weight} lacks {missing}"
    css = (DASHBOARD_DIR / "fonts.css").read_text(encoding="utf-8")
    for url in re.findall(r'url\("([^"]+)"\)', css):
        assert (DASHBOARD_DIR / url).is_file(), url

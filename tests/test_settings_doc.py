"""The README documents every setting (its configuration table is written from ``Settings``
by ``scripts/settings_table.py``), and the repository's docs stand alone."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settings_table", ROOT / "scripts" / "settings_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_has_a_row_with_its_default_in_the_readme() -> None:
    script = _script()
    documented = script.readme_rows((ROOT / "README.md").read_text(encoding="utf-8"))
    settings = list(script.settings_rows())
    assert len(settings) > 100
    missing = [v for v, _, _ in settings if v not in documented]
    assert not missing, f"run scripts/settings_table.py: no README row for {missing}"
    wrong = [(v, d, documented[v][0]) for v, d, _ in settings if documented[v][0] != d]
    assert not wrong, f"run scripts/settings_table.py: defaults differ {wrong}"
    stale = sorted(set(documented) - {v for v, _, _ in settings})
    assert not stale, f"README rows for settings that do not exist: {stale}"
    assert documented["CC_TIME_ZONE"][0] == "`Asia/Seoul`"


def test_the_docs_link_only_to_files_of_the_repository() -> None:
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        assert "../shared" not in text, doc
        for target in re.findall(r"\]\((?!https?://|#|mailto:)([^)#\s]+)", text):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"

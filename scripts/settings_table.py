"""Write the README's configuration table from ``Settings``: one row per setting.

Run after adding or changing a setting::

    .venv/bin/python scripts/settings_table.py           # rewrites the table in README.md
    .venv/bin/python scripts/settings_table.py --check   # exit 1 when README.md is stale

Variables and defaults come from ``controlcenter.config.Settings`` (nested models become
``CC_<GROUP>__<NAME>``). The meaning column is the README's own text for that variable
when it has one (edit it in the README: it survives the next run), else the field's
``description``. ``tests/test_settings_doc.py`` fails when a setting has no row or a row's
default is not the setting's.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from controlcenter.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- settings-table: begin (written by scripts/settings_table.py; edit meanings only) -->"
END = "<!-- settings-table: end -->"
HEADER = "| variable | default | meaning |\n|---|---|---|"


def _default_text(value: Any) -> str:
    """A default as the environment would spell it."""
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, list):
        return "`[]`" if not value else f"`{value!r}`"
    return f"`{value}`"


def settings_rows(
    model: type[BaseModel] = Settings, prefix: str = "CC_"
) -> Iterator[tuple[str, str, FieldInfo]]:
    """``(variable, default, field)`` of every setting, nested models flattened in order."""
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((f"{prefix}{name.upper()}__", annotation))
            continue
        default = field.get_default(call_default_factory=True)
        yield f"{prefix}{name.upper()}", _default_text(default), field
    for sub_prefix, sub_model in nested:
        yield from settings_rows(sub_model, sub_prefix)


def readme_rows(text: str) -> dict[str, tuple[str, str]]:
    """``variable -> (default, meaning)`` of the README's table (between the markers)."""
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        return {}
    rows: dict[str, tuple[str, str]] = {}
    for line in text[begin:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z_0-9]+)`", cells[0])
        meaning = " | ".join(cells[2:])
        for name in names:
            rows[name] = (cells[1], meaning)
    return rows


def table(existing: dict[str, tuple[str, str]]) -> str:
    """The whole table, README meanings first, field descriptions otherwise."""
    lines = [HEADER]
    for variable, default, field in settings_rows():
        meaning = existing.get(variable, ("", ""))[1] or (field.description or "")
        lines.append(f"| `{variable}` | {default} | {meaning} |")
    return "\n".join(lines)


def render(text: str) -> str:
    """``text`` (the README) with its table rewritten."""
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        raise SystemExit(f"README.md lacks the markers {BEGIN!r} ... {END!r}")
    body = table(readme_rows(text))
    return f"{text[: begin + len(BEGIN)]}\n{body}\n{text[end:]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md is stale")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    new = render(text)
    if args.check:
        if new != text:
            print("README.md's configuration table is stale: run scripts/settings_table.py")
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    print(f"{sum(1 for _ in settings_rows())} settings -> README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

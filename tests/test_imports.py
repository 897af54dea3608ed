"""Imports run one way: the layers below never import a stage above them, and the API
imports neither the pipeline nor ingest (checked over the source with ast, including
imports inside functions and under TYPE_CHECKING)."""

import ast
from pathlib import Path

import pytest

import controlcenter

SRC = Path(controlcenter.__file__).parent
STAGES = (
    "controlcenter.pipeline",
    "controlcenter.relay",
    "controlcenter.scoring",
    "controlcenter.alerts",
    "controlcenter.paging",
    "controlcenter.reports",
    "controlcenter.api",
    "controlcenter.web",
    "controlcenter.service",
    "controlcenter.demo",
    "controlcenter.cli",
)
# package -> the modules it must not import
RULES = {
    "anomaly": (*STAGES, "controlcenter.ingest", "controlcenter.store"),
    "wire": (*STAGES, "controlcenter.ingest", "controlcenter.store"),
    "ingest": (*STAGES, "controlcenter.store"),
    "store": STAGES,
    "api": (
        "controlcenter.pipeline",
        "controlcenter.relay",
        "controlcenter.ingest",
        "controlcenter.service",
    ),
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            # "from controlcenter import pipeline" names a module too
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


@pytest.mark.parametrize("package", sorted(RULES))
def test_imports_run_one_way(package):
    banned = RULES[package]
    files = sorted((SRC / package).rglob("*.py"))
    assert files, package
    wrong = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in files
        for line, name in imports_of(path)
        if any(name == b or name.startswith(b + ".") for b in banned)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from controlcenter import pipeline\n")
    assert (2, "controlcenter.pipeline") in imports_of(bad)

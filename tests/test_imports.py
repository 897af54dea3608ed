"""Imports run one way: the layers below never import a stage above them, and the API
imports neither the pipeline nor ingest (checked over the source with ast, including
imports inside functions and under TYPE_CHECKING)."""

import ast
import re
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


# Where SQL may live (README, "One mechanism, one place"): the store, and the repository
# of each package that owns tables (the alerts' storage subpackage, its tables' modules);
# embedded/postgres.py creates the demo's database.
SQL_OWNERS = (
    "store/",
    "alerts/storage/",
    "paging/repository.py",
    "reports/archive.py",
    "embedded/postgres.py",
)
_SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|WITH \w+ AS \()")


def sql_in(path: Path) -> list[int]:
    """Lines of string constants in ``path`` that hold an SQL statement."""
    return sorted(
        {
            node.lineno
            for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _SQL.search(node.value)
        }
    )


def test_sql_lives_in_the_store_and_the_repositories():
    wrong = [
        f"{path.relative_to(SRC)}:{line}"
        for path in sorted(SRC.rglob("*.py"))
        if not str(path.relative_to(SRC)).startswith(SQL_OWNERS)
        for line in sql_in(path)
    ]
    assert not wrong, "SQL outside its owners:\n" + "\n".join(wrong)


def test_the_check_sees_sql(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('Q = f"""\nWITH s AS ({X})\nSELECT 1 FROM s\n"""\n')
    assert sql_in(bad) == [1]

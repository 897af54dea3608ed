"""The alerts package and its three parts export documented public names only, and the
rule evaluation part stays pure (no database, broker or HTTP client)."""

import ast
import importlib
from pathlib import Path

import pytest

import controlcenter.alerts

PACKAGES = [
    "controlcenter.alerts",
    "controlcenter.alerts.rules",
    "controlcenter.alerts.storage",
    "controlcenter.alerts.delivery",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_exports_exist_are_public_and_have_docstrings(package):
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        assert not name.startswith("_"), name
        member = getattr(module, name)
        assert member.__doc__, name


def test_top_level_surface_is_what_other_packages_use():
    used = "AlertFilter AlertRepository AlertService AlertStateError Evaluator Notification"
    assert sorted(controlcenter.alerts.__all__) == sorted(
        [*used.split(), "Rule", "RuleConflictError"]
    )


def test_rule_evaluation_does_no_io():
    root = Path(controlcenter.alerts.__file__).parent / "rules"
    io = {"asyncpg", "aiomqtt", "httpx", "asyncio", "controlcenter.alerts.storage"}
    io |= {"controlcenter.alerts.delivery", "controlcenter.alerts.service"}
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not any(name == m or name.startswith(m + ".") for m in io), (path, name)

"""The wheel the Dockerfile builds, installed and run as the image runs it.

The wheel is built once per session (``pip wheel --no-deps``) and installed with
``--no-deps`` into a fresh venv; the dependencies come from this project's venv through a
``.pth`` line (appended after the new venv's own site-packages, and ``.pth`` files of that
directory, such as the editable install's, are not processed), so the code that runs is the
wheel's. That the wheel *declares* everything it imports is checked from its metadata.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import create_database, drop_database
from tests.deploy._mosquitto import ROOT, free_port
from tests.deploy.test_compose import dockerfile

pytestmark = pytest.mark.slow

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Imported at module level only by the embedded services (the "embedded" extra).
EXTRAS_ONLY = {"controlcenter/embedded": "embedded"}


@dataclass
class Installed:
    wheel: Path
    venv: Path

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(out)],
        check=True,
        timeout=120,
    )
    (wheel,) = out.glob("controlcenter-*.whl")
    venv = out / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")),
            *("install", "-q", "--no-deps", "--no-index", str(wheel)),
        ],
        check=True,
        timeout=120,
    )
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "zz_project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return Installed(wheel, venv)


def run(installed: Installed, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed.bin(argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=installed.venv,  # never the source tree
        env={**{k: v for k, v in os.environ.items() if not k.startswith("CC_")}, **env},
    )


def test_wheel_carries_migrations_simulators_and_entry_points(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert "controlcenter/_migrations/env.py" in names
    assert "controlcenter/_migrations/script.py.mako" in names
    revisions = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert revisions
    assert {f"controlcenter/_migrations/versions/{r}" for r in revisions} <= names
    assert "controlcenter/py.typed" in names
    assert "simulators/scenarios/namdong.yaml" in names
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]
    dist = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    entry_points = zipfile.ZipFile(installed.wheel).read(dist).decode()
    assert "controlcenter = controlcenter.cli:main" in entry_points
    assert "controlcenter-sim = simulators.cli:main" in entry_points


def _module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    nodes = list(tree.body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Try) or (
            isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test)
        ):
            nodes.extend(node.body)
    return found


def _requirement_name(req: str) -> str:
    name = re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_wheel_declares_what_it_imports(installed: Installed) -> None:
    meta = importlib.metadata.Distribution.at(
        next((installed.venv / "lib").glob("python3*/site-packages/controlcenter-*.dist-info"))
    )
    requires = meta.requires or []
    base = {_requirement_name(r) for r in requires if "extra ==" not in r}
    # What a declared dependency itself requires is there too (starlette with fastapi).
    for name in list(base):
        base |= {_requirement_name(r) for r in importlib.metadata.requires(name) or []}
    extras = {
        extra: {
            _requirement_name(r)
            for r in requires
            if re.search(rf"extra == [\"']{re.escape(extra)}[\"']", r)
        }
        for extra in meta.metadata.get_all("Provides-Extra") or []
    }
    dists = importlib.metadata.packages_distributions()
    missing = {}
    for package in ("src/controlcenter", "simulators"):
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix().removeprefix("src/")
            allowed = set(base)
            for prefix, extra in EXTRAS_ONLY.items():
                if rel.startswith(prefix):
                    allowed |= extras[extra]
            for module in _module_level_imports(path):
                if module in sys.stdlib_module_names or module in ("controlcenter", "simulators"):
                    continue
                names = {_requirement_name(d) for d in dists.get(module, [module])}
                if not names & allowed:
                    missing.setdefault(module, []).append(rel)
    assert missing == {}, f"imported but not declared in [project.dependencies]: {missing}"


def test_installed_commands(installed: Installed) -> None:
    version = run(installed, "controlcenter", "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == PYPROJECT["project"]["version"]
    sim = run(installed, "controlcenter-sim", "--help")
    assert sim.returncode == 0, sim.stderr
    assert "run" in sim.stdout
    where = run(
        installed,
        "python",
        "-c",
        "import controlcenter, simulators; print(controlcenter.__file__, simulators.__file__)",
    )
    assert where.returncode == 0, where.stderr
    for file in where.stdout.split():
        assert file.startswith(str(installed.venv)), file  # the wheel's code, not the tree's
    package = Path(where.stdout.split()[0]).parent
    assert (package / "_migrations" / "env.py").is_file()


@pytest.fixture(scope="module")
async def fresh_database(pg_server_url: str) -> AsyncIterator[str]:
    name = f"cc_deploy_{uuid.uuid4().hex[:10]}"
    url = await create_database(pg_server_url, name)
    yield url
    await drop_database(pg_server_url, name)


async def test_migrate_a_fresh_database(installed: Installed, fresh_database: str) -> None:
    done = run(installed, "controlcenter", "migrate", CC_DATABASE_URL=fresh_database)
    assert done.returncode == 0, done.stderr
    assert "database migrated" in done.stderr
    conn = await asyncpg.connect(fresh_database, timeout=10)
    try:
        heads = {r[0] for r in await conn.fetch("SELECT version_num FROM alembic_version")}
        mode = await conn.fetchval("SELECT mode FROM cc_storage")
    finally:
        await conn.close()
    assert len(heads) == 1  # one head: the revision branches are merged
    assert mode in ("postgres", "timescaledb")
    again = run(installed, "controlcenter", "migrate", CC_DATABASE_URL=fresh_database)
    assert again.returncode == 0, again.stderr  # idempotent


def _image_healthcheck() -> list[str]:
    check = dict(dockerfile())["HEALTHCHECK"]
    argv: list[str] = json.loads(check[check.index("CMD") + 3 :])
    return argv


async def test_serve_is_healthy_and_stops_cleanly_on_sigterm(
    installed: Installed, fresh_database: str, mqtt_url: str
) -> None:
    port = free_port()
    env = {
        "CC_ENV": "prod",
        "CC_DATABASE_URL": fresh_database,
        "CC_MQTT_URL": mqtt_url,
        "CC_MQTT__TOPIC_ROOT": f"ccdeploy{uuid.uuid4().hex[:8]}",
        "CC_MQTT__CLIENT_ID": f"cc-deploy-{uuid.uuid4().hex[:8]}",
        "CC_MQTT__SESSION_EXPIRY_S": "0",
        "CC_API__HOST": "127.0.0.1",
        "CC_API__PORT": str(port),
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    proc = await asyncio.create_subprocess_exec(
        installed.bin("controlcenter"),
        "serve",
        cwd=installed.venv,
        env={**base, **env},
        stderr=asyncio.subprocess.PIPE,
    )
    healthcheck = [installed.bin("python"), *_image_healthcheck()[1:]]
    try:
        deadline = time.monotonic() + 45
        while True:
            assert proc.returncode is None, "serve exited before it was healthy"
            probe = await asyncio.create_subprocess_exec(
                *healthcheck,
                cwd=installed.venv,
                env={**base, "CC_API__PORT": str(port)},
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            async with asyncio.timeout(10):
                if await probe.wait() == 0:
                    break
            assert time.monotonic() < deadline, "never healthy"
            await asyncio.sleep(0.25)
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    stderr = err.decode()
    assert proc.returncode == 0, stderr
    assert '"level": "ERROR"' not in stderr
    assert "received SIGTERM" in stderr  # JSON lines (CC_ENV=prod)

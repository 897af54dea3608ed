"""The ``controlcenter`` command line, run as a user would."""

from __future__ import annotations

import subprocess
import sys

import numpy as np


def _run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controlcenter", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_score_csv_prints_one_score_in_unit_range_per_row():
    rng = np.random.default_rng(0)
    values = 10 + rng.standard_normal(200)
    values[150] = 80.0
    rows = "\n".join(f"{1_700_000_000 + 60 * i},{v}" for i, v in enumerate(values))
    out = _run("score-csv", stdin="timestamp,value\n" + rows + "\n")
    assert out.returncode == 0, out.stderr
    scores = [float(x) for x in out.stdout.split()]
    assert len(scores) == 200
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[150] == max(scores)
    assert scores[150] > 0.9


def test_invalid_settings_exit_2_with_a_message():
    import os

    env = {**os.environ, "CC_INGEST__BATCH_SIZE": "not-a-number"}
    out = _run("migrate", env=env)
    assert out.returncode == 2
    assert "invalid settings" in out.stderr


def test_serve_without_a_database_is_a_configuration_error():
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    out = _run("serve", env=env)
    assert out.returncode == 2
    assert "CC_DATABASE_URL" in out.stderr


def test_help_is_written_for_users_and_names_every_command():
    out = _run("--help")
    assert out.returncode == 0
    for command in ("migrate", "serve", "create-key", "demo", "score-csv", "evaluate"):
        assert command in out.stdout
    assert "CC_DATABASE_URL" in out.stdout
    for developer_words in ("`", "asyncio", "entry point"):
        assert developer_words not in out.stdout
    for command in ("serve", "demo"):
        assert "--port N" in _run(command, "--help").stdout


def test_a_bad_port_option_is_a_settings_error():
    out = _run("serve", "--port", "70000")
    assert out.returncode == 2
    assert "invalid settings" in out.stderr

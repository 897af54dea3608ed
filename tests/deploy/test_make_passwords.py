"""deploy/mosquitto/make-passwords.sh: accounts, re-runs, refusals."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from tests.deploy._mosquitto import MAKE_PASSWORDS, make_secrets, mosquitto_binary, passwd_users


@pytest.fixture(autouse=True)
def _needs_mosquitto_passwd() -> None:
    mosquitto_binary()


def test_rerun_keeps_passwords_and_adds_gateways(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    first = make_secrets(out, ["s1/f1"], sim=False)
    assert set(first) == {"controlcenter", "healthcheck", "s1/f1"}
    db = (out / "timescaledb.env").read_text()
    second = make_secrets(out, ["s1/f1", "s1/f2"], sim=True)
    assert {k: second[k] for k in first} == first  # nothing rotated
    assert set(second) == {*first, "s1/f2", "simulator"}
    assert (out / "timescaledb.env").read_text() == db
    # The service's account in its listener's file alone, every other one in the gateways'.
    assert passwd_users(out / "passwd-service") == {"controlcenter"}
    assert passwd_users(out / "passwd") == set(second) - {"controlcenter"}
    for name in ("credentials.csv", "controlcenter.env", "timescaledb.env"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name


def test_without_sim_the_simulator_cannot_log_in(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    make_secrets(out, ["s1/f1"], sim=True)
    make_secrets(out, ["s1/f1"], sim=False)
    assert "simulator" not in passwd_users(out / "passwd")
    assert passwd_users(out / "passwd-service") == {"controlcenter"}
    assert (out / "simulator.env").read_text() == ""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("just-a-site", "not <site>/<factory>"),
        ("s1/f1/extra", "not <site>/<factory>"),
        ("s1/f+", "not <site>/<factory>"),
        ("alerts/f1", "reserved"),
    ],
)
def test_bad_gateway_lines_are_refused(tmp_path: Path, line: str, message: str) -> None:
    listing = tmp_path / "gateways.txt"
    listing.write_text(f"s1/f1\n{line}\n")
    done = subprocess.run(
        [str(MAKE_PASSWORDS), "-o", str(tmp_path / "out"), str(listing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert message in done.stderr
    assert not (tmp_path / "out" / "passwd").exists()
    assert not (tmp_path / "out" / "passwd-service").exists()

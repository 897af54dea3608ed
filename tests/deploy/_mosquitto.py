"""The deployment's Mosquitto, run here: our own broker process with deploy/ config adapted.

Only what cannot work outside the container changes: the listener (a free loopback port),
the paths of the password file, the ACL and the data directory, and, when the tests run as
root, ``user root`` (Mosquitto otherwise drops to the ``mosquitto`` user, which cannot read
pytest's private temp directories).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MOSQUITTO_DIR = DEPLOY / "mosquitto"
MAKE_PASSWORDS = MOSQUITTO_DIR / "make-passwords.sh"


def mosquitto_binary() -> str:
    """The broker binary of this machine, or skip."""
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto and mosquitto_passwd are not installed")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_secrets(out: Path, gateways: list[str], *, sim: bool = True) -> dict[str, str]:
    """Run make-passwords.sh; return every account's password."""
    listing = out.parent / f"{out.name}-gateways.txt"
    listing.write_text("# test gateways\n" + "\n".join(gateways) + "\n\n")
    args = [str(MAKE_PASSWORDS), *(["-s"] if sim else []), "-o", str(out), str(listing)]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    creds = {}
    for line in (out / "credentials.csv").read_text().splitlines():
        user, password = line.split(",", 1)
        creds[user] = password
    return creds


def adapt_config(text: str, *, port: int, passwd: Path, acl: Path, data: Path) -> str:
    """deploy/mosquitto/mosquitto.conf with this machine's port and paths."""
    replaced = {
        "listener": f"listener {port} 127.0.0.1",
        "password_file": f"password_file {passwd}",
        "acl_file": f"acl_file {acl}",
        "persistence_location": f"persistence_location {data}/",
    }
    seen = set()
    lines = []
    for line in text.splitlines():
        key = line.split(" ", 1)[0]
        if key in replaced:
            seen.add(key)
            line = replaced[key]
        lines.append(line)
    assert seen == set(replaced), f"deploy config lacks {set(replaced) - seen}"
    if os.geteuid() == 0:
        lines.append("user root")
    return "\n".join(lines) + "\n"


@dataclass
class Broker:
    port: int
    passwords: dict[str, str]
    log: Path


@contextlib.contextmanager
def deploy_broker(workdir: Path, gateways: list[str]) -> Iterator[Broker]:
    """Our own Mosquitto with the deployment's config, ACL and generated password file."""
    binary = mosquitto_binary()
    secrets = workdir / "secrets"
    passwords = make_secrets(secrets, gateways)
    data = workdir / "data"
    data.mkdir()
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        adapt_config(
            (MOSQUITTO_DIR / "mosquitto.conf").read_text(),
            port=port,
            passwd=secrets / "passwd",
            acl=MOSQUITTO_DIR / "acl",
            data=data,
        )
    )
    log = workdir / "mosquitto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"mosquitto exited: {log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"mosquitto did not listen: {log.read_text()}") from None
                time.sleep(0.05)
        yield Broker(port, passwords, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

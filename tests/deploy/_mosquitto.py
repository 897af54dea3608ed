"""The deployment's Mosquitto, run here: our own broker process with deploy/ config adapted.

Only what cannot work outside the container changes: each listener's port (a free loopback
port for each), the paths of the password files, the ACL files and the data directory, and,
when the tests run as root, ``user root`` (Mosquitto otherwise drops to the ``mosquitto``
user, which cannot read pytest's private temp directories). Everything else, the
per-listener security settings included, is the deployment's own text.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MOSQUITTO_DIR = DEPLOY / "mosquitto"
MAKE_PASSWORDS = MOSQUITTO_DIR / "make-passwords.sh"
# The container's paths of the files compose mounts (see compose.yaml).
CONTAINER_CONFIG = "/mosquitto/config/"
# The deployment's listeners: gateways (published) and the service (inside the stack).
GATEWAY_LISTENER = 1883
SERVICE_LISTENER = 1884


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


def passwd_users(path: Path) -> set[str]:
    """The accounts of a Mosquitto password file."""
    return {line.split(":", 1)[0] for line in path.read_text().splitlines() if line}


def _local(value: str, directory: Path) -> str:
    """A container path of compose's mounts, as the same file name in ``directory``."""
    assert value.startswith(CONTAINER_CONFIG), value
    return str(directory / value.removeprefix(CONTAINER_CONFIG))


def adapt_config(
    text: str, *, ports: dict[int, int], secrets: Path, data: Path
) -> tuple[str, dict[int, int]]:
    """deploy/mosquitto/mosquitto.conf with this machine's ports and paths.

    Args:
        ports: the deployment's listener port -> the port to use here; a listener missing
            from it gets a free port.

    Returns:
        The adapted text and the complete port mapping.
    """
    ports = dict(ports)
    seen = set()
    lines = []
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "listener":
            deployed = int(value.split()[0])
            ports.setdefault(deployed, free_port())
            line = f"listener {ports[deployed]} 127.0.0.1"
        elif key == "password_file":
            line = f"password_file {_local(value, secrets)}"
        elif key == "acl_file":
            line = f"acl_file {_local(value, MOSQUITTO_DIR)}"
        elif key == "persistence_location":
            line = f"persistence_location {data}/"
        else:
            key = ""
        seen.add(key)
        lines.append(line)
    wanted = {"listener", "password_file", "acl_file", "persistence_location"}
    assert wanted <= seen, f"deploy config lacks {wanted - seen}"
    if os.geteuid() == 0:
        lines.append("user root")
    return "\n".join(lines) + "\n", ports


@dataclass
class Broker:
    """A running Mosquitto with the deployment's configuration.

    Attributes:
        port: the gateways' listener (1883 in the deployment).
        service_port: the service's listener (1884 in the deployment).
    """

    binary: str
    conf: Path
    ports: dict[int, int]
    passwords: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return self.ports[GATEWAY_LISTENER]

    @property
    def service_port(self) -> int:
        return self.ports[SERVICE_LISTENER]

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        for port in self.ports.values():
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"mosquitto exited: {self.log.read_text()}")
                try:
                    socket.create_connection(("127.0.0.1", port), 0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AssertionError(
                            f"no listener on {port}: {self.log.read_text()}"
                        ) from None
                    time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: Mosquitto saves its sessions and queued messages, then exits."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same ports and persistence file."""
        self.stop()
        self.start()


@contextlib.contextmanager
def deploy_broker(workdir: Path, gateways: list[str]) -> Iterator[Broker]:
    """Our own Mosquitto with the deployment's config, ACLs and generated password files."""
    binary = mosquitto_binary()
    secrets = workdir / "secrets"
    passwords = make_secrets(secrets, gateways)
    data = workdir / "data"
    data.mkdir()
    conf = workdir / "mosquitto.conf"
    text, ports = adapt_config(
        (MOSQUITTO_DIR / "mosquitto.conf").read_text(), ports={}, secrets=secrets, data=data
    )
    conf.write_text(text)
    broker = Broker(binary, conf, ports, passwords, workdir / "mosquitto.log")
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()

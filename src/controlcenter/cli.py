"""``controlcenter`` command line: migrate, serve, create-key, demo, score-csv, evaluate, report.

Only this entry point configures logging handlers and calls ``asyncio.run``. What users read
(``--help``) is ``_DESCRIPTION`` and ``_EXAMPLES``, not this docstring.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from controlcenter import __version__
from controlcenter.config import ApiSettings, Settings
from controlcenter.errors import ConfigError, ControlCenterError

__all__ = ["main"]

logger = logging.getLogger("controlcenter")

_DESCRIPTION = """\
The control center of an industrial complex: it receives the factories' air, power and
parking readings over MQTT, stores them, raises alerts, and serves an API and the control
room's dashboard (http://HOST:PORT/).

Settings come from environment variables starting with CC_ (CC_DATABASE_URL, CC_MQTT_URL,
CC_API__PORT, CC_TIME_ZONE, ...; the README lists them all)."""

_EXAMPLES = """\
examples:
  controlcenter demo                      everything on this machine, with a simulated
                                          complex (embedded database and broker)
  controlcenter demo --port 8080          the same, dashboard at http://127.0.0.1:8080/
  controlcenter serve                     the service, with CC_DATABASE_URL and CC_MQTT_URL
  controlcenter create-key --role operator --name "control room wall"
  controlcenter report daily --site namdong --date 2026-11-30 --out day.pdf
  controlcenter-sim positions | controlcenter import-positions -
                                          positions of the simulated complex for the map
  controlcenter COMMAND --help            the options of one command"""


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def configure_logging(settings: Settings) -> None:
    """Text logs in dev, JSON lines in prod, on standard error."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.env == "prod":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Alembic narrates every plugin at INFO; keep its warnings only.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # The embedded broker (amqtt) and its state machine narrate every packet at INFO.
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="controlcenter",
        description=_DESCRIPTION,
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=__version__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the database schema")
    serve = sub.add_parser(
        "serve", help="run the service (ingest, alerts, API, dashboard) until Ctrl-C or SIGTERM"
    )
    _port_option(serve)
    serve.add_argument(
        "--api-only",
        action="store_true",
        help="run the API alone (a stateless replica: live feeds from the broker, no ingest)",
    )
    key = sub.add_parser("create-key", help="create an API key and print it (shown once)")
    key.add_argument(
        "--role", required=True, choices=["viewer", "operator", "maintenance", "admin"]
    )
    key.add_argument("--factory", metavar="SITE/FACTORY", help="scope the key to one factory")
    key.add_argument("--name", default="", help="what the key is for")
    imp = sub.add_parser(
        "import-positions",
        help="set factories' and sensors' positions from a JSON file (controlcenter-sim positions)",
    )
    imp.add_argument("file", type=Path, help="the positions file, or - for standard input")
    demo = sub.add_parser(
        "demo",
        help="run everything on this machine with a simulated complex (embedded database and"
        " broker when CC_DATABASE_URL / CC_MQTT_URL are unset)",
    )
    demo.add_argument("--factories", type=int, default=5, help="simulated factories")
    demo.add_argument(
        "--rate",
        type=float,
        default=200.0,
        help="sensor readings per second (a reading carries several metrics, each a stored value)",
    )
    _port_option(demo)
    sub.add_parser("score-csv", help="score a univariate timestamp,value CSV (FILE or stdin)")
    sub.add_parser("evaluate", help="score the engine on labelled simulator output (DIR)")
    sub.add_parser(
        "report", help="make a daily or monthly report as PDF or Excel (report --help: options)"
    )
    return p


def _port_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        metavar="N",
        help="the API's and dashboard's TCP port (default: CC_API__PORT, else 8000)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``controlcenter`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # These two have their own argument parsers (and --help): hand them the rest as is.
    if argv[:1] == ["score-csv"]:
        from controlcenter.scorecsv import main as score_main

        return int(score_main(argv[1:]))
    if argv[:1] == ["report"]:
        from controlcenter.reports.cli import main as report_main

        return report_main(argv[1:])
    if argv[:1] == ["evaluate"]:
        from controlcenter.anomaly_eval import main as eval_main

        return int(eval_main(argv[1:]))
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
        if getattr(args, "port", None) is not None:
            settings = _with_port(settings, args.port)
    except ValueError as exc:
        sys.stderr.write(f"controlcenter: invalid settings: {exc}\n")
        return 2
    configure_logging(settings)
    try:
        _run(args, settings)
    except KeyboardInterrupt:
        return 130
    except (ControlCenterError, ExceptionGroup) as exc:
        leaves = _leaves(exc)
        if not all(isinstance(e, ControlCenterError) for e in leaves):
            raise
        for e in leaves:
            # A configuration error needs no traceback; anything else does.
            logger.error("fatal: %s", e, exc_info=not isinstance(e, ConfigError))  # noqa: TRY400
        return 2 if any(isinstance(e, ConfigError) for e in leaves) else 1
    return 0


def _with_port(settings: Settings, port: int) -> Settings:
    """``settings`` with the API on ``port`` (validated like ``CC_API__PORT``)."""
    api = ApiSettings.model_validate({**settings.api.model_dump(), "port": port})
    return settings.model_copy(update={"api": api})


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, as TaskGroups raise them."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


def _run(args: argparse.Namespace, settings: Settings) -> None:
    from controlcenter.service import run_service, stop_on_signals
    from controlcenter.store import migrate

    async def serve() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        if args.api_only:
            from controlcenter.api.server import run_replica

            await run_replica(settings, stop)
        else:
            await run_service(settings, stop)

    if args.command == "migrate":
        asyncio.run(migrate(settings))
    elif args.command == "serve":
        _run_loop(serve())
    elif args.command == "create-key":
        from controlcenter.api.keys import create_key_cli

        asyncio.run(create_key_cli(settings, args.role, args.factory, args.name))
    elif args.command == "import-positions":
        from controlcenter.layoutfile import import_file
        from controlcenter.store import open_pool

        async def load() -> None:
            async with open_pool(settings) as pool:
                await import_file(pool, args.file)

        asyncio.run(load())
    elif args.command == "demo":
        from controlcenter.demo import run_demo

        _run_loop(run_demo(settings, factories=args.factories, rate=args.rate))


def _run_loop(coro: object) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is not built for every platform
        asyncio.run(coro)  # type: ignore[arg-type]
    else:
        uvloop.run(coro)  # type: ignore[arg-type]

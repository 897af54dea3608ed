"""``controlcenter report daily|monthly``: make one report into a file.

    controlcenter report daily --site namdong --date 2026-11-30 --out day.pdf
    controlcenter report monthly --site namdong --factory f007 --month 2026-11 \\
        --format xlsx --lang en --out november.xlsx

The database is the service's (``CC_DATABASE_URL``); days and months are the complex's
(``CC_TIME_ZONE``). Exit status: 0 written, 1 no such site or factory (or the database
failed), 2 bad arguments or settings.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from controlcenter.config import Settings
from controlcenter.errors import ConfigError, ControlCenterError
from controlcenter.reports._scope import Scope
from controlcenter.reports.build import Format, ReportRequest, make_report
from controlcenter.reports.period import Period, PeriodError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="controlcenter report",
        description="Make a daily or monthly report (air quality, energy, parking, alerts) "
        "of a site or one of its factories, as PDF or Excel, in Korean or English.",
    )
    p.add_argument("kind", choices=["daily", "monthly"])
    p.add_argument("--site", required=True, help="site code")
    p.add_argument("--factory", help="factory code (default: the whole site)")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="the day (daily)")
    p.add_argument("--month", metavar="YYYY-MM", help="the month (monthly)")
    p.add_argument("--format", choices=["pdf", "xlsx"], help="default: from --out, else pdf")
    p.add_argument("--lang", choices=["ko", "en"], default="ko", help="default: ko")
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="where to write it")
    return p


async def _write(settings: Settings, request: ReportRequest, out: Path) -> int:
    from controlcenter.store import open_pool

    async with open_pool(settings) as pool:
        report = await make_report(pool, request)
    await asyncio.to_thread(out.write_bytes, report.content)
    return len(report.content)


def main(argv: Sequence[str]) -> int:
    """Run ``controlcenter report ...`` (the arguments after ``report``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    value = args.date if args.kind == "daily" else args.month
    if value is None:
        parser.error(f"a {args.kind} report needs --{'date' if args.kind == 'daily' else 'month'}")
    fmt: Format = args.format or ("xlsx" if args.out.suffix.lower() == ".xlsx" else "pdf")
    try:
        settings = Settings()
        period = Period.parse(args.kind, value, settings.time_zone)
    except (PeriodError, ValueError) as exc:
        parser.error(str(exc))
    request = ReportRequest(Scope(args.site, args.factory), period, args.lang, fmt)
    try:
        size = asyncio.run(_write(settings, request, args.out))
    except ConfigError as exc:
        sys.stderr.write(f"controlcenter report: {exc}\n")
        return 2
    except (ControlCenterError, OSError) as exc:
        sys.stderr.write(f"controlcenter report: {exc}\n")
        return 1
    sys.stdout.write(f"{args.out}: {request.filename} ({size} bytes)\n")
    return 0

"""Alert figures: count by rule and severity, time to acknowledge and to resolve.

Alerts opened within the period. Times are from ``opened_at`` to ``acknowledged_at`` and
to ``resolved_at`` (alerts without one are left out of that figure), as the median and the
90th percentile (linear interpolation, PostgreSQL's ``percentile_cont``), per site and per
factory (alerts of the site itself, such as a complex-wide one, have factory "").
"""

from __future__ import annotations

from dataclasses import dataclass

from controlcenter.reports._scope import Scope
from controlcenter.reports.period import Period
from controlcenter.store.figures import Conn, alert_counts, alert_times

__all__ = ["AlertData", "Timing", "alert_data"]


@dataclass(slots=True)
class Timing:
    """Counts and response times (seconds) of a site (``factory`` None) or a factory."""

    site: str
    factory: str | None
    count: int
    ack_p50: float | None
    ack_p90: float | None
    resolve_p50: float | None
    resolve_p90: float | None


@dataclass(slots=True)
class AlertData:
    """Alert figures of a scope and period."""

    counts: list[tuple[str, str, int]]  # (rule, severity, alerts)
    timings: list[Timing]  # the site first, then its factories

    @property
    def total(self) -> int:
        """Alerts opened in the period."""
        return sum(n for _, _, n in self.counts)


async def alert_data(conn: Conn, scope: Scope, period: Period) -> AlertData:
    """The alert figures of ``scope`` over ``period`` from the ``alerts`` table."""
    args = (scope.site, scope.factory, period.start, period.end)
    counts = [(r["rule_name"], r["severity"], r["n"]) for r in await alert_counts(conn, *args)]
    timings = [
        Timing(
            r["site"],
            r["factory"],
            r["n"],
            r["ack_p50"],
            r["ack_p90"],
            r["res_p50"],
            r["res_p90"],
        )
        for r in await alert_times(conn, *args)
    ]
    return AlertData(counts, timings)

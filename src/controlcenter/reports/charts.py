"""The reports' charts: matplotlib on the Agg canvas (no display, thread-safe per figure).

Each function returns a PNG. Figures are built with the object API (no ``pyplot`` state),
in the vendored Korean font. A section without data gets a chart saying so.
"""

from __future__ import annotations

import io
import math
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from controlcenter.reports._fonts import matplotlib_font
from controlcenter.reports._text import Lang, text

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from controlcenter.reports.air import AirData
    from controlcenter.reports.alerting import AlertData
    from controlcenter.reports.energy import EnergyData
    from controlcenter.reports.parking import ParkingData
    from controlcenter.reports.period import Period

__all__ = ["air_chart", "alerts_chart", "energy_chart", "parking_chart"]

#: Colours of the Korean grade bands (good blue, normal green, bad amber, very bad red).
GRADE_COLOURS = ("#1e88e5", "#43a047", "#fb8c00", "#e53935")
SEVERITY_COLOURS = {"info": "#90a4ae", "warning": "#fb8c00", "critical": "#e53935"}
_WIDTH_IN, _DPI = 7.0, 150


def _figure(rows: int = 1, height_in: float = 2.8) -> tuple[Figure, list[Axes]]:
    family = matplotlib_font()
    fig = Figure(figsize=(_WIDTH_IN, height_in * rows), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows, 1, k + 1) for k in range(rows)]
    for ax in axes:
        ax.tick_params(labelsize=8)
        for label in (*ax.get_xticklabels(), *ax.get_yticklabels()):
            label.set_fontfamily(family)
        ax.grid(axis="y", alpha=0.3)
    return fig, axes


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=_DPI)
    return out.getvalue()


def _empty(ax: Axes, lang: Lang) -> None:
    ax.text(
        0.5,
        0.5,
        text(lang, "no_data"),
        ha="center",
        va="center",
        fontsize=12,
        family=matplotlib_font(),
        transform=ax.transAxes,
        color="#777",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _title(ax: Axes, title: str) -> None:
    ax.set_title(title, fontsize=10, family=matplotlib_font(), loc="left")


def _tick_labels(stamps: list[str], ax: Axes, at: list[int]) -> None:
    step = max(1, len(at) // 12)
    ax.set_xticks(at[::step], stamps[::step], fontsize=7, family=matplotlib_font())


def _slots(period: Period) -> list[datetime]:
    """The charts' time axis: every local hour of a day, or every local day of a month."""
    if period.days == 1:
        return [datetime.combine(period.first, time(h)) for h in range(24)]
    return [datetime.combine(period.first + timedelta(days=k), time(0)) for k in range(period.days)]


def _fmt(period: Period) -> str:
    return "%H" if period.days == 1 else "%d"


def air_chart(d: AirData, period: Period, lang: Lang) -> bytes:
    """Station-hours per grade, stacked, per hour (a day) or day (a month), PM10 and PM2.5."""
    fig, axes = _figure(2, 2.3)
    family = matplotlib_font()
    slots = _slots(period)
    for ax, metric, name in zip(axes, ("pm10", "pm25"), ("PM10", "PM2.5"), strict=True):
        found = dict(d.timeline.get(metric, []))
        _title(ax, f"{name} · {text(lang, 'grade_hours')}")
        if not found:
            _empty(ax, lang)
            continue
        points = [(t, found.get(t, [0, 0, 0, 0])) for t in slots]
        x = list(range(len(points)))
        bottom = [0] * len(points)
        for g, colour in enumerate(GRADE_COLOURS):
            heights = [counts[g] for _, counts in points]
            ax.bar(
                x,
                heights,
                bottom=bottom,
                color=colour,
                width=0.8,
                label=text(lang, ("good", "normal", "bad", "very_bad")[g]),
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        _tick_labels([t.strftime(_fmt(period)) for t, _ in points], ax, x)
        ax.legend(fontsize=7, ncols=4, loc="upper right", prop={"family": family, "size": 7})
        ax.set_ylim(0, max(bottom) * 1.35 + 1)
    return _png(fig)


def energy_chart(d: EnergyData, period: Period, lang: Lang) -> bytes:
    """kWh per hour (a day) or day (a month) as bars; the peak demand and contract as lines."""
    fig, (ax,) = _figure(1, 3.0)
    family = matplotlib_font()
    _title(ax, f"{text(lang, 'kwh')} · {text(lang, 'peak_kw')}")
    if not d.timeline:
        _empty(ax, lang)
        return _png(fig)
    found = {t: (kwh, kw) for t, kwh, kw in d.timeline}
    timeline = [(t, *found.get(t, (0.0, math.nan))) for t in _slots(period)]  # gaps: no line
    x = list(range(len(timeline)))
    ax.bar(x, [kwh for _, kwh, _ in timeline], color="#5c6bc0", label=text(lang, "kwh"))
    ax.set_ylabel("kWh", fontsize=8, family=family)
    peak_ax = ax.twinx()
    peak_ax.plot(
        x,
        [kw for _, _, kw in timeline],
        color="#d81b60",
        marker="o",
        markersize=3,
        label=text(lang, "peak_kw"),
    )
    if d.total.contract_kw:
        peak_ax.axhline(
            d.total.contract_kw,
            color="#d81b60",
            linestyle="--",
            linewidth=1,
            label=text(lang, "contract_kw"),
        )
    peak_ax.set_ylabel("kW", fontsize=8, family=family)
    peak_ax.tick_params(labelsize=8)
    top = max([kw for _, _, kw in d.timeline] + [d.total.contract_kw or 0.0])
    peak_ax.set_ylim(0, top * 1.3 + 1)
    _tick_labels([t.strftime(_fmt(period)) for t, _, _ in timeline], ax, x)
    handles = ax.get_legend_handles_labels()
    more = peak_ax.get_legend_handles_labels()
    ax.legend(
        handles[0] + more[0],
        handles[1] + more[1],
        loc="upper left",
        ncols=3,
        prop={"family": family, "size": 7},
    )
    ax.set_ylim(0, max(kwh for _, kwh, _ in d.timeline) * 1.3 + 1)
    return _png(fig)


def parking_chart(d: ParkingData, lang: Lang) -> bytes:
    """Occupancy (%) by local hour of the day."""
    fig, (ax,) = _figure(1, 2.6)
    _title(ax, f"{text(lang, 'occupancy')} (%) · {text(lang, 'hour')}")
    if all(v is None for v in d.by_hour):
        _empty(ax, lang)
        return _png(fig)
    values = [100 * v if v is not None else 0.0 for v in d.by_hour]
    ax.bar(range(24), values, color=["#e53935" if v >= 95 else "#26a69a" for v in values])
    ax.set_ylim(0, 110)
    _tick_labels([f"{h:02d}" for h in range(24)], ax, list(range(24)))
    return _png(fig)


def alerts_chart(d: AlertData, lang: Lang) -> bytes:
    """Alerts by rule, stacked by severity (horizontal bars)."""
    rules = sorted({rule for rule, _, _ in d.counts})
    fig, (ax,) = _figure(1, max(2.0, 0.9 + 0.3 * len(rules)))
    family = matplotlib_font()
    _title(ax, f"{text(lang, 'count')} · {text(lang, 'rule')}")
    if not rules:
        _empty(ax, lang)
        return _png(fig)
    left = [0] * len(rules)
    for severity, colour in SEVERITY_COLOURS.items():
        widths = [sum(n for r, s, n in d.counts if r == rule and s == severity) for rule in rules]
        ax.barh(range(len(rules)), widths, left=left, color=colour, label=text(lang, severity))
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_yticks(range(len(rules)), rules, fontsize=8, family=family)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # Outside the axes, right: it never hides a bar.
    ax.legend(prop={"family": family, "size": 7}, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)

"""A report as a neutral document: sections of tables and charts, in one language.

:func:`compose` turns the figures (:class:`ReportData`) into a :class:`Document`; the PDF
and the workbook writers render the same document, so both carry the same numbers.
Cells keep raw numbers; each column's ``fmt`` says how to show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Literal

from controlcenter.reports import charts
from controlcenter.reports._scope import Scope, local
from controlcenter.reports._text import Lang, text
from controlcenter.reports.air import METRICS, AirData
from controlcenter.reports.alerting import AlertData, Timing
from controlcenter.reports.energy import EnergyData, FactoryEnergy
from controlcenter.reports.parking import Lot, ParkingData
from controlcenter.reports.period import Period

__all__ = ["Cell", "Document", "Fmt", "ReportData", "Section", "Table", "compose", "shown"]

Cell = str | int | float | None
#: text; int: a count; num: one decimal; pct: a share 0..1 shown as a percentage
Fmt = Literal["text", "int", "num", "pct"]
_METRIC_NAMES = {"pm10": "PM10", "pm25": "PM2.5"}
_GRADES = ("good", "normal", "bad", "very_bad")


@dataclass(slots=True)
class Table:
    """A titled table; ``fmts`` has one entry per column."""

    title: str
    columns: list[str]
    fmts: list[Fmt]
    rows: list[list[Cell]]


@dataclass(slots=True)
class Section:
    """One part of a report (air, energy, parking, alerts)."""

    key: str
    title: str
    note: str
    tables: list[Table] = field(default_factory=list)
    charts: list[bytes] = field(default_factory=list)  # PNG images


@dataclass(slots=True)
class Document:
    """A whole report in one language."""

    title: str
    facts: list[tuple[str, str]]  # (label, value) under the title
    sections: list[Section]


@dataclass(slots=True)
class ReportData:
    """The figures of one report, straight from the queries."""

    scope: Scope
    period: Period
    air: AirData
    energy: EnergyData
    parking: ParkingData
    alerts: AlertData


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def _air(d: AirData, period: Period, lang: Lang) -> Section:
    t = partial(text, lang)
    grades = Table(
        t("grade_hours"),
        [t("metric"), *(t(g) for g in _GRADES), t("exceed_days")],
        ["text", "int", "int", "int", "int", "int"],
        [[_METRIC_NAMES[m], *d.grade_hours(m), d.exceed_days(m)] for m in METRICS],
    )
    worst = Table(
        t("worst"),
        [t("factory"), t("station"), t("metric"), t("bad_hours"), t("peak_hour"), t("mean")],
        ["text", "text", "text", "int", "num", "num"],
        [
            [s.factory, s.sensor, _METRIC_NAMES[s.metric], s.hours[2] + s.hours[3], s.peak, s.mean]
            for s in d.worst()
        ],
    )
    return Section(
        "air", t("air"), t("air_note"), [grades, worst], [charts.air_chart(d, period, lang)]
    )


def _energy_row(f: FactoryEnergy, name: str, tz: str) -> list[Cell]:
    at = local(f.peak_at, tz) if f.peak_at is not None else None
    return [name, f.kwh, f.peak_kw, at, f.contract_kw, f.peak_share, f.load_factor]


def _energy(d: EnergyData, period: Period, lang: Lang) -> Section:
    t = partial(text, lang)
    rows = [_energy_row(f, f.factory or "", period.tz) for f in d.factories]
    rows.append(_energy_row(d.total, t("total"), period.tz))
    table = Table(
        t("by_factory"),
        [t(k) for k in ("factory", "kwh", "peak_kw", "peak_at", "contract_kw")]
        + [t(k) for k in ("peak_share", "load_factor")],
        ["text", "num", "num", "text", "num", "pct", "pct"],
        rows,
    )
    chart = charts.energy_chart(d, period, lang)
    return Section("energy", t("energy"), t("energy_note"), [table], [chart])


def _parking(d: ParkingData, lang: Lang) -> Section:
    t = partial(text, lang)
    by_hour = Table(
        t("occupancy"),
        [t("hour"), t("occupancy")],
        ["int", "pct"],
        [[h, share] for h, share in enumerate(d.by_hour)],
    )
    lots = Table(
        t("lot"),
        [t(k) for k in ("factory", "lot", "capacity", "hours", "hours_full")]
        + [t(k) for k in ("occupancy", "peak_occupancy")],
        ["text", "text", "int", "int", "int", "pct", "pct"],
        [_lot_row(lot) for lot in d.lots],
    )
    chart = charts.parking_chart(d, lang)
    return Section("parking", t("parking"), t("parking_note"), [lots, by_hour], [chart])


def _lot_row(lot: Lot) -> list[Cell]:
    return [
        lot.factory,
        lot.sensor,
        lot.capacity,
        lot.hours,
        lot.hours_full,
        lot.share,
        lot.peak_share,
    ]


def _timing_row(x: Timing, lang: Lang) -> list[Cell]:
    name = (
        text(lang, "whole_site") if x.factory is None else (x.factory or text(lang, "site_itself"))
    )
    minutes = [_minutes(v) for v in (x.ack_p50, x.ack_p90, x.resolve_p50, x.resolve_p90)]
    return [name, x.count, *minutes]


def _alerts(d: AlertData, lang: Lang) -> Section:
    t = partial(text, lang)
    counts = Table(
        t("by_rule"),
        [t("rule"), t("severity"), t("count")],
        ["text", "text", "int"],
        [[rule, t(sev), n] for rule, sev, n in d.counts],
    )
    timing = Table(
        t("response_times"),
        [t("factory"), t("count"), t("ack_p50"), t("ack_p90"), t("res_p50"), t("res_p90")],
        ["text", "int", "num", "num", "num", "num"],
        [_timing_row(x, lang) for x in d.timings],
    )
    chart = charts.alerts_chart(d, lang)
    return Section("alerts", t("alerts"), t("alerts_note"), [counts, timing], [chart])


def compose(data: ReportData, lang: Lang, now: datetime | None = None) -> Document:
    """The document of ``data`` in ``lang`` (charts drawn here: CPU work, run it in a thread)."""
    t = partial(text, lang)
    p = data.period
    made = local(now or datetime.now(UTC), p.tz)
    facts = [
        (t("site"), data.scope.site),
        (t("factory"), data.scope.factory or t("all_factories")),
        (t("period"), p.label if p.days == 1 else f"{p.first} ~ {p.last}"),
        (t("time_zone"), p.tz),
        (t("generated"), made),
    ]
    sections = [
        _air(data.air, p, lang),
        _energy(data.energy, p, lang),
        _parking(data.parking, lang),
        _alerts(data.alerts, lang),
    ]
    return Document(f"{t(p.kind)} · {data.scope.site} · {p.label}", facts, sections)


def shown(cell: Cell, fmt: Fmt) -> str:
    """A cell as the PDF shows it (``-`` for no value).

    >>> shown(1234.56, "num"), shown(0.4567, "pct"), shown(3, "int"), shown(None, "num")
    ('1,234.6', '45.7%', '3', '-')
    """
    if cell is None:
        return "-"
    if isinstance(cell, str) or fmt == "text":
        return str(cell)
    if fmt == "int":
        return f"{cell:,.0f}"
    if fmt == "pct":
        return f"{100 * cell:,.1f}%"
    return f"{cell:,.1f}"

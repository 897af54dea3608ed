"""Every figure of a report against an aggregate computed straight from the raw rows."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from controlcenter.reports import Period, Scope, gather
from tests.reports._seed import TZ, raw_air, raw_alerts, raw_energy, raw_parking, seed

DAY = date(2026, 11, 10)


@pytest.fixture(scope="module")
async def complex_(database_url):
    import asyncpg

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        # the day, and the days around it (which the daily report must leave out)
        yield await seed(pool, [date(2026, 11, 9), DAY, date(2026, 11, 11)]), pool
    finally:
        await pool.close()


def close(a, b) -> bool:
    if b is None:
        return a is None
    return a == pytest.approx(b, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("kind", ["daily", "monthly"])
async def test_air_figures_match_the_raw_readings(complex_, kind):
    cx, pool = complex_
    period = Period.parse(kind, "2026-11-10" if kind == "daily" else "2026-11", TZ)
    data = await gather(pool, Scope(cx.site), period)
    for metric in ("pm10", "pm25"):
        raw = await raw_air(pool, cx.series[metric], metric, period.start, period.end)
        mine = {s.sensor + s.factory: s for s in data.air.stations if s.metric == metric}
        assert len(mine) == len(raw) == 4
        totals = [0, 0, 0, 0]
        for sid, (hours, mean, peak, exceed) in raw.items():
            st = await pool.fetchrow(
                "SELECT se.code, f.code AS f FROM series s JOIN sensors se USING (sensor_id) "
                "JOIN factories f USING (factory_id) WHERE series_id = $1",
                sid,
            )
            station = mine[st["code"] + st["f"]]
            assert station.hours == hours
            assert close(station.mean, mean)
            assert close(station.peak, peak)
            assert station.exceed_days == exceed
            totals = [a + b for a, b in zip(totals, hours, strict=True)]
        assert data.air.grade_hours(metric) == totals
        assert sum(totals) == 4 * 24 * period.days - 4 * 24 * (period.days - 3) * (kind != "daily")
        timeline_total = [sum(c[g] for _, c in data.air.timeline[metric]) for g in range(4)]
        assert timeline_total == totals
    assert sum(data.air.grade_hours("pm10")[2:]) > 0, "the seed reaches the bad grades"


@pytest.mark.parametrize("kind", ["daily", "monthly"])
async def test_energy_figures_match_the_raw_readings(complex_, kind):
    cx, pool = complex_
    period = Period.parse(kind, "2026-11-10" if kind == "daily" else "2026-11", TZ)
    data = await gather(pool, Scope(cx.site), period)
    kwh, peak, at = await raw_energy(pool, cx.series["kw"], period.start, period.end)
    assert close(data.energy.total.kwh, kwh)
    assert close(data.energy.total.peak_kw, peak)
    assert data.energy.total.peak_at == at
    assert data.energy.total.contract_kw == 1600
    assert close(data.energy.total.load_factor, kwh / period.hours / peak)
    assert close(sum(k for _, k, _ in data.energy.timeline), kwh)
    assert close(max(p for _, _, p in data.energy.timeline), peak)
    for n, factory in enumerate(cx.factories):
        meters = cx.series["kw"][2 * n : 2 * n + 2]  # the seed's order: two meters each
        f_kwh, f_peak, f_at = await raw_energy(pool, meters, period.start, period.end)
        mine = next(f for f in data.energy.factories if f.factory == factory)
        assert close(mine.kwh, f_kwh)
        assert close(mine.peak_kw, f_peak)
        assert mine.peak_at == f_at
        assert close(mine.peak_share, f_peak / (900 if factory == "f01" else 700))


@pytest.mark.parametrize("kind", ["daily", "monthly"])
async def test_parking_figures_match_the_raw_readings(complex_, kind):
    cx, pool = complex_
    period = Period.parse(kind, "2026-11-10" if kind == "daily" else "2026-11", TZ)
    data = await gather(pool, Scope(cx.site), period)
    sums: dict[int, list[float]] = {}
    for n, factory in enumerate(cx.factories):
        occ, cap = cx.series["occupied"][n], cx.series["capacity"][n]
        hours, full, share, peak, by_hour = await raw_parking(
            pool, occ, cap, period.start, period.end
        )
        lot = next(x for x in data.parking.lots if x.factory == factory)
        assert (lot.hours, lot.hours_full) == (hours, full)
        assert close(lot.share, share)
        assert close(lot.peak_share, peak)
        for h, (o, c) in by_hour.items():
            sums.setdefault(h, [0.0, 0.0])
            sums[h][0] += o
            sums[h][1] += c
    assert data.parking.hours_full > 0, "the seed fills the lots at times"
    for h in range(24):
        assert close(data.parking.by_hour[h], sums[h][0] / sums[h][1])


@pytest.mark.parametrize("kind", ["daily", "monthly"])
async def test_alert_figures_match_the_raw_rows(complex_, kind):
    cx, pool = complex_
    period = Period.parse(kind, "2026-11-10" if kind == "daily" else "2026-11", TZ)
    data = await gather(pool, Scope(cx.site), period)
    counts, times = await raw_alerts(pool, cx.site, period.start, period.end)
    assert {(r, s): n for r, s, n in data.alerts.counts} == counts
    assert data.alerts.total == (12 if kind == "daily" else 36)
    got = {t.factory: t for t in data.alerts.timings}
    assert set(got) == set(times)
    for key, (n, a50, a90, r50, r90) in times.items():
        t = got[key]
        assert t.count == n
        for mine, raw in ((t.ack_p50, a50), (t.ack_p90, a90), (t.resolve_p50, r50)):
            assert close(mine, raw)
        assert close(t.resolve_p90, r90)


async def test_a_factory_report_holds_that_factory_only(complex_):
    cx, pool = complex_
    period = Period.parse("daily", "2026-11-10", TZ)
    data = await gather(pool, Scope(cx.site, "f02"), period)
    assert {s.factory for s in data.air.stations} == {"f02"}
    assert [f.factory for f in data.energy.factories] == ["f02"]
    kwh, peak, _ = await raw_energy(pool, cx.series["kw"][2:4], period.start, period.end)
    assert close(data.energy.total.kwh, kwh)
    assert close(data.energy.total.peak_kw, peak)
    assert data.energy.total.contract_kw == 700
    assert [lot.factory for lot in data.parking.lots] == ["f02"]
    counts, _ = await raw_alerts(pool, cx.site, period.start, period.end)
    assert data.alerts.total < sum(counts.values())
    assert {t.factory for t in data.alerts.timings} <= {None, "f02"}


def test_the_period_bounds_are_local_days():
    p = Period.parse("daily", "2026-11-10", TZ)
    assert p.start.astimezone(ZoneInfo(TZ)).isoformat() == "2026-11-10T00:00:00+09:00"
    assert (p.end - p.start).total_seconds() == 86_400

"""A small complex with readings and alerts for the report tests, and its raw aggregates.

``seed`` writes raw readings (every 5 minutes) of air, power and parking sensors of two
factories over some local days, refreshes the rollups the way the service does, and adds
alerts. The ``raw_*`` functions compute every figure a report shows straight from the raw
rows (``readings``, ``alerts``), independently of the report's own queries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from controlcenter.domain import Batch, SensorKey, SeriesKey
from controlcenter.grades import grade_codes
from controlcenter.store import Catalog, Maintenance, ReadingWriter, read_storage_mode

TZ = "Asia/Seoul"
US = 1_000_000
STEP_S = 300


@dataclass
class Complex:
    site: str
    factories: tuple[str, str]
    series: dict[str, list[int]]  # metric -> series ids


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(TZ)).astimezone(UTC)


async def seed(pool, days: list[date], *, alerts: bool = True) -> Complex:
    site = f"rs{uuid.uuid4().hex[:8]}"
    factories = ("f01", "f02")
    keys: list[SeriesKey] = []
    for f in factories:
        for k in range(2):
            air = SensorKey(site, f, "air", f"aq{k}")
            keys += [SeriesKey(air, "pm10"), SeriesKey(air, "pm25")]
            keys.append(SeriesKey(SensorKey(site, f, "power", f"pm{k}"), "kw"))
        lot = SensorKey(site, f, "parking", "lot")
        keys += [SeriesKey(lot, "occupied"), SeriesKey(lot, "capacity")]
    ids = await Catalog(pool).resolve(keys)
    series: dict[str, list[int]] = {}
    for key, sid in zip(keys, ids, strict=True):
        series.setdefault(key.metric, []).append(sid)
    await pool.execute(
        "UPDATE factories SET contract_kw = CASE code WHEN 'f01' THEN 900 ELSE 700 END "
        "WHERE site_id = (SELECT site_id FROM sites WHERE code = $1)",
        site,
    )
    rng = np.random.default_rng(len(days) * 7 + days[0].toordinal())
    sids, times, values = [], [], []
    for day in days:
        start = int(local_midnight(day).timestamp()) * US
        t = start + np.arange(0, 86_400 * US, STEP_S * US, dtype=np.int64)
        hour = (t - start) / (3600 * US)
        for metric, group in series.items():
            for n, sid in enumerate(group):
                v = _values(metric, n, hour, rng)
                sids.append(np.full(len(t), sid, np.int32))
                times.append(t)
                values.append(v)
    batch = Batch(np.concatenate(sids), np.concatenate(times), np.concatenate(values))
    mode = await read_storage_mode(pool)
    writer = ReadingWriter(
        pool, partitioned=not mode.timescale, partition_width_us=mode.partition_width_us
    )
    await writer.write(batch)
    upkeep = Maintenance(pool, mode, interval_s=1, retention_days=365, startup_lookback_s=0)
    upkeep.touched(batch.time)
    await upkeep.refresh()
    if alerts:
        await _alerts(pool, site, factories, days, rng)
    return Complex(site, factories, series)


def _values(metric: str, n: int, hour: np.ndarray, rng) -> np.ndarray:
    wave = np.sin(hour / 24 * 2 * np.pi - 1.2)
    if metric == "pm10":
        return np.clip(60 + 70 * wave + 25 * n + rng.normal(0, 15, len(hour)), 1, None)
    if metric == "pm25":
        return np.clip(25 + 30 * wave + 12 * n + rng.normal(0, 6, len(hour)), 1, None)
    if metric == "kw":
        return np.clip(300 + 200 * wave + 60 * n + rng.normal(0, 40, len(hour)), 0, None)
    if metric == "capacity":
        return np.full(len(hour), 40.0 + 10 * n)
    busy = np.clip(0.5 + 0.6 * wave, 0, 1)
    return np.clip(np.round(busy * (40 + 10 * n) + rng.normal(0, 2, len(hour))), 0, 40 + 10 * n)


async def _alerts(pool, site, factories, days, rng) -> None:
    rows = []
    for day in days:
        base = local_midnight(day)
        for k in range(12):
            opened = base + timedelta(minutes=int(rng.integers(0, 1440)))
            ack = opened + timedelta(seconds=int(rng.integers(30, 3600))) if k % 4 else None
            res = opened + timedelta(seconds=int(rng.integers(600, 20_000))) if k % 3 else None
            rows.append(
                (
                    ("pm10_high", "pm25_high", "power_over_contract")[k % 3],
                    f"subject-{uuid.uuid4().hex[:8]}",
                    "resolved" if res else ("acknowledged" if ack else "open"),
                    ("info", "warning", "critical")[k % 3 if k % 5 else 1],
                    site,
                    factories[k % 2] if k % 6 else None,
                    opened,
                    ack,
                    res,
                )
            )
    await pool.executemany(
        "INSERT INTO alerts (rule_name, subject, state, severity, site, factory, opened_at, "
        "acknowledged_at, resolved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        rows,
    )


# ---- figures straight from the raw rows --------------------------------------------------


async def raw_air(pool, ids: list[int], metric: str, start, end):
    """Per series: (hours per grade, mean, highest hourly mean, days over the standard)."""
    hourly = await pool.fetch(
        "SELECT series_id, date_bin('1 hour', time, TIMESTAMPTZ '2000-01-01') AS h, "
        "avg(value) AS v FROM readings WHERE series_id = ANY($1) AND time >= $2 AND time < $3 "
        "GROUP BY 1, 2",
        ids,
        start,
        end,
    )
    daily = await pool.fetch(
        "SELECT series_id, (time AT TIME ZONE $4)::date AS d, avg(value) AS v FROM readings "
        "WHERE series_id = ANY($1) AND time >= $2 AND time < $3 GROUP BY 1, 2",
        ids,
        start,
        end,
        TZ,
    )
    means = await pool.fetch(
        "SELECT series_id, avg(value) AS v FROM readings WHERE series_id = ANY($1) "
        "AND time >= $2 AND time < $3 GROUP BY 1",
        ids,
        start,
        end,
    )
    standard = {"pm10": 100.0, "pm25": 35.0}[metric]
    out = {}
    for sid in ids:
        v = np.asarray([r["v"] for r in hourly if r["series_id"] == sid])
        codes = grade_codes(metric, v)
        out[sid] = (
            [int((codes == g).sum()) for g in range(4)],
            next(r["v"] for r in means if r["series_id"] == sid),
            float(v.max()),
            sum(1 for r in daily if r["series_id"] == sid and r["v"] > standard),
        )
    return out


async def raw_energy(pool, ids: list[int], start, end):
    """(kWh, peak 15-minute demand, its start) of these meters together."""
    kwh = await pool.fetchval(
        "SELECT sum(v) FROM (SELECT avg(value) AS v FROM readings WHERE series_id = ANY($1) "
        "AND time >= $2 AND time < $3 "
        "GROUP BY series_id, date_bin('1 hour', time, TIMESTAMPTZ '2000-01-01')) x",
        ids,
        start,
        end,
    )
    peak = await pool.fetchrow(
        "SELECT q, sum(v) AS kw FROM (SELECT date_bin('15 minutes', time, "
        "TIMESTAMPTZ '2000-01-01') AS q, avg(value) AS v FROM readings "
        "WHERE series_id = ANY($1) AND time >= $2 AND time < $3 GROUP BY series_id, 1) x "
        "GROUP BY q ORDER BY kw DESC, q LIMIT 1",
        ids,
        start,
        end,
    )
    return kwh, peak["kw"], peak["q"]


async def raw_parking(pool, occupied: int, capacity: int, start, end):
    """(hours, hours full, mean share, peak share, {local hour: (sum occ, sum cap)})."""
    rows = await pool.fetch(
        "SELECT date_bin('1 hour', time, TIMESTAMPTZ '2000-01-01') AS h, "
        "avg(value) FILTER (WHERE series_id = $1) AS occ, "
        "max(value) FILTER (WHERE series_id = $1) AS occ_max, "
        "max(value) FILTER (WHERE series_id = $2) AS cap "
        "FROM readings WHERE series_id IN ($1, $2) AND time >= $3 AND time < $4 GROUP BY 1",
        occupied,
        capacity,
        start,
        end,
    )
    occ = np.asarray([r["occ"] for r in rows])
    occ_max = np.asarray([r["occ_max"] for r in rows])
    cap = np.asarray([r["cap"] for r in rows])
    by_hour: dict[int, tuple[float, float]] = {}
    for r in rows:
        h = r["h"].astimezone(ZoneInfo(TZ)).hour
        a, b = by_hour.get(h, (0.0, 0.0))
        by_hour[h] = (a + r["occ"], b + r["cap"])
    return (
        len(rows),
        int((occ_max >= cap).sum()),
        occ.sum() / cap.sum(),
        float((occ_max / cap).max()),
        by_hour,
    )


async def raw_alerts(pool, site: str, start, end):
    """Counts by (rule, severity), and per factory key (None: site) the response times."""
    rows = await pool.fetch(
        "SELECT rule_name, severity, coalesce(factory, '') AS factory, "
        "extract(epoch FROM acknowledged_at - opened_at)::float8 AS ack, "
        "extract(epoch FROM resolved_at - opened_at)::float8 AS res "
        "FROM alerts WHERE site = $1 AND opened_at >= $2 AND opened_at < $3",
        site,
        start,
        end,
    )
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[(r["rule_name"], r["severity"])] = counts.get((r["rule_name"], r["severity"]), 0) + 1
    groups: dict[str | None, list] = {None: rows}
    for r in rows:
        groups.setdefault(r["factory"], []).append(r)

    def pct(values, q):
        v = [x for x in values if x is not None]
        return float(np.percentile(v, q)) if v else None

    times = {
        key: (
            len(g),
            pct([r["ack"] for r in g], 50),
            pct([r["ack"] for r in g], 90),
            pct([r["res"] for r in g], 50),
            pct([r["res"] for r in g], 90),
        )
        for key, g in groups.items()
    }
    return counts, times

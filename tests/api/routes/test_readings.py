"""Latest values, downsampled history and CSV export."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from controlcenter.api.auth import Role
from controlcenter.domain import Batch
from controlcenter.store import Maintenance, read_storage_mode
from tests.api._api import Api, batch, unique_site, us

HOUR = 3_600


def iso(t_us: int) -> str:
    return datetime.fromtimestamp(t_us / 1e6, UTC).isoformat()


async def test_latest_comes_from_the_cache_and_falls_back_to_the_database(api: Api):
    site = unique_site()
    pm25 = await api.series(site, "f1", "air", "aq1", ["pm25"])
    pm25 += await api.series(site, "f2", "air", "aq1", ["pm25"])
    never = await api.series(site, "f3", "air", "aq1", ["pm25"])
    now = time.time_ns() // 1000
    await api.write([pm25[0], pm25[0]], [now - 2_000_000, now - 1_000_000], [10.0, 11.0])
    api.state.hub.update(batch([pm25[1]], [now], [42.0]))  # the cache knows this one only

    c = await api.client()
    body = (await c.get("/api/v1/latest", params={"site": site, "metric": "pm25"})).json()
    assert body["count"] == 2
    got = dict(zip(body["series"], body["value"], strict=True))
    assert got == {pm25[0]: 11.0, pm25[1]: 42.0}
    assert body["from_database"] == 1
    assert body["missing"] == never
    assert body["time"][body["series"].index(pm25[1])] == iso(now).replace("+00:00", "Z")

    with_keys = (
        await c.get("/api/v1/latest", params={"site": site, "factory": "f2", "keys": "true"})
    ).json()
    assert with_keys["keys"][0]["factory"] == "f2"


async def test_latest_answers_404_for_an_unknown_sensor_and_400_for_too_many(api: Api):
    c = await api.client()
    r = await c.get("/api/v1/latest", params={"site": unique_site(), "sensor": "nope"})
    assert r.status_code == 404
    assert "no series" in r.json()["detail"]
    r = await c.get("/api/v1/latest", params={"series": [-1]})
    assert r.status_code == 422


async def _seed(api: Api, sid: int, start_us: int, minutes: int) -> None:
    """Raw rows whose 1-minute rollup is, for minute i: min i, max i + 2, sum 3 (i + 1),
    count 3, last i + 1; then the rollups refreshed as the service does. Both storage modes
    go this way (under TimescaleDB the rollups are continuous aggregates, not tables)."""
    i = np.repeat(np.arange(minutes, dtype=np.int64), 3)
    k = np.tile(np.arange(3, dtype=np.int64), minutes)
    times = start_us + i * us(60) + k * us(20)
    values = (i + np.array([0, 2, 1])[k]).astype(np.float64)
    await api.writer.write(Batch(np.full(times.size, sid, np.int32), times, values))
    mode = await read_storage_mode(api.pool)
    upkeep = Maintenance(api.pool, mode, interval_s=1, retention_days=365, startup_lookback_s=0)
    upkeep.touched(times)
    await upkeep.refresh()
    assert upkeep.dirty_ranges == []


async def test_history_picks_raw_rows_or_a_rollup_and_bounds_the_points(api: Api):
    site = unique_site()
    (sid,) = await api.series(site, "f1", "air", "aq1", ["pm10"])
    start = us(time.time() // HOUR * HOUR - 40 * 86_400)  # hour-aligned, 40 days ago
    await _seed(api, sid, start, 30 * 24 * 60)  # 30 days, 3 readings a minute
    c = await api.client()

    async def history(span_s: int, points: int) -> dict:
        r = await c.get(
            "/api/v1/history",
            params={
                "series": sid,
                "start": iso(start),
                "end": iso(start + us(span_s)),
                "max_points": points,
            },
        )
        assert r.status_code == 200, r.text
        return r.json()

    raw = await history(2 * HOUR, 500)  # 14.4 s buckets: below a minute, raw rows
    assert raw["source"] == "readings"
    assert raw["bucket_s"] == 14.4
    (s,) = raw["series"]
    assert 0 < len(s["time"]) <= 500
    assert sum(s["count"]) == 3 * 120

    minute = await history(86_400, 1_000)  # 1 day -> 86.4 s buckets -> 1-minute rollup
    assert minute["source"] == "readings_1m"
    assert minute["bucket_s"] == 120
    (m,) = minute["series"]
    assert len(m["time"]) == 720
    # Combined exactly: 2 one-minute rows of count 3 per bucket, avg = sum / count.
    assert m["count"][0] == 3 * minute["bucket_s"] // 60
    n = int(minute["bucket_s"] // 60)
    assert m["avg"][0] == sum(i + 1 for i in range(n)) / n
    assert m["min"][0] == 0
    assert m["max"][0] == n - 1 + 2
    assert m["last"][0] == n

    five = await history(30 * 86_400, 10_000)  # 30 days -> 259 s buckets -> 5-minute rollup
    assert five["source"] == "readings_5m"
    assert five["bucket_s"] == 300
    (f,) = five["series"]
    assert len(f["time"]) == 30 * 24 * 12
    assert sum(f["count"]) == 3 * 30 * 24 * 60
    assert (f["min"][1], f["max"][1], f["last"][1]) == (5, 11, 10)  # minutes 5..9
    assert f["avg"][1] == sum(i + 1 for i in range(5, 10)) / 5

    hour = await history(30 * 86_400, 100)  # 30 days in 100 points -> 1-hour rollup
    assert hour["source"] == "readings_1h"
    assert len(hour["series"][0]["time"]) <= 100
    assert sum(hour["series"][0]["count"]) == 3 * 30 * 24 * 60


async def test_history_rejects_inverted_ranges_and_too_many_points(api: Api):
    site = unique_site()
    (sid,) = await api.series(site, "f1", "air", "aq1", ["pm10"])
    c = await api.client()
    now = datetime.now(UTC)
    inverted = await c.get(
        "/api/v1/history",
        params={"series": sid, "start": now.isoformat(), "end": (now - timedelta(1)).isoformat()},
    )
    assert inverted.status_code == 400
    assert "before" in inverted.json()["detail"]
    too_many = await c.get("/api/v1/history", params={"series": sid, "max_points": 10**7})
    assert too_many.status_code == 422
    for malformed in (
        "2026-01-01T00:00:00",
        "0.5",
        "1767225600",
        "2026-01-01",
        "2026-01-01 00:00Z",
    ):
        r = await c.get("/api/v1/history", params={"series": sid, "start": malformed})
        assert r.status_code == 422, malformed
    unknown = await c.get("/api/v1/history", params={"series": 2**31 - 1})
    assert unknown.status_code == 404


async def test_history_and_export_take_any_well_formed_time_even_the_extremes(api: Api):
    """Times at the ends of the calendar answered 500 (OverflowError converting to UTC)."""
    site = unique_site()
    (sid,) = await api.series(site, "f1", "air", "aq1", ["pm10"])
    now = time.time_ns() // 1000
    await api.write([sid], [now], [7.0])
    viewer, operator = await api.client(), await api.client(Role.OPERATOR)
    first, last = "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:58-14:00"
    whole = {"series": sid, "start": first, "end": last}
    r = await viewer.get("/api/v1/history", params=whole)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["start"] == "0001-01-01T00:00:00Z"  # clamped to what the server represents
    assert body["end"] == "9999-12-31T23:59:59.999999Z"
    assert body["source"] == "readings_1h"
    assert [s["series_id"] for s in body["series"]] == [sid]
    csv = await operator.get("/api/v1/export.csv", params=whole)
    assert csv.status_code == 200, csv.text
    assert csv.text.count("\n") == 2  # the header and the one reading
    # The default start (end - 1 day) is clamped too: an empty range is a 400, never a 500.
    for end, status in ((first, 400), ("0001-01-01T12:00:00.5z", 200), (last, 200)):
        r = await viewer.get("/api/v1/history", params={"series": sid, "end": end})
        assert r.status_code == status, (end, r.text)
    leap = await viewer.get("/api/v1/history", params={**whole, "end": "2016-12-31T23:59:60Z"})
    assert leap.status_code == 200, leap.text
    for start in (first, last):
        r = await operator.get("/api/v1/dead-letters", params={"since": start})
        assert r.status_code == 200, r.text


async def test_csv_export_streams_raw_rows_and_rollups(api: Api):
    site = unique_site()
    (sid,) = await api.series(site, "f1", "power", "m1", ["kw"])
    start = us(time.time() // HOUR * HOUR - 3 * 86_400)
    n = 12_000  # more than one cursor chunk
    await api.write(
        [sid] * n, [start + i * 250_000 for i in range(n)], [float(i) for i in range(n)]
    )
    c = await api.client(Role.OPERATOR)
    params = {"site": site, "start": iso(start), "end": iso(start + us(HOUR))}
    r = await c.get("/api/v1/export.csv", params=params)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["time", "series_id", "site", "factory", "kind", "sensor", "metric", "value"]
    assert len(rows) == n + 1
    assert rows[1][2:] == [site, "f1", "power", "m1", "kw", "0.0"]

    viewer = await api.client(Role.VIEWER)
    assert (await viewer.get("/api/v1/export.csv", params=params)).status_code == 403
    rollup = await c.get("/api/v1/export.csv", params={**params, "resolution": "1h"})
    assert rollup.status_code == 200
    assert rollup.text.splitlines()[0].endswith("avg,min,max,last,count")

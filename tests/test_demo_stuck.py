"""The demo's simulated complex, scored as the service scores it, raises no false stuck.

``controlcenter demo`` runs ``controlcenter-sim run --factories 5 --rate 200``: the rate
rescales every sampling interval (a weather station's 60 s become about 0.2 s), so slow,
rounded readings repeat many times in a row. The sensor-stuck rule raises on the engine's
``stuck`` events; here the readings of the demo's scenario (without injected anomalies,
so every stuck event would be false) go through :class:`~controlcenter.scoring.Scoring`
with the packaged kinds registry, and no stuck event may come out. Positive control: a
sensor that really freezes still raises one, once its run has lasted the registry's
``stuck_min_s``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
from simulators.cli import _with_rate  # the demo's --rate rescaling, exactly
from simulators.engine import Simulation
from simulators.kinds import SAFETY_METRICS
from simulators.scenario import load_scenario

from controlcenter.anomaly import Detector
from controlcenter.domain import Batch, SensorKey, SeriesKey
from controlcenter.kinds import packaged
from controlcenter.scoring import Scoring
from controlcenter.store import Catalog

MS = 1000
#: What the demo asks the simulator for (controlcenter/demo.py, cli.py defaults).
DEMO_FACTORIES, DEMO_RATE = 5, 200.0


def _simulation(rate: float | None) -> Simulation:
    scenario = load_scenario().with_overrides(factories=DEMO_FACTORIES, anomaly_scale=0.0)
    if rate is not None:
        scenario = _with_rate(scenario, (0, 1), rate, 1.0)
    return Simulation(scenario, start_ms=scenario.start_ms)


def _readings(sim: Simulation, seconds: float) -> Iterator[tuple[str, int, float]]:
    """``(site/factory/kind/sensor/metric, time ms, value)`` of every kind for ``seconds``."""
    end = sim.start_ms + int(seconds * 1000)
    for kind in sim.kinds:
        while True:
            f = sim.next_frame(kind)
            for i, sensor in enumerate(f.sensors.tolist()):
                path = sim.layout.sensor_path(kind, sensor)
                for j, metric in enumerate(f.metrics):
                    ok = f.present[i] & (f.time_ms[i] < end)
                    for t, v in zip(
                        f.time_ms[i][ok].tolist(), f.values[i, ok, j].tolist(), strict=True
                    ):
                        yield f"{path}/{metric}", t, v
            if f.time_ms.min(initial=end) >= end or not f.time_ms.size:
                break
    feed = sim.safety
    assert feed is not None, "the default scenario has safety sensors"
    for kind in feed.kinds:
        steps = int(seconds * 1000 // feed.intervals[kind])
        for _, path, times, _, values in feed.readings(kind, 0, steps):
            for t, row in zip(times.tolist(), values, strict=True):
                for metric in SAFETY_METRICS[kind]:
                    yield f"{path}/{metric}", t, row[metric]


async def _score(make_settings, database_url, pool, rows, batch_s: float = 10.0):
    """Score ``rows`` in time order, ``batch_s`` of reading time per batch, as the service
    scores committed batches; the stuck events and the series key of each id."""
    run = uuid.uuid4().hex[:8]  # sites of their own in the shared database
    names = sorted({k for k, _, _ in rows})
    keys = []
    for name in names:
        site, factory, kind, sensor, metric = name.split("/")
        keys.append(SeriesKey(SensorKey(f"{run}-{site}", factory, kind, sensor), metric))
    catalog = Catalog(pool)
    ids = dict(zip(names, await catalog.resolve(keys), strict=True))
    series = np.array([ids[k] for k, _, _ in rows], dtype=np.int32)
    time_us = np.array([t for _, t, _ in rows], dtype=np.int64) * MS
    value = np.array([v for _, _, v in rows], dtype=np.float64)
    order = np.argsort(time_us, kind="stable")
    series, time_us, value = series[order], time_us[order], value[order]
    scoring = Scoring(make_settings(database_url), pool, catalog)
    stuck: list[tuple[str, int]] = []
    by_id = {v: k for k, v in ids.items()}
    bounds = np.searchsorted(time_us, np.arange(time_us[0], time_us[-1] + 1, int(batch_s * 1e6)))
    for lo, hi in zip(bounds, [*bounds[1:].tolist(), len(time_us)], strict=True):
        if hi <= lo:
            continue
        batch = Batch.from_lists(series[lo:hi], time_us[lo:hi], value[lo:hi])
        _, events = await scoring.score(batch)
        hit = events.detector == int(Detector.STUCK)
        stuck += [
            (by_id[int(s)], int(t))
            for s, t in zip(events.series[hit], events.time[hit], strict=True)
        ]
    return stuck


async def test_the_demo_complex_at_the_demo_rate_raises_no_stuck(make_settings, database_url, pool):
    sim = _simulation(DEMO_RATE)
    # The weather stations of the demo report every fraction of a second (the defect).
    assert sim.safety is not None
    assert sim.safety.intervals["weather"] < 1000
    rows = list(_readings(sim, 10 * 60))
    kinds = {k.split("/")[2] for k, _, _ in rows}
    assert {"weather", "water", "fire", "air", "power"} <= kinds, kinds
    stuck = await _score(make_settings, database_url, pool, rows)
    assert stuck == [], sorted({k for k, _ in stuck})


async def test_a_frozen_sensor_still_raises_stuck_at_its_own_cadence(
    make_settings, database_url, pool
):
    """Three simulated hours at the sensors' own intervals: nothing is stuck but the two
    sensors frozen from the 30th minute, and each only once its run lasted stuck_min_s."""
    sim = _simulation(None)
    freeze = sim.start_ms + 30 * 60 * 1000
    assert sim.safety is not None
    rows = list(_readings(sim, 3 * 3600))
    weather = next(k for k, _, _ in rows if "/weather/" in k and k.endswith("/temp"))
    water = next(k for k, _, _ in rows if "/water/" in k and k.endswith("/ph"))
    # Frozen just off the first frozen reading (never equal to the reading before it, so
    # the run of equal values starts exactly there): 0.05 C, 0.005 pH.
    offsets = {weather: 0.05, water: 0.005}
    frozen: dict[str, float] = {}
    out = []
    for k, t, v in rows:
        if k in offsets and t >= freeze:
            v = frozen.setdefault(k, v + offsets[k])
        out.append((k, t, v))
    stuck = await _score(make_settings, database_url, pool, out, batch_s=300.0)
    assert {k for k, _ in stuck} == {weather, water}, sorted({k for k, _ in stuck})
    spec = packaged()
    for key in (weather, water):
        kind, metric = key.split("/")[2], key.split("/")[4]
        engine = spec.kind(kind).metrics[metric].engine
        interval_ms = sim.safety.intervals[kind]
        # Both: stuck_k equal readings, and stuck_min_s from the first of them.
        due = max(engine["stuck_min_s"] * 1000, (engine["stuck_k"] - 1) * interval_ms)
        first_frozen = min(t for k, t, _ in out if k == key and t >= freeze)
        first_stuck = min(t for k, t in stuck if k == key) // MS
        assert due <= first_stuck - first_frozen < due + interval_ms, key

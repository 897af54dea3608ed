"""False engine events on the live run's safety sensors, and how fast the feed generates them.

Generates the default scenario's safety sensors (gas, fire, odour, effluent, weather) as the
live run does (``SafetyFeed.readings`` in groups of ``--batch`` steps per kind, in the
order their groups fall due) for ``--hours`` simulated hours, without incidents or
showcase episodes (``anomaly_scale`` 0), so every event the anomaly engine raises on them is
false. The engine is built as the service's scoring builds it (the packaged registry's
profiles, the default engine settings) and fed in batches of 10 simulated seconds with a
silence sweep after each, as ``controlcenter evaluate`` does.

Prints one JSON line: events (all, and those within two sampling steps after a simulated
hour boundary), per detector, the generation's wall time, the first hour's wall time and
readings/s of generation alone.

    .venv/bin/python bench/safety_live.py --factories 5 --hours 30
    .venv/bin/python bench/safety_live.py --factories 5 --hours 2 --rate 200   # the demo's
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

import numpy as np
from simulators.cli import _with_rate
from simulators.kinds import SAFETY_METRICS
from simulators.layout import build_layout
from simulators.safety_live import SafetyFeed
from simulators.scenario import load_scenario

from controlcenter.anomaly import DETECTOR_NAMES, Engine, EngineConfig
from controlcenter.anomaly_eval import Dataset, run_engine
from controlcenter.config import EngineSettings
from controlcenter.domain import Batch
from controlcenter.kinds import packaged
from controlcenter.scoring import _FALLBACKS, _profiles

HOUR_MS = 3_600_000


def _feed(factories: int, rate: float | None) -> SafetyFeed:
    scenario = load_scenario().with_overrides(factories=factories, anomaly_scale=0.0)
    if rate:
        scenario = _with_rate(scenario, (0, 1), rate, 1.0)
    layout = build_layout(scenario)
    return SafetyFeed(layout, scenario.start_ms, np.ones(layout.n_factories, dtype=np.bool_))


def _generate(feed: SafetyFeed, hours: float, batch: int) -> tuple[list, float, float, int]:
    """Readings as the live cursors take them: ``(rows, wall s, first hour wall s, readings)``."""
    end = feed.start_ms + int(hours * HOUR_MS)
    pos = dict.fromkeys(feed.kinds, 0)
    rows: list[tuple[str, int, float]] = []
    readings, first_hour = 0, 0.0
    t0 = time.perf_counter()
    while pos:
        kind = min(pos, key=lambda k: (pos[k] + batch) * feed.intervals[k])
        k0 = pos[kind]
        due = feed.start_ms + (k0 + batch) * feed.intervals[kind]
        if not first_hour and due > feed.start_ms + HOUR_MS:
            first_hour = time.perf_counter() - t0
        for _, path, times, _, values in feed.readings(kind, k0, k0 + batch):
            readings += int((times < end).sum())
            for t, row in zip(times.tolist(), values, strict=True):
                if t < end:  # every kind ends together (no silence at the end)
                    rows += [(f"{path}/{m}", t, row[m]) for m in SAFETY_METRICS[kind]]
        pos[kind] = k0 + batch
        if due >= end:
            del pos[kind]
    return rows, time.perf_counter() - t0, first_hour, readings


def _engine(capacity: int, utc_offset_s: int) -> Engine:
    es = EngineSettings()
    config = EngineConfig(
        capacity=capacity,
        window=es.window,
        refresh=es.refresh,
        min_history=es.min_history,
        daily_slots=es.daily_slots,
        day_offset_s=utc_offset_s,
    )
    return Engine(config, profiles={**_FALLBACKS, **_profiles(packaged())})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--factories", type=int, default=5)
    ap.add_argument("--hours", type=float, default=30.0)
    ap.add_argument("--rate", type=float, help="rescale intervals as run --rate does")
    ap.add_argument("--batch", type=int, default=50, help="steps per live group")
    args = ap.parse_args()
    feed = _feed(args.factories, args.rate)
    rows, wall, first_hour, readings = _generate(feed, args.hours, args.batch)
    keys = sorted({k for k, _, _ in rows})
    ids = {k: i for i, k in enumerate(keys)}
    t = np.array([r[1] for r in rows], dtype=np.int64)
    order = np.argsort(t, kind="stable")
    batch = Batch.from_lists(
        np.array([ids[r[0]] for r in rows], dtype=np.int64)[order],
        t[order] * 1000,
        np.array([r[2] for r in rows], dtype=np.float64)[order],
    )
    profiles = [f"{k.split('/')[2]}.{k.split('/')[4]}" for k in keys]
    ds = Dataset(keys, profiles, np.full(len(keys), np.inf), batch, [], 9 * 3600)
    _, events = run_engine(ds, _engine(len(keys), 9 * 3600))
    since = (events.time // 1000 - feed.start_ms) % HOUR_MS
    step = np.array([feed.intervals[keys[int(s)].split("/")[2]] for s in events.series])
    near = since < 2 * step + 1
    detectors = Counter(DETECTOR_NAMES[int(d)] for d in events.detector)
    out = {
        "factories": args.factories,
        "hours": args.hours,
        "rate": args.rate,
        "series": len(keys),
        "readings": readings,
        "events": len(events),
        "events_after_hour_boundary": int(near.sum()),
        "series_with_events": len(set(events.series.tolist())),
        "detectors": dict(sorted(detectors.items())),
        "generate_s": round(wall, 3),
        "first_hour_s": round(first_hour, 3),
        "readings_per_s": round(readings / wall, 1) if wall else None,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

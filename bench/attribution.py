"""Benchmark of source attribution: top-1 and top-3 accuracy on simulated leaks and odours.

Each trial draws a site (24 factories about 300 m apart, gas detectors at two in three,
odour monitors at one in two, two weather stations), a time of day (the air's stability
class, so the plume's width, follows the wind speed and the sun), a wind (1-7 m/s from any
direction, meandering), a source factory and a gas leak or an odour episode there
(``simulators.incident``), and simulates two hours of readings. The service's view is then
rebuilt from the readings only: each sensor's onset is its first reading at or above the
kind's first alarm level (the registry's default rule), its peak the largest reading, and
the wind the vector mean of the weather stations over the 10 minutes before the first onset
(and, per sensor, over the 5 minutes before its own onset, as the service reads it), and
whether the sun was up at the first onset (07-19 h Korean time, as the service reads it in
its time zone). ``controlcenter.attribution.attribute`` ranks the 24 factories; the
baseline ranks them by distance to the first sensor that alarmed. Trials where no sensor
alarmed are counted but not scored (the service would see no episode). The last table is
the calibration of the reported confidence: per band, how often the first candidate was
the source.

    .venv/bin/python bench/attribution.py                  # 200 trials, seeds 0..199
    .venv/bin/python bench/attribution.py --trials 500 --first-seed 1000
    .venv/bin/python bench/attribution.py --trials 600 --first-seed 50000   # unseen seeds
    .venv/bin/python bench/attribution.py --trials 600 --first-seed 50000 --no-drift
    .venv/bin/python bench/attribution.py --trials 600 --first-seed 10000 --neutral
    .venv/bin/python bench/attribution.py --trials 600 --first-seed 50000 --no-daytime
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

import numpy as np
from simulators.incident import draw_incident, simulate
from simulators.kinds import SAFETY_METRICS
from simulators.safety import build_plan

from controlcenter import attribution
from controlcenter.attribution import Observations, Wind, attribute, nearest_first
from controlcenter.dispersion import daytime
from controlcenter.kinds import packaged

START_MS = 1_790_000_000_000
#: ``--neutral``: the air always neutral (class D) and every trial at 23:13 KST, as the
#: benchmark was before the stability classes.
NEUTRAL = False
#: ``--no-daytime``: the model is not told whether the sun was up (both classes averaged).
DAYTIME = True


def _alarm(kind: str, metric: str) -> float:
    """The first alarm level of ``kind.metric`` in the registry's default rules."""
    spec = packaged().kind(kind)
    assert spec is not None
    return float(spec.set_points()[metric][0][1][0])


def _observed_wind(run: object, before_ms: int, window_ms: int = 600_000) -> Wind:
    """Vector mean of the stations' wind over ``window_ms`` (10 min) before ``before_ms``."""
    t = run.times["weather"]  # type: ignore[attr-defined]
    v = run.values["weather"]  # type: ignore[attr-defined]
    sel = (t <= before_ms) & (t >= before_ms - window_ms)
    if not sel.any():
        sel = t <= t[0]
    speed, direction = v[:, sel, 0], np.deg2rad(v[:, sel, 1])
    east, north = (speed * np.sin(direction)).mean(), (speed * np.cos(direction)).mean()
    return Wind(float(np.mean(speed)), float(np.rad2deg(np.arctan2(east, north)) % 360.0))


def trial(seed: int, type_: str) -> tuple[str, list[str], list[str], int, float] | None:
    """``(true source, ranked ids, baseline ids, sensors alarmed, confidence)``, None when
    no sensor alarmed."""
    rng = np.random.default_rng([seed, 0xBE7C])
    plan = build_plan(seed, 24)
    # Any time of day (the air's stability follows the sun), on a 10 s grid.
    start_ms = START_MS + int(np.random.default_rng([seed, 0x7D]).integers(8640)) * 10_000
    if NEUTRAL:
        start_ms = START_MS
    inc = draw_incident(plan, rng, type_, start_ms + 600_000)
    run = simulate(
        plan,
        start_ms,
        7200,
        [inc],
        seed,
        wind_speed=float(rng.uniform(1.0, 7.0)),
        wind_dir=float(rng.uniform(0.0, 360.0)),
        stability=3.0 if NEUTRAL else None,
    )
    kind = "gas" if type_ == "gas_leak" else "odor"
    j = SAFETY_METRICS[kind].index(inc.metric)
    values, t = run.values[kind][:, :, j], run.times[kind]
    level = _alarm(kind, inc.metric)
    over = values >= level
    onset = np.where(over.any(axis=1), t[np.argmax(over, axis=1)] / 1000.0, np.nan)
    peak = np.where(over.any(axis=1), values.max(axis=1), np.nan)
    if not np.isfinite(onset).any():
        return None
    wind = _observed_wind(run, int(np.nanmin(onset) * 1000))
    if DAYTIME:  # the simulator's clock is Korean time, as the service's default zone
        first = datetime.fromtimestamp(float(np.nanmin(onset)), UTC)
        wind = Wind(wind.speed_ms, wind.direction_deg, daytime(first, "Asia/Seoul"))
    # The wind at each sensor's onset (the 5 minutes before it), where it alarmed.
    turns = np.array(
        [
            _observed_wind(run, int(o * 1000), 300_000).direction_deg if np.isfinite(o) else np.nan
            for o in onset
        ]
    )
    obs = Observations(plan.sensor_xy[kind], onset - start_ms / 1000.0, peak,
                       np.full(len(onset), level), turns)  # fmt: skip
    result = attribute(plan.factory_xy, obs, wind, plan.factories)
    ranked = [c.factory for c in result.ranked]
    base = nearest_first(plan.factory_xy, obs, plan.factories)
    alarmed = int(np.isfinite(onset).sum())
    return plan.factories[inc.factory], ranked, base, alarmed, result.confidence


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=200, help="episodes (half leaks, half odours)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument(
        "--no-drift",
        action="store_true",
        help="score every sensor in the wind of the episode's onset (no per-sensor wind)",
    )
    p.add_argument(
        "--neutral",
        action="store_true",
        help="the benchmark before stability classes: neutral air (D), every trial at night",
    )
    p.add_argument(
        "--no-daytime",
        action="store_true",
        help="do not tell the model the time of day (the day's and night's classes averaged)",
    )
    args = p.parse_args()
    global NEUTRAL, DAYTIME
    NEUTRAL = args.neutral
    DAYTIME = not args.no_daytime
    attribution._DRIFT = not args.no_drift

    rows: dict[str, list[tuple[bool, bool, bool, bool, int]]] = {"gas_leak": [], "odor_episode": []}
    confidence: list[tuple[float, bool]] = []
    missed = dict.fromkeys(rows, 0)
    t0 = time.perf_counter()
    for i in range(args.trials):
        type_ = ("gas_leak", "odor_episode")[i % 2]
        out = trial(args.first_seed + i, type_)
        if out is None:
            missed[type_] += 1
            continue
        truth, ranked, base, n, conf = out
        confidence.append((conf, ranked[:1] == [truth]))
        rows[type_].append(
            (ranked[:1] == [truth], truth in ranked[:3], base[:1] == [truth], truth in base[:3], n)
        )
    took = time.perf_counter() - t0
    cmd = f".venv/bin/python bench/attribution.py --trials {args.trials}"
    cmd += f" --first-seed {args.first_seed}"
    cmd += " --no-drift" * args.no_drift + " --neutral" * args.neutral
    cmd += " --no-daytime" * args.no_daytime
    print(f"# source attribution, {args.trials} trials ({took:.0f} s): {cmd}")
    print("| episodes | scored | not detected | top-1 | top-3 | baseline top-1 | baseline top-3 |")
    print("|---|---|---|---|---|---|---|")
    everything = rows["gas_leak"] + rows["odor_episode"]
    groups = [
        *rows.items(),
        ("all", everything),
        ("all, 2+ sensors", [r for r in everything if r[4] >= 2]),
    ]
    for name, r in groups:
        a = np.array([x[:4] for x in r], dtype=np.float64).reshape(-1, 4)
        miss = missed.get(name, sum(missed.values()) if name == "all" else 0)
        means = a.mean(axis=0) if len(a) else np.full(4, np.nan)
        print(f"| {name} | {len(a)} | {miss} | " + " | ".join(f"{m:.2f}" for m in means) + " |")
    print("\n| confidence | episodes | mean confidence | top-1 right |\n|---|---|---|---|")
    c = np.array(confidence, dtype=np.float64).reshape(-1, 2)
    for lo, hi in ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.01)):
        sel = (c[:, 0] >= lo) & (c[:, 0] < hi)
        mean = f"{c[sel, 0].mean():.2f}" if sel.any() else "-"
        top1 = f"{c[sel, 1].mean():.2f}" if sel.any() else "-"
        print(f"| {lo:.1f}-{min(hi, 1.0):.1f} | {int(sel.sum())} | {mean} | {top1} |")
    if len(c):
        gap = np.abs(c[:, 0] - c[:, 1]).mean()
        print(
            f"\nmean confidence {c[:, 0].mean():.2f}, top-1 right {c[:, 1].mean():.2f}, "
            f"Brier score {((c[:, 0] - c[:, 1]) ** 2).mean():.3f} (mean |c - right| {gap:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Probe of the engine on generic univariate streams: which shapes it misreads.

Not a benchmark of speed: twenty synthetic streams of 4,032 readings at 5 minutes (two weeks),
each with a known anomaly or two, scored as ``controlcenter score-csv`` scores a
``timestamp,value`` file (``scorecsv.score_rows``, default settings unless overridden).
For each, printed: whether an alarm (score >= 0.5) fell within 40 readings of each
anomaly (or during it, for one that lasts), and the alarms elsewhere after the first 15%
(NAB's probation); then the NAB score of all streams together (``nab.py``: a tenth of each
stream as windows centred on its anomalies), at 0.5 and at the best threshold. The shapes are
what real operational streams show and our simulator does not: heavy-tailed noise, rare
bursts, sparse counts, a slow drift over days, a machine that switches on and off every
day, missing readings. Fixed seed: the same streams every run.

``--step S`` samples the same shapes every S seconds instead of 300 (a day is then
86,400 / S readings; the stream is still 4,032 readings, so at 3,600 s it spans 168 days):
whether what the engine finds at 5 minutes holds at a minute, half an hour or an hour.

    .venv/bin/python bench/stream_probe.py                  # default EngineConfig
    .venv/bin/python bench/stream_probe.py cal_warmup=2     # EngineConfig overrides
    .venv/bin/python bench/stream_probe.py --step 1800      # half-hourly readings
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import numpy.typing as npt

from controlcenter import nab, scorecsv
from controlcenter.anomaly import EngineConfig

F64 = npt.NDArray[np.float64]
Gaps = npt.NDArray[np.intp] | None
Stream = tuple[str, F64, list[int], Gaps, int]
T0 = 1_400_457_600 * 10**6  # a Monday, 00:00 UTC: the weekly stream's weekend is one
N = 4032
STEP_S = 300  # seconds between readings (``--step``)
DAY = 86_400 // STEP_S  # readings per day
NEAR = 40  # readings either side of an anomaly where an alarm counts as finding it


def probe(
    name: str,
    v: F64,
    anomalies: list[int],
    gaps: Gaps,
    lasts: int,
    config: EngineConfig,
    step_s: int = STEP_S,
) -> nab.FileRows:
    """Score one stream (``gaps``: readings left out; ``lasts``: readings each anomaly
    lasts after its first, where an alarm also finds it), print what was found, and return
    its rows for the NAB score (NAB's windows: a tenth of the stream shared by its
    anomalies, each centred on its anomaly's first reading)."""
    keep = np.ones(v.size, dtype=np.bool_)
    if gaps is not None:
        keep[gaps] = False
    idx = np.flatnonzero(keep)
    t = T0 + idx.astype(np.int64) * step_s * 10**6
    scores = scorecsv.score_rows(t, v[keep], config)
    alarms = idx[scores >= 0.5]
    alarms = alarms[alarms >= int(0.15 * v.size)]
    near = [(a - NEAR, a + lasts + NEAR) for a in anomalies]
    found = [bool(((alarms >= lo) & (alarms <= hi)).any()) for lo, hi in near]
    false = [int(a) for a in alarms if not any(lo <= a <= hi for lo, hi in near)]
    print(f"| {name} | {found} | {len(false)} | {false[:10]} |")
    half = int(0.1 * idx.size / len(anomalies)) // 2
    rows = np.searchsorted(idx, anomalies)
    return nab.score_file(scores, [(int(r) - half, int(r) + half) for r in rows])


def streams(rng: np.random.Generator, day: int = DAY) -> list[Stream]:
    """The streams, drawn in a fixed order from ``rng``; ``day``: readings per day (times
    of day below are in 5-minute readings, scaled to it)."""
    DAY = day  # noqa: N806 (the module's constant, for another sampling interval)
    i = np.arange(N)
    out: list[Stream] = []

    def add(name: str, v: F64, anomalies: list[int], gaps: Gaps = None, lasts: int = 0) -> None:
        out.append((name, v, anomalies, gaps, lasts))

    v = (50 + 20 * np.sin(2 * np.pi * i / DAY)) * np.where((i // DAY) % 7 >= 5, 0.5, 1.0)
    v = v + rng.normal(0, 2, N)
    v[3000] += 30
    v[3500:3600] += 15
    add("daily + weekly pattern", v, [3000, 3500])
    v = np.round(0.1 + rng.normal(0, 0.01, N), 2)
    v[2500] = 0.5
    v[3300:] += 0.05
    add("small quantised", v, [2500, 3300])
    v = 5e7 + rng.normal(0, 1e5, N).cumsum() * 0.1
    v[2800] += 3e6
    add("large random walk", v, [2800])
    v = np.abs(rng.normal(0, 1, N)) ** 3 * 10
    v[3100:3150] += 60
    add("heavy-tailed noise", v, [3100])
    v = rng.poisson(0.3, N).astype(np.float64)
    v[2900:2920] += 6
    add("sparse counts", v, [2900])
    v = 40 + rng.normal(0, 1, N)
    v[3000:] += np.arange(N - 3000) * 0.02
    add("slow drift (20 sigma in 3.5 days)", v, [3000])
    v = 50 + 20 * np.sin(2 * np.pi * i / DAY) + rng.normal(0, 2, N)
    v[2000] += 25
    gaps = np.setdiff1d(rng.choice(np.arange(700, N), 400, replace=False), [2000])
    add("daily pattern, 10% missing", v, [2000], gaps)
    v = np.where((i % DAY) > DAY * 100 // 288, 80.0, 5.0) + rng.normal(0, 1, N)
    v[3600:3700] = 5 + rng.normal(0, 1, 100)
    add("machine on/off daily, one day it stays off", v, [3600])
    bursts = np.where(rng.random(N) < 0.01, rng.exponential(30, N), 0.0)
    v = 30 + rng.normal(0, 3, N) + bursts
    v[3200] += 150
    add("noise with 1% bursts", v, [3200])
    # Appended last: the streams above keep their draws (and the figures quoted for them).
    for k in range(4):
        v = 0.1 + rng.normal(0.0, 0.01, N)
        v[3300:] += 0.05
        add(f"level shift of 5 noise sigmas ({k + 1})", v, [3300])
    # Appended later still: shapes of other real streams.
    v = 50 + 10 * np.sin(2 * np.pi * i / 12) + rng.normal(0, 1, N)  # an hourly machine cycle
    v[3400:3460] = 50 + 25 * np.sin(2 * np.pi * i[3400:3460] / 12) + rng.normal(0, 1, 60)
    add("hourly cycle, amplitude 2.5x for 5 hours", v, [3400])
    regime = np.cumsum(rng.random(N) < 1 / 150) % 2  # a server between two loads, hours each
    v = np.where(regime == 1, 60.0, 20.0) + rng.normal(0, 2, N)
    v[3300:3330] = 95 + rng.normal(0, 2, 30)
    add("two regimes switching every ~12 h", v, [3300])
    v = 10 + rng.normal(0, 1, N)
    v[2800:] += np.where(rng.random(N - 2800) < np.linspace(0, 0.2, N - 2800), 8.0, 0.0)
    add("spikes becoming frequent from 2800", v, [2800])
    # And days unlike the days before.
    v = 50 + 20 * np.sin(2 * np.pi * i / DAY) + rng.normal(0, 2, N)
    odd = slice(2900, min(N, 2900 + DAY))  # to the end, at 1-minute readings
    span = odd.stop - odd.start
    v[odd] = 50 + 5 * np.sin(2 * np.pi * i[odd] / DAY) + rng.normal(0, 2, span)
    add("daily curve, one day at a quarter of its amplitude", v, [2900], lasts=span)
    v = 50 + 20 * np.sin(2 * np.pi * i / DAY) + rng.normal(0, 2, N)
    v[odd] = v[2899]
    add("daily curve, one day flat (a stuck sensor)", v, [2900], lasts=span)
    hour = (i % DAY) * 24 / DAY
    v = rng.poisson(np.where((hour > 8) & (hour < 18), 3.0, 0.02)).astype(np.float64)
    v[3000:3012] += 15
    add("counts by day, hardly any at night; a burst", v, [3000])
    on = ((i % DAY) > DAY * 101 // 288) & ((i % DAY) < DAY * 250 // 288)
    v = np.where(on, 80.0 + rng.normal(0, 1, N), 0.0)
    v[3556:3600] = 0.0  # a working day it does not start
    add("machine on by day, exactly 0 at night; one day it stays off", v, [3556])
    return out


def start(script: str, argv: list[str], options: list[str] | None = None) -> EngineConfig:
    """Print the command that reproduces the run (``argv``, then ``options``) and the
    table's header; return the ``EngineConfig`` with the ``name=value`` overrides of
    ``argv``."""
    overrides: dict[str, Any] = {a.split("=")[0]: float(a.split("=")[1]) for a in argv}
    shown = " ".join(argv + (options or []))
    print(f"# reproduce: .venv/bin/python bench/{script} {shown}".rstrip())
    print("| stream | anomalies found | false alarms | first ones (reading) |")
    print("|---|---|---|---|")
    return EngineConfig(**overrides)


def print_nab(files: list[nab.FileRows]) -> None:
    """The NAB score of all streams together, at 0.5 and at the best threshold."""
    at = nab.normalised(files, 0.5)
    best = nab.optimise(files)
    print("\nNAB over the streams (standard / low FP / low FN):")
    print("- at 0.5: " + " / ".join(f"{at[k]:.1f}" for k in nab.PROFILES))
    print("- at the best threshold: " + " / ".join(f"{best[k][0]:.1f}" for k in nab.PROFILES))


def main(argv: list[str]) -> None:
    step_s, options = STEP_S, []
    if "--step" in argv:
        at = argv.index("--step")
        step_s = int(argv[at + 1])
        argv, options = argv[:at] + argv[at + 2 :], ["--step", str(step_s)]
    config = start("stream_probe.py", argv, options)
    files = [
        probe(name, v, anomalies, gaps, lasts, config, step_s)
        for name, v, anomalies, gaps, lasts in streams(np.random.default_rng(5), 86_400 // step_s)
    ]
    print_nab(files)


if __name__ == "__main__":
    main(sys.argv[1:])

"""What the daily baseline costs: the same batches through the engine with and without it.

Two engines in one process, primed alike (``bench/engine.py``'s source: 10 kinds of series,
of which kW and current keep a daily baseline), score the same batches of 10,000 readings
in turns; the figures are medians of CPU time over the rounds.

    .venv/bin/python bench/engine_daily.py [--series 10000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from controlcenter.anomaly import Engine, EngineConfig
from engine import Source  # the sibling benchmark's readings


def primed(n_series: int, slots: int) -> tuple[Engine, Source]:
    src = Source(n_series, seed=1)
    eng = Engine(EngineConfig(capacity=n_series, daily_slots=slots))
    eng.add_series(np.arange(n_series), src.profiles)
    for b in src.history(256):
        eng.update(b)
    return eng, src


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    (off, src), (on, _) = primed(args.series, 0), primed(args.series, 48)
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        batches = [src.batch(10_000) for _ in range(10)]
        for name, eng in (("off", off), ("on", on)):
            t = time.process_time()
            for b in batches:
                eng.ingest(b)
            rates[name].append(10 * 10_000 / (time.process_time() - t))
    r_off, r_on = float(np.median(rates["off"])), float(np.median(rates["on"]))
    print(
        f"S={args.series:,}: without daily baseline {r_off:,.0f} readings/s, with it "
        f"{r_on:,.0f} readings/s ({r_on / r_off:.2f}x); "
        f"{on.memory()['daily_series']:,} series with one, "
        f"{on.memory()['bytes_per_daily_series']:,} bytes each"
    )
    print(f"reproduce: .venv/bin/python bench/engine_daily.py --series {args.series}")


if __name__ == "__main__":
    main()

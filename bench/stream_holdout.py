"""A second probe of the generic profile, on shapes the engine was not tuned on.

``bench/stream_probe.py`` is the probe the generic profile's settings were chosen on; this
one was written afterwards (2026-12-07) to check that those choices hold on other shapes
of real operational streams, and is not to be tuned on: when a change is judged on it,
quote it beside the main probe, never alone. Twelve streams of 4,032 readings (two weeks
at 5 minutes unless said), each with one labelled anomaly, scored as ``controlcenter
score-csv`` scores a ``timestamp,value`` file; printed as in ``stream_probe.py`` (found
within 40 readings or during the anomaly; false alarms after the first 15%; the NAB score
of all streams with a tenth of each as windows).

    .venv/bin/python bench/stream_holdout.py
"""

from __future__ import annotations

import sys

import numpy as np

from controlcenter import nab
from stream_probe import STEP_S, N, Stream, print_nab, probe, start

DAY = 288


def streams(rng: np.random.Generator) -> list[tuple[Stream, int]]:
    """The streams, drawn in a fixed order from ``rng``, each with its seconds between
    readings."""
    i = np.arange(N)
    hour = (i % DAY) / 12.0
    weekday = (i // DAY) % 7 < 5
    out: list[tuple[Stream, int]] = []

    def add(name: str, v: np.ndarray, at: int, lasts: int = 0, step_s: int = STEP_S) -> None:
        out.append(((name, v, [at], None, lasts), step_s))

    # CPU utilisation: bounded, noisy around 30; it saturates at 100 for 3 hours.
    v = np.clip(30 + 8 * rng.standard_normal(N) + 10 * (hour > 9) * (hour < 18), 0, 100)
    v[3100:3136] = 100.0
    add("cpu saturating at 100", np.round(v, 1), 3100, 36)
    # Request latency: lognormal with rare spikes; it doubles for 6 hours.
    v = np.exp(rng.normal(np.log(120), 0.25, N))
    v[rng.random(N) < 0.005] *= 5
    v[2900:2972] *= 2
    add("latency doubling", v, 2900, 72)
    # Machine temperature: a daily cycle; a failure brings a decline over 12 hours.
    v = 80 + 3 * np.sin(2 * np.pi * i / DAY) + rng.normal(0, 0.4, N)
    v[3300:3444] -= np.linspace(0, 25, 144)
    v[3444:] -= 25
    add("temperature declining before a failure", v, 3300, 144)
    # Taxi demand: daily and weekly; one weekday looks like a Sunday (a holiday).
    curve = 60 + 40 * np.sin(2 * np.pi * (i - 70) / DAY)
    v = np.where(weekday, curve, 0.6 * curve) + rng.normal(0, 4, N)
    hol = slice(10 * DAY, 11 * DAY)  # a Thursday
    v[hol] = 0.6 * curve[hol] + rng.normal(0, 4, DAY)
    add("a weekday like a Sunday", v, 10 * DAY, DAY)
    # Tweet counts: Poisson with a daily rate; a burst five times the rate for 2 hours.
    lam = 5 + 45 * np.clip(np.sin(2 * np.pi * (i - 60) / DAY), 0, None)
    lam[3200:3224] *= 5
    add("counts bursting", rng.poisson(lam).astype(np.float64), 3200, 24)
    # Network bytes: heavy-tailed, sometimes 0; an outage at exactly 0 for 3 hours.
    v = rng.pareto(2.5, N) * 1e5 * (rng.random(N) > 0.05)
    v[2950:2986] = 0.0
    add("an outage at 0", v, 2950, 36)
    # A set point that starts to oscillate.
    v = np.repeat(rng.choice([40.0, 45.0, 50.0], N // 96 + 1), 96)[:N]
    v = v + rng.normal(0, 0.05, N)
    v[3000:3060] += 6 * np.sin(2 * np.pi * np.arange(60) / 8)
    add("a set point oscillating", v, 3000, 60)
    # A cumulative counter that resets.
    v = np.cumsum(rng.poisson(3, N)).astype(np.float64)
    v[3333:] -= v[3333]
    add("a counter resetting", v, 3333)
    # Hourly ad cost (168 days): noisy, weak daily; a level jump for a day.
    v = 1.2 + 0.1 * np.sin(2 * np.pi * i / 24) + rng.normal(0, 0.15, N)
    v[3500:3524] += 0.8
    add("hourly cost jumping for a day", v, 3500, 24, step_s=3600)
    # A pump's current: on/off cycles of ~40 min; one cycle runs twice as long.
    cyc = (i % 16) < 8
    v = np.where(cyc, 30.0, 2.0) + rng.normal(0, 0.5, N)
    v[3100:3116] = 30 + rng.normal(0, 0.5, 16)
    add("a pump cycle running twice as long", v, 3100, 16)
    # Humidity bounded at 100 with weather; a sensor reads 0 for an hour.
    v = np.clip(70 + np.cumsum(rng.normal(0, 0.3, N)) * 0.3 + rng.normal(0, 1, N), 0, 100)
    v[3050:3062] = 0.0
    add("a sensor reading 0", v, 3050, 12)
    # A queue length: mostly 0-3; it builds up to 40 over 2 hours.
    v = rng.poisson(1, N).astype(np.float64)
    v[3150:3174] += np.linspace(0, 40, 24).round()
    add("a queue building up", v, 3150, 24)
    return out


def main(argv: list[str]) -> None:
    config = start("stream_holdout.py", argv)
    files: list[nab.FileRows] = [
        probe(name, v, anomalies, gaps, lasts, config, step_s)
        for (name, v, anomalies, gaps, lasts), step_s in streams(np.random.default_rng(11))
    ]
    print_nab(files)


if __name__ == "__main__":
    main(sys.argv[1:])

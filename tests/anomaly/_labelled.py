"""A small labelled generator writing the simulators' file format (series, readings, labels).

Signals: a level per series, a diurnal swing, AR(1) noise, one reading per minute (with
jitter). Injected, with labels: spikes (8-12 noise sigmas), stuck runs (30 readings),
dropouts (40 minutes), impossible values, level shifts (6 sigmas for two hours).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

METRICS = [  # (kind, metric, level, noise sigma, diurnal amplitude, decimals)
    ("air", "pm25", 30.0, 3.0, 8.0, 1),
    ("air", "temp", 22.0, 0.3, 2.0, 2),
    ("air", "co2", 600.0, 25.0, 80.0, 0),
    ("power", "voltage", 380.0, 2.0, 3.0, 1),
    ("power", "kw", 150.0, 6.0, 30.0, 2),
]
IMPOSSIBLE = {"pm25": -20.0, "temp": 150.0, "co2": 50.0, "voltage": 5000.0, "kw": 1e7}
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP_MS = 60_000


def generate(
    out: Path, n_series: int = 40, days: float = 1.0, seed: int = 0, anomalies: bool = True
) -> None:
    """Write ``series.csv``, ``readings.csv`` and ``labels.csv`` into ``out``."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    n = int(days * 86_400_000 / STEP_MS)
    keys, rows, labels = [], [], []
    for i in range(n_series):
        kind, metric, level, sigma, amp, dec = METRICS[i % len(METRICS)]
        key = f"site-{i // 10}/f{i:03d}/{kind}/s1/{metric}"
        keys.append((key, f"site-{i // 10}", f"f{i:03d}", kind, "s1", metric))
        t = T0_MS + np.arange(n) * STEP_MS + rng.integers(0, 2000, n)
        noise = np.zeros(n)
        eps = rng.normal(0, sigma * np.sqrt(1 - 0.8**2), n)
        for j in range(1, n):  # AR(1), a test helper: speed does not matter
            noise[j] = 0.8 * noise[j - 1] + eps[j]
        v = level + amp * np.sin(2 * np.pi * (t - T0_MS) / 86_400_000) + noise
        keep = np.ones(n, dtype=bool)
        if anomalies:
            _inject(rng, key, metric, sigma, t, v, keep, labels)
        for tt, vv in zip(t[keep], np.round(v[keep], dec), strict=True):
            rows.append((int(tt), key, float(vv)))
    rows.sort(key=lambda r: r[0])
    header = ["series", "site", "factory", "kind", "sensor", "metric", "unit", "capacity"]
    _write(out / "series.csv", header, [(*k, "", "") for k in keys])
    _write(out / "readings.csv", ["time_ms", "series", "value"], rows)
    _write(out / "labels.csv", ["series", "start_ms", "end_ms", "type"], labels)


def _inject(rng, key, metric, sigma, t, v, keep, labels) -> None:
    n = len(t)
    slots = rng.permutation(np.arange(300, n - 200, 150))  # disjoint places, after warm-up
    for j in slots[:2]:  # spikes
        v[j] += rng.choice([-1, 1]) * rng.uniform(8, 12) * sigma
        labels.append((key, int(t[j]), int(t[j]), "spike"))
    j = slots[2]  # stuck for 30 readings
    v[j : j + 30] = v[j]
    labels.append((key, int(t[j]), int(t[j + 29]), "stuck"))
    j = slots[3]  # impossible value
    v[j] = IMPOSSIBLE[metric]
    labels.append((key, int(t[j]), int(t[j]), "impossible"))
    j = slots[4]  # dropout of 40 minutes
    keep[j : j + 40] = False
    labels.append((key, int(t[j]), int(t[j + 39]), "dropout"))
    j = slots[5]  # level shift for two hours
    v[j : j + 120] += rng.choice([-1, 1]) * 6 * sigma
    labels.append((key, int(t[j]), int(t[j + 119]), "level_shift"))


def _write(path: Path, header: list[str], rows) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)

"""Benchmark of the anomaly engine: readings/s with all detectors on, memory, and ratios.

For each S (series), W = 256, the engine is primed with W readings per series (full windows,
steady state), then scores batches of B readings. Series are the metrics of sensors of 5
(the relation detector watches each sensor's vector); a batch holds random sensors, each
with all its metrics at one time, as gateways send them (each series reports every 10 s on
average). Beside it, in the same process and on the same batches: a *bare* vectorised numpy
ring-buffer update with a running z-score (the floor of any per-reading work here), the
one-reading-at-a-time Python reference (started from the engine's exact state, and
checked to give the same scores), the engine called once per reading, and the pandas
rolling/ewm/groupby equivalent of the detectors computed over each series' window plus the
batch. Figures are medians over
repeats of CPU time (process time: one core's work, robust to other load); the wall-clock
rate of the engine is shown beside it. Compare ratios within one run (the machine is shared).

    .venv/bin/python bench/engine.py                 # S = 1,000 / 10,000 / 100,000
    .venv/bin/python bench/engine.py --series 10000 --repeats 50
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import pandas as pd

from controlcenter.anomaly import Engine, EngineConfig, ReferenceEngine
from controlcenter.domain import Batch

#: (profile, centre, noise) of the simulated series, cycled over series ids.
KINDS = [
    ("air.pm25", 35.0, 4.0),
    ("air.pm10", 60.0, 6.0),
    ("air.co2", 600.0, 20.0),
    ("air.temp", 24.0, 0.3),
    ("air.humidity", 55.0, 1.0),
    ("power.kw", 120.0, 5.0),
    ("power.voltage", 380.0, 2.0),
    ("power.current", 180.0, 6.0),
    ("power.pf", 0.9, 0.01),
    ("parking.occupied", 40.0, 1.0),
]
T0 = 1_700_000_000_000_000
PERIOD_US = 10_000_000
#: Metrics per sensor.
PER_SENSOR = 5


def clock() -> float:
    """CPU seconds of this process: one core's work, robust to other load on a shared
    machine (numpy runs these operations on one thread)."""
    return time.process_time()


class Source:
    """Readings of S series, each every ~10 s, with 0.1% spikes."""

    def __init__(self, n_series: int, seed: int = 0) -> None:
        self.n = n_series
        self.rng = np.random.default_rng(seed)
        kind = np.arange(n_series) % len(KINDS)
        self.profiles = np.array([KINDS[k][0] for k in kind])
        self.centre = np.array([KINDS[k][1] for k in kind])
        self.noise = np.array([KINDS[k][2] for k in kind])
        self.now = T0

    def history(self, per_series: int) -> list[Batch]:
        """``per_series`` readings of every series, round-robin, in chunks of <= 2M."""
        out = []
        step = PERIOD_US // self.n
        rows_per_chunk = max(1, 2_000_000 // self.n)
        for lo in range(0, per_series, rows_per_chunk):
            k = min(rows_per_chunk, per_series - lo)
            s = np.tile(np.arange(self.n, dtype=np.int32), k)
            # The metrics of a sensor (consecutive ids) report at one time.
            t = self.now + (np.arange(s.size, dtype=np.int64) // PER_SENSOR) * PER_SENSOR * step
            self.now = int(t[-1]) + step
            out.append(Batch(s, t, self._values(s)))
        return out

    def sensors(self) -> np.ndarray:
        return np.arange(self.n) // PER_SENSOR

    def batch(self, size: int) -> Batch:
        """``size`` readings: random sensors, every metric of each at one time."""
        k = max(1, size // PER_SENSOR)
        n_sensors = max(1, self.n // PER_SENSOR)
        sensor = self.rng.integers(0, n_sensors, k)
        s = (sensor[:, None] * PER_SENSOR + np.arange(PER_SENSOR)[None, :]).ravel()
        s = np.minimum(s, self.n - 1).astype(np.int32)
        step = max(1, PERIOD_US * PER_SENSOR // self.n)
        t = np.repeat(self.now + np.arange(k, dtype=np.int64) * step, PER_SENSOR)
        self.now = int(t[-1]) + step
        return Batch(s, t, self._values(s))

    def _values(self, s: np.ndarray) -> np.ndarray:
        v = self.centre[s] + self.noise[s] * self.rng.standard_normal(s.size)
        spike = self.rng.random(s.size) < 0.001
        v[spike] += 12 * self.noise[s[spike]]
        return np.maximum(v, 0.0)


class BareRing:
    """The baseline: a vectorised numpy ring buffer of W values per series with running
    sums and a z-score of each reading against its series' window (nothing else)."""

    def __init__(self, n_series: int, w: int) -> None:
        self.w = w
        self.ring = np.zeros((n_series, w))
        self.pos = np.zeros(n_series, dtype=np.int64)
        self.sum = np.zeros(n_series)
        self.sumsq = np.zeros(n_series)

    def ingest(self, b: Batch) -> np.ndarray:
        s, v = b.series, b.value
        mean = self.sum[s] / self.w
        var = np.maximum(self.sumsq[s] / self.w - mean * mean, 1e-12)
        z = np.abs(v - mean) / np.sqrt(var)
        flat = s.astype(np.intp) * self.w + self.pos[s]
        old = self.ring.reshape(-1)[flat]
        self.ring.reshape(-1)[flat] = v
        n = self.sum.size
        self.sum += np.bincount(s, weights=v - old, minlength=n)
        self.sumsq += np.bincount(s, weights=v * v - old * old, minlength=n)
        self.pos[s] = (self.pos[s] + 1) % self.w
        return z


def pandas_equivalent(ctx: pd.DataFrame, w: int, n_new: int) -> np.ndarray:
    """The detectors as pandas would do them: groupby + rolling/ewm over window + batch.

    ``ctx`` holds each series' last W readings followed by the batch (columns series, time,
    value, new). Returns the batch's worst severity (rough: MAD from a rolling median of
    deviations; CUSUM has no pandas form and is left out, which favours pandas).
    """
    g = ctx.groupby("series", sort=False)["value"]
    med = g.rolling(w, min_periods=32).median().reset_index(level=0, drop=True).sort_index()
    dev = (ctx["value"] - med).abs()
    mad = dev.groupby(ctx["series"]).rolling(w, min_periods=32).median()
    mad = mad.reset_index(level=0, drop=True).sort_index()
    robust = dev / (1.4826 * mad + 1e-9) / 6.0
    ewm = g.ewm(alpha=0.05)
    mean = ewm.mean().reset_index(level=0, drop=True).sort_index()
    std = ewm.std().reset_index(level=0, drop=True).sort_index()
    ewma = (ctx["value"] - mean.groupby(ctx["series"]).shift()).abs() / (std + 1e-9) / 6.0
    rate = g.diff().abs() / 50.0
    changed = g.diff().ne(0)
    run = changed.groupby(ctx["series"]).cumsum()
    stuck = run.groupby([ctx["series"], run]).cumcount() / 60.0
    worst = pd.concat([robust, ewma, rate, stuck], axis=1).max(axis=1)
    return np.asarray(worst[ctx["new"]].to_numpy())


def pandas_context(engine: Engine, batch: Batch) -> pd.DataFrame:
    """Each touched series' window (from the engine's rings, in time order) plus the batch."""
    st, w = engine.store, engine.store.window
    touched = np.unique(batch.series)
    order = np.argsort(st.times[touched], axis=1)
    vals = np.take_along_axis(st.values[touched], order, axis=1).ravel()
    times = np.take_along_axis(st.times[touched], order, axis=1).ravel()
    hist = pd.DataFrame(
        {"series": np.repeat(touched, w), "time": times, "value": vals, "new": False}
    )
    new = pd.DataFrame(
        {"series": batch.series, "time": batch.time, "value": batch.value, "new": True}
    )
    return (
        pd.concat([hist, new], ignore_index=True)
        .sort_values(["series", "time"], kind="stable")
        .reset_index(drop=True)
    )


def median_rate(times: list[float], readings: int) -> float:
    return readings / float(np.median(times))


def run_one(n_series: int, batch_size: int, repeats: int, naive_batches: int) -> dict[str, float]:
    w = 256
    src = Source(n_series)
    eng = Engine(EngineConfig(window=w, capacity=n_series))
    eng.add_series(np.arange(n_series), src.profiles, sensor=src.sensors())
    bare = BareRing(n_series, w)
    t0 = clock()
    for h in src.history(w):
        eng.prime(h)
    prime_s = clock() - t0
    for h in src.history(w):
        eng.prime(h)  # a second round: calibration and the relation detector warmed up
    for _ in range(3):  # warm-up
        eng.ingest(src.batch(batch_size))
    batches = [src.batch(batch_size) for _ in range(repeats)]
    naive = batches[:naive_batches]
    ref = ReferenceEngine.from_engine(eng, np.unique(np.concatenate([b.series for b in naive])))
    pd_ctx = pandas_context(eng, batches[0])
    eng_times, wall_times, bare_times, n_events = [], [], [], 0
    for b in batches:
        t, wall0 = clock(), time.perf_counter()
        _, ev = eng.ingest(b)
        eng_times.append(clock() - t)
        wall_times.append(time.perf_counter() - wall0)
        n_events += len(ev)
        t = clock()
        bare.ingest(b)
        bare_times.append(clock() - t)
    eng_rate = median_rate(eng_times, batch_size)
    # The naive reference replays the same batches from the same starting state.
    ref_times = []
    for b in naive:
        t = clock()
        ref.ingest(b)
        ref_times.append(clock() - t)
    ref_rate = median_rate(ref_times, batch_size)
    # The engine itself called once per reading (what a per-message pipeline would do).
    single = src.batch(1000)
    t = clock()
    for i in range(len(single)):
        eng.ingest(single.take(np.arange(i, i + 1)))
    per_reading_rps = len(single) / (clock() - t)
    t = clock()
    pandas_equivalent(pd_ctx, w, batch_size)
    pd_rate = batch_size / (clock() - t)
    t = clock()
    eng.sweep(src.now + 3600 * 1_000_000)
    sweep_ms = (clock() - t) * 1e3
    mem = eng.memory()
    return {
        "series": n_series,
        "engine_rps": eng_rate,
        "bare_rps": median_rate(bare_times, len(batches[0])),
        "engine_wall_rps": median_rate(wall_times, batch_size),
        "batch_ms": 1e3 * float(np.median(eng_times)),
        "naive_rps": ref_rate,
        "per_reading_rps": per_reading_rps,
        "pandas_rps": pd_rate,
        "events_per_batch": n_events / len(batches),
        "bytes_per_series": mem["bytes_per_series"]
        + mem["bytes_per_daily_series"] * mem["daily_series"] / n_series
        + mem["bytes_per_sensor"] * mem["sensors"] / n_series,
        "state_mb": mem["total_bytes"] / 2**20,
        "prime_rps": n_series * w / prime_s,
        "sweep_ms": sweep_ms,
    }


def check_equal(n_series: int, batch_size: int) -> float:
    """Max |score difference| between engine and reference on two batches (sanity)."""
    src = Source(n_series, seed=1)
    eng = Engine(EngineConfig(capacity=n_series))
    eng.add_series(np.arange(n_series), src.profiles, sensor=src.sensors())
    for h in src.history(300):
        eng.prime(h)
    ref = ReferenceEngine.from_engine(eng)
    worst = 0.0
    for _ in range(2):
        b = src.batch(batch_size)
        worst = max(worst, float(np.abs(eng.ingest(b)[0] - ref.ingest(b)[0]).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--naive-batches", type=int, default=2)
    args = ap.parse_args(argv)
    cmd = "cd /work/main && .venv/bin/python bench/engine.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    print(f"# reproduce: {cmd}")
    print(f"# numpy {np.__version__}, pandas {pd.__version__}, W=256, B={args.batch}")
    print(f"# engine vs reference, max |score diff|: {check_equal(500, 2000):.2e}")
    head = (
        "| S | engine readings/s | (wall) | batch ms | bare ring+z r/s | x bare "
        "| naive Python r/s | x naive "
        "| engine per reading r/s | x per reading | pandas r/s | x pandas | events/batch "
        "| bytes/series | state MB | prime r/s | sweep ms |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for n in args.series:
        r = run_one(n, args.batch, args.repeats, args.naive_batches)
        print(
            f"| {n:,} | {r['engine_rps']:,.0f} | {r['engine_wall_rps']:,.0f} "
            f"| {r['batch_ms']:.2f} | {r['bare_rps']:,.0f} "
            f"| {r['engine_rps'] / r['bare_rps']:.2f} | {r['naive_rps']:,.0f} "
            f"| {r['engine_rps'] / r['naive_rps']:,.0f} | {r['per_reading_rps']:,.0f} "
            f"| {r['engine_rps'] / r['per_reading_rps']:,.0f} | {r['pandas_rps']:,.0f} "
            f"| {r['engine_rps'] / r['pandas_rps']:,.0f} | {r['events_per_batch']:.1f} "
            f"| {r['bytes_per_series']:,.0f} | {r['state_mb']:,.0f} | {r['prime_rps']:,.0f} "
            f"| {r['sweep_ms']:.2f} |",
            flush=True,
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"# peak RSS of the whole run: {rss:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

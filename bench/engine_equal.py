"""Bit-identity check of the anomaly engine against another commit (for speed work).

Runs the same scenarios with the engine of a base commit (a detached worktree under the
system's temp directory) and with this tree's engine, each in its own process, and
compares every output array: the scores and the event columns of every call, the
``score()`` of a batch, sweep events, and at the end every array of the engine's state
(window store, relation store, ``Engine.state()``), with ``np.array_equal`` (NaN equal to
NaN, dtype and shape must match). The scenarios' data come from this tree for both sides.

    .venv/bin/python bench/engine_equal.py --base issue-engine
    .venv/bin/python bench/engine_equal.py --base 86d5919 --sim /tmp/sim   # + simulator data

``--sim DIR`` adds a ``controlcenter-sim generate`` directory run as ``evaluate`` does.
Exit status 0 when every array is identical.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GIT = shutil.which("git") or "/usr/bin/git"
Arrays = dict[str, np.ndarray]


# -- scenarios (run in the child process, with the engine under test on sys.path) ----------


def _record(out: Arrays, name: str, scores: np.ndarray, events: Any) -> None:
    out[f"{name}/scores"] = scores
    for col in ("series", "time", "detector", "value", "score", "start"):
        out[f"{name}/events.{col}"] = getattr(events, col)


def _state(out: Arrays, name: str, eng: Any) -> None:
    for holder, obj in (("store", eng.store), ("relations", eng.relations)):
        for key, val in sorted(vars(obj).items()):
            if isinstance(val, np.ndarray):
                out[f"{name}/{holder}.{key}"] = val
    for key, val in eng.state().items():
        out[f"{name}/state.{key}"] = val


def _bench_source(out: Arrays, n_series: int, history: int, sizes: list[int]) -> None:
    from controlcenter.anomaly import Engine, EngineConfig
    from engine import Source  # bench/engine.py of this tree

    src = Source(n_series, seed=7)
    eng = Engine(EngineConfig(capacity=n_series))
    eng.add_series(np.arange(n_series), src.profiles, sensor=src.sensors())
    for h in src.history(history):
        eng.prime(h)
    name = f"bench{n_series}"
    for i, size in enumerate(sizes):
        b = src.batch(size)
        out[f"{name}/score{i}"] = eng.score(b)
        _record(out, f"{name}/ingest{i}", *eng.ingest(b))
    eng.update(src.batch(sizes[0]))
    ev = eng.sweep(src.now + 600 * 1_000_000)
    _record(out, f"{name}/sweep", np.zeros(0), ev)
    _state(out, name, eng)


def _random_streams(out: Arrays) -> None:
    from _streams import TEST_PROFILES, random_config, random_stream, sensor_stream, split

    from controlcenter.anomaly import Engine

    for seed in range(6):
        rng = np.random.default_rng(seed)
        cfg = random_config(rng)
        eng = Engine(cfg, TEST_PROFILES)
        n_series = int(rng.integers(1, 12))
        eng.add_series(np.arange(n_series), rng.choice(list(TEST_PROFILES), n_series))
        step = int(rng.choice([1_000_000, 600_000_000, 3_600_000_000]))
        stream = random_stream(rng, n_series, 3000, step)
        for i, b in enumerate(split(rng, stream, 40, shuffle=bool(seed % 2))):
            _record(out, f"random{seed}/b{i}", *eng.ingest(b))
        _record(out, f"random{seed}/sweep", np.zeros(0), eng.sweep(int(stream.time.max()) + 10**10))
        _state(out, f"random{seed}", eng)
    for seed, d in ((10, 3), (11, 5), (12, 8)):
        rng = np.random.default_rng(seed)
        stream, sensors = sensor_stream(rng, 6, d, 3000, step_us=60_000_000)
        eng = Engine(random_config(rng), TEST_PROFILES)
        eng.add_series(np.arange(sensors.size), "daily", sensor=sensors)
        for i, b in enumerate(split(rng, stream, 60, shuffle=True)):
            _record(out, f"sensor{seed}/b{i}", *eng.ingest(b))
        _state(out, f"sensor{seed}", eng)


def _warm_start(out: Arrays) -> None:
    """Daily aggregates (``prime_daily``), then the last readings (``prime``), then live."""
    from controlcenter.anomaly import Engine, EngineConfig
    from controlcenter.domain import Batch

    rng = np.random.default_rng(3)
    n_series, days, step = 40, 4, 300_000_000
    k = days * 86_400_000_000 // step
    t0 = 1_700_000_000_000_000
    t = t0 + np.arange(k, dtype=np.int64) * step
    phase = 2 * np.pi * (t - t0) / 86_400_000_000
    v = 100 + 20 * np.sin(phase)[None, :] + rng.normal(0, 2, (n_series, k))
    v[:, k * 3 // 4 + 10 :: 97] += 40
    ids = np.repeat(np.arange(n_series, dtype=np.int32)[:, None], k, axis=1)
    cfg = EngineConfig(capacity=8, day_offset_s=9 * 3600)
    eng = Engine(cfg)
    sensors = np.arange(n_series) // 4
    eng.add_series(np.arange(n_series), ["power.kw", "air.co2"] * (n_series // 2), sensor=sensors)
    cut = k // 2
    # Aggregates of the first half per (series, local day, slot).
    local = (t[:cut] // 1_000_000 + cfg.day_offset_s)[None, :].repeat(n_series, 0)
    day = local // 86_400
    slot = (local % 86_400) * cfg.daily_slots // 86_400
    key = (ids[:, :cut] * 10**8 + day * 100 + slot).ravel()
    uk, inv = np.unique(key, return_inverse=True)
    vals = v[:, :cut].ravel()
    eng.prime_daily(
        uk // 10**8,
        (uk // 100) % 10**6,
        uk % 100,
        np.bincount(inv),
        np.bincount(inv, vals),
        np.bincount(inv, vals * vals),
    )
    hist = slice(cut - 256, cut)
    eng.prime(
        Batch.from_lists(ids[:, hist].ravel(), np.tile(t[hist], n_series), v[:, hist].ravel())
    )
    order = np.argsort(np.tile(t[cut:], n_series), kind="stable")
    live = Batch.from_lists(
        ids[:, cut:].ravel()[order], np.tile(t[cut:], n_series)[order], v[:, cut:].ravel()[order]
    )
    for i, lo in enumerate(range(0, len(live), 997)):
        part = live.take(np.arange(lo, min(lo + 997, len(live))))
        _record(out, f"warm/b{i}", *eng.ingest(part))
    _state(out, "warm", eng)


def _simulator(out: Arrays, directory: Path) -> None:
    from controlcenter.anomaly import Engine, EngineConfig
    from controlcenter.anomaly_eval import load, run_engine

    ds = load(directory)
    eng = Engine(EngineConfig(capacity=max(len(ds.keys), 1), day_offset_s=ds.utc_offset_s))
    _record(out, "sim", *run_engine(ds, eng))
    _state(out, "sim", eng)


def dump(path: Path, sim: Path | None, quick: bool) -> None:
    sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests" / "anomaly")]
    import controlcenter.anomaly

    out: Arrays = {}
    _random_streams(out)
    _warm_start(out)
    _bench_source(out, 60, 900, [1000, 1000, 7, 3000])
    _bench_source(out, 1000, 400, [10_000, 10_000, 2000])
    if not quick:
        _bench_source(out, 10_000, 200, [10_000] * 4)
    if sim is not None:
        _simulator(out, sim)
    np.savez(path, **out)
    print(f"{controlcenter.anomaly.__file__}: {len(out)} arrays", file=sys.stderr)


# -- driver ----------------------------------------------------------------------------------


def _base_tree(ref: str) -> Path:
    sha = subprocess.run(
        [GIT, "rev-parse", ref], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    tree = Path(tempfile.gettempdir()) / f"engine-equal-{sha[:12]}"
    if not tree.exists():
        subprocess.run(
            [GIT, "worktree", "add", "--detach", str(tree), sha],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return tree


def _run(src: Path, out: Path, extra: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, __file__, "--dump", str(out), *extra]
    subprocess.run(cmd, env=env, check=True)


def _pairs(a: Any, b: Any) -> Iterator[tuple[str, np.ndarray | None, np.ndarray | None]]:
    for key in sorted(set(a.files) | set(b.files)):
        yield key, a[key] if key in a.files else None, b[key] if key in b.files else None


def compare(base: Path, new: Path) -> int:
    bad = 0
    with np.load(base) as a, np.load(new) as b:
        n = 0
        for key, x, y in _pairs(a, b):
            n += 1
            if x is None or y is None:
                print(f"MISSING {key}: base {x is not None}, new {y is not None}")
                bad += 1
                continue
            nan = x.dtype.kind in "fc"
            if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y, equal_nan=nan):
                print(f"DIFFERS {key}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}")
                bad += 1
    print(f"{n} arrays compared, {n - bad} identical, {bad} differ")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="issue-engine", help="git ref of the reference engine")
    ap.add_argument("--sim", type=Path, help="a controlcenter-sim generate directory")
    ap.add_argument("--quick", action="store_true", help="skip the 10,000-series scenario")
    ap.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.dump:
        dump(args.dump, args.sim, args.quick)
        return 0
    extra = [*(["--sim", str(args.sim)] if args.sim else []), *(["--quick"] if args.quick else [])]
    with tempfile.TemporaryDirectory() as tmp:
        base_out, new_out = Path(tmp) / "base.npz", Path(tmp) / "new.npz"
        _run(_base_tree(args.base) / "src", base_out, extra)
        _run(ROOT / "src", new_out, extra)
        return compare(base_out, new_out)


if __name__ == "__main__":
    raise SystemExit(main())

"""A/B speed of two anomaly engines in one process, on the same batches, batch by batch.

On a shared machine, separate runs of ``bench/engine.py`` (one engine per process) drift
with the other load by more than a speed change of a few percent. Here the anomaly package
of each tree is copied under another name (``anom_a``, ``anom_b``: its own imports
rewritten), both engines are primed with the same history and score the same batches of
``bench/engine.py``'s ``Source``, alternating which goes first, and each batch's CPU time is
kept. Printed: the median per batch of each and the median of the per-batch ratios. Each
engine is slower here than alone (they share the cache); compare the ratio. The scores of
the first batches are checked to be identical (``--changed``: not, for a B that changes
what the engine finds).

    .venv/bin/python bench/engine_ab.py /tmp/speedbase/src src --batches 300
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import Source  # bench/engine.py


def _copy(src: Path, name: str, root: Path) -> None:
    dst = root / name
    shutil.copytree(src / "controlcenter" / "anomaly", dst)
    for f in dst.glob("*.py"):
        f.write_text(f.read_text().replace("controlcenter.anomaly", name))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="src directory of engine A (e.g. a worktree's src)")
    ap.add_argument("b", type=Path, help="src directory of engine B")
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument(
        "--changed",
        action="store_true",
        help="B changes what the engine finds: skip the check that scores are identical",
    )
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="engine-ab-"))
    _copy(args.a, "anom_a", root)
    _copy(args.b, "anom_b", root)
    sys.path.insert(0, str(root))
    mods: list[Any] = [importlib.import_module(m) for m in ("anom_a", "anom_b")]
    n = args.series
    src = Source(n)
    engines = []
    for mod in mods:
        eng = mod.Engine(mod.EngineConfig(window=256, capacity=n))
        eng.add_series(np.arange(n), src.profiles, sensor=src.sensors())
        engines.append(eng)
    for h in src.history(256) + src.history(256):
        for eng in engines:
            eng.prime(h)
    for _ in range(3):
        b = src.batch(args.batch)
        for eng in engines:
            eng.ingest(b)
    times: list[list[float]] = [[], []]
    for i in range(args.batches):
        b = src.batch(args.batch)
        scores = {}
        for k in (0, 1) if i % 2 == 0 else (1, 0):
            t = time.process_time()
            scores[k] = engines[k].ingest(b)[0]
            times[k].append(time.process_time() - t)
        if i < 20 and not args.changed and not np.array_equal(scores[0], scores[1]):
            print(f"batch {i}: scores differ", file=sys.stderr)
            return 1
    shutil.rmtree(root, ignore_errors=True)
    ta, tb = np.array(times[0]), np.array(times[1])
    ma, mb = float(np.median(ta)), float(np.median(tb))
    print(
        f"A {1e3 * ma:.2f} ms ({args.batch / ma:,.0f} readings/s)  "
        f"B {1e3 * mb:.2f} ms ({args.batch / mb:,.0f} readings/s)  "
        f"median per-batch ratio A/B {float(np.median(ta / tb)):.3f} "
        f"({args.batches} batches of {args.batch:,} at {n:,} series)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

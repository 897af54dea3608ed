"""Benchmark: rule evaluation over the batches the engine scores, vs the engine's own time.

S series (default 10,000) in 10 sites x 50 factories, the engine bench's metric mix; R rules
(default 100): one complex-wide rule per metric (with hysteresis, some with severity steps,
durations and relative thresholds), the rest site- and factory-scoped overrides, plus
silent/stuck per-sensor detector rules. The engine is primed with full windows, then each
batch is scored by ``Engine.ingest`` and the same batch and its events evaluated by the
alerts ``Evaluator``; both timed in the same process. Medians over the batches.

    .venv/bin/python bench/alerts.py
    .venv/bin/python bench/alerts.py --series 10000 --rules 100 --batch 10000 --repeats 50
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from simulators.kinds import Kind

from controlcenter.alerts import Evaluator, Rule
from controlcenter.anomaly import Engine, EngineConfig
from controlcenter.domain import SensorKey, SeriesKey

sys.path.insert(0, "bench")
from engine import KINDS, Source  # the engine bench data source

THRESHOLDS = {  # metric: (op, raise, clear, step)
    "pm25": ("above", 55.0, 50.0, 75.0),
    "pm10": ("above", 80.0, 70.0, 150.0),
    "co2": ("above", 680.0, 650.0, 800.0),
    "temp": ("above", 25.0, 24.5, 30.0),
    "humidity": ("above", 60.0, 58.0, 80.0),
    "kw": ("above", 1.2, 1.1, 1.5),  # relative to contract_kw
    "voltage": ("below", 372.0, 375.0, 360.0),
    "current": ("above", 200.0, 190.0, 250.0),
    "pf": ("below", 0.87, 0.88, 0.8),
    "occupied": ("above", 0.95, 0.9, None),  # relative to capacity
}


def keys(n: int) -> list[SeriesKey]:
    out = []
    for i in range(n):
        profile = KINDS[i % len(KINDS)][0]
        kind, metric = profile.split(".")
        site, factory = f"s{(i // 10) % 10}", f"f{(i // 100) % 50}"
        out.append(SeriesKey(SensorKey(site, factory, Kind(kind), f"x{i // len(KINDS)}"), metric))
    return out


def rules(n: int) -> list[Rule]:
    out: list[dict[str, object]] = []
    metrics = list(THRESHOLDS)
    for i in range(n):
        metric = metrics[i % len(metrics)]
        op, up, down, step = THRESHOLDS[metric]
        kind = next(p.split(".")[0] for p, _, _ in KINDS if p.endswith("." + metric))
        scope: dict[str, object] = {"kind": kind}
        if i >= 2 * len(metrics):
            scope["site"] = f"s{i % 10}"
        if i >= 5 * len(metrics):
            scope["factory"] = f"f{i % 50}"
        cond: dict[str, object] = {"metric": metric, "op": op, "raise_at": up, "clear_at": down}
        if metric == "kw":
            cond["relative_to"] = "contract_kw"
        if metric == "occupied":
            cond["relative_to"] = "capacity"
        rule: dict[str, object] = {
            "id": i + 1,
            "name": f"r{i}",
            "scope": scope,
            "conditions": [cond],
            "raise_after_s": 30 * (i % 3),
            "clear_after_s": 60 * (i % 2),
        }
        if step is not None and i % 2 == 0:
            rule["steps"] = [{"at": step, "severity": "critical"}]
        out.append(rule)
    out[-2] = {
        "id": n - 1,
        "name": "silent",
        "per": "sensor",
        "conditions": [{"detector": "silence"}],
    }
    out[-1] = {"id": n, "name": "stuck", "per": "sensor", "conditions": [{"detector": "stuck"}]}
    return [Rule.model_validate(r) for r in out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--rules", type=int, default=100)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=30)
    a = ap.parse_args()
    src = Source(a.series)
    eng = Engine(EngineConfig())
    eng.add_series(np.arange(a.series), src.profiles)
    for b in src.history(EngineConfig().window):
        eng.prime(b)
    ev = Evaluator()
    ks = dict(enumerate(keys(a.series)))
    ev.set_rules(rules(a.rules))
    t = time.perf_counter()
    ev.refresh(ks.get, a.series - 1)
    compile_ms = 1e3 * (time.perf_counter() - t)
    contracts = {(f"s{s}", f"f{f}"): 150.0 for s in range(10) for f in range(50)}
    ev.index.set_contracts(contracts)
    ev.index.capacity[: a.series] = 50.0
    ev.index.version += 1
    print(
        f"# reproduce: cd /work/main && .venv/bin/python bench/alerts.py --series {a.series}"
        f" --rules {a.rules} --batch {a.batch} --repeats {a.repeats}"
    )
    print(
        f"# numpy {np.__version__}; {ev.n_cells:,} cells, {len(ev.slot_rule)} slots,"
        f" compile {compile_ms:.1f} ms; medians over {a.repeats} batches"
    )
    print(
        "| phase | S | rules | batch | engine ms | alerts ms | alerts/engine |"
        " per-batch ratio | events/batch | transitions/batch | active alerts |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    pm = np.isin(src.profiles, ["air.pm10", "air.pm25"])
    for phase in ("steady", "dust episode"):
        eng_t, ev_t, n_events, n_trans = [], [], 0, 0
        for i in range(a.repeats + 3):
            b = src.batch(a.batch)
            if phase != "steady":  # every PM station of the complex above "very bad"
                v = b.value.copy()
                v[pm[b.series]] = 200.0
                b = type(b)(b.series, b.time, v)
            t0 = time.perf_counter()
            _, events = eng.ingest(b)
            t1 = time.perf_counter()
            ch = ev.evaluate(b, events)
            t2 = time.perf_counter()
            if i >= 3:  # warm-up
                eng_t.append(t1 - t0)
                ev_t.append(t2 - t1)
                n_events += len(events)
                n_trans += len(ch.cell)
        e_ms, a_ms = 1e3 * float(np.median(eng_t)), 1e3 * float(np.median(ev_t))
        ratio = 100 * float(np.median(np.asarray(ev_t) / np.asarray(eng_t)))
        print(
            f"| {phase} | {a.series:,} | {a.rules} | {a.batch:,} | {e_ms:.2f} | {a_ms:.3f} |"
            f" {100 * a_ms / e_ms:.1f} % | {ratio:.1f} % | {n_events / a.repeats:.1f} |"
            f" {n_trans / a.repeats:.1f} | {int(ev.active.sum())} |"
        )


if __name__ == "__main__":
    main()

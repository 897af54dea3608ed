"""``controlcenter evaluate DIR``: the anomaly engine's quality on labelled simulator output.

Reads ``DIR/series.csv`` (``series,site,factory,kind,sensor,metric,unit,capacity``),
``DIR/readings.csv`` (``time_ms,series,value``, sorted by time) and ``DIR/labels.csv``
(``series,start_ms,end_ms,type``; keys may hold ``*`` wildcards). Runs the engine online as
the pipeline does: batches of ``--batch-s`` simulated seconds, a silence sweep after each.

How events are judged:

- Events of one series and detector less than ``--merge-s`` apart form one *alarm*.
- A label's *window* is ``[start - 1 s, end + --grace-s]`` on each series its key matches.
  An alarm is true when it starts inside a window of its series; an alarm inside a
  ``dust_event`` window is neither true nor false (an event, not a fault).
- Recall of a type: labels with an alarm, in their window, of a detector that looks for
  that type (:data:`DETECTORS_FOR`: ``stuck`` for stuck, ``silence`` for dropouts...).
  Delay: first such alarm minus label start (median and 90th percentile, seconds).
- Precision of a type: alarms true for that type over those plus the false alarms of the
  detectors that look for it.
- False alarms per series-day: every false alarm, over series count times days of data.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly import DETECTOR_NAMES, Engine, EngineConfig, Events
from controlcenter.domain import Batch

__all__ = ["Dataset", "Report", "evaluate", "load", "main", "run_engine"]

US_PER_MS = 1000
#: Detectors whose alarms count for each label type (recall, delay and precision).
DETECTORS_FOR: dict[str, tuple[str, ...]] = {
    "spike": ("robust_z", "ewma_z", "rate", "limit"),
    "level_shift": ("shift", "robust_z", "ewma_z", "rate"),
    "drift": ("shift", "robust_z", "ewma_z"),
    "stuck": ("stuck",),
    "dropout": ("silence",),
    "impossible": ("limit", "rate"),
    "gateway_offline": ("silence",),
    "dust_event": ("robust_z", "ewma_z", "shift", "rate"),
}
EVENT_TYPES = frozenset({"dust_event"})


@dataclass
class Dataset:
    """A simulator output directory in memory: dense ids are rows of ``series.csv``."""

    keys: list[str]
    profiles: list[str]
    capacity: npt.NDArray[np.float64]
    readings: Batch
    labels: list[tuple[str, int, int, str]]  # (key pattern, start_us, end_us, type)


def load(directory: Path) -> Dataset:
    """Read the three CSV files of ``directory``."""
    keys, profiles, caps = [], [], []
    with (directory / "series.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            keys.append(row["series"])
            profiles.append(f"{row['kind']}.{row['metric']}")
            caps.append(float(row["capacity"]) if row.get("capacity") else np.inf)
    ids = {k: i for i, k in enumerate(keys)}
    times, series, values = [], [], []
    with (directory / "readings.csv").open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for t, key, v in reader:
            times.append(int(t))
            series.append(ids[key])
            values.append(float(v))
    readings = Batch.from_lists(series, np.asarray(times, dtype=np.int64) * US_PER_MS, values)
    labels = []
    lpath = directory / "labels.csv"
    if lpath.exists():
        with lpath.open(newline="") as f:
            for row in csv.DictReader(f):
                start, end = int(row["start_ms"]) * US_PER_MS, int(row["end_ms"]) * US_PER_MS
                labels.append((row["series"], start, end, row["type"]))
    return Dataset(keys, profiles, np.asarray(caps), readings, labels)


def run_engine(ds: Dataset, engine: Engine | None = None, batch_s: float = 10.0) -> Events:
    """Feed the readings in time slices of ``batch_s`` and sweep for silence after each."""
    eng = engine or Engine(EngineConfig(capacity=max(len(ds.keys), 1)))
    known = set(eng.profile_names)
    profs = [p if p in known else "generic" for p in ds.profiles]
    eng.add_series(np.arange(len(ds.keys)), profs, hi=ds.capacity)
    r = ds.readings
    if len(r) == 0:
        return Events.empty()
    step = int(batch_s * 1e6)
    edges = np.arange(int(r.time[0]), int(r.time[-1]) + step, step)
    cuts = np.searchsorted(r.time, edges[1:], side="left")
    parts: list[Events] = []
    lo = 0
    for hi, end in zip(cuts.tolist(), edges[1:].tolist(), strict=True):
        if hi > lo:
            parts.append(eng.ingest(r.take(np.arange(lo, hi)))[1])
        parts.append(eng.sweep(end))
        lo = hi
    return Events.concat(parts)


@dataclass
class Report:
    """Quality figures per label type, plus false alarms."""

    per_type: dict[str, dict[str, float]] = field(default_factory=dict)
    alarms: int = 0
    false_alarms: int = 0
    series_days: float = 0.0

    @property
    def false_alarms_per_series_day(self) -> float:
        return self.false_alarms / self.series_days if self.series_days else 0.0


def _alarms(ev: Events, merge_us: int) -> Events:
    """First event of each run of events (same series and detector, gaps < merge_us)."""
    if len(ev) == 0:
        return ev
    ev = ev.take(np.lexsort((ev.time, ev.detector, ev.series)))
    new = np.ones(len(ev), dtype=np.bool_)
    new[1:] = (
        (ev.series[1:] != ev.series[:-1])
        | (ev.detector[1:] != ev.detector[:-1])
        | (ev.time[1:] - ev.time[:-1] >= merge_us)
    )
    return ev.take(new)


def _expand(ds: Dataset) -> list[tuple[npt.NDArray[np.intp], int, int, str]]:
    out = []
    for pattern, start, end, kind in ds.labels:
        if "*" in pattern:
            ids = [i for i, k in enumerate(ds.keys) if fnmatch.fnmatchcase(k, pattern)]
        else:
            ids = [ds.keys.index(pattern)] if pattern in ds.keys else []
        out.append((np.asarray(ids, dtype=np.intp), start, end, kind))
    return out


def evaluate(ds: Dataset, events: Events, merge_s: float = 300.0, grace_s: float = 120.0) -> Report:
    """Judge ``events`` against the labels of ``ds`` (see the module docstring)."""
    al = _alarms(events, int(merge_s * 1e6))
    names = np.asarray(DETECTOR_NAMES)[al.detector]
    true_of = np.full(len(al), "", dtype=object)  # label type each alarm is true for
    stats: dict[str, dict[str, list[float]]] = {}
    for ids, start, end, kind in _expand(ds):
        lo, hi = start - 1_000_000, end + int(grace_s * 1e6)
        window = np.isin(al.series, ids) & (al.time >= lo) & (al.time <= hi)
        true_of[window & (true_of == "")] = kind
        inside = window & np.isin(names, DETECTORS_FOR.get(kind, DETECTOR_NAMES))
        st = stats.setdefault(kind, {"labels": [], "delays": []})
        st["labels"].append(1.0 if inside.any() else 0.0)
        if inside.any():
            st["delays"].append(max(0.0, (int(al.time[inside].min()) - start) / 1e6))
    false = true_of == ""
    report = Report(alarms=len(al), false_alarms=int(false.sum()))
    r = ds.readings
    if len(r):
        days = (int(r.time.max()) - int(r.time.min())) / 86_400e6
        report.series_days = max(days, 1e-9) * len(ds.keys)
    for kind, st in sorted(stats.items()):
        looks = np.isin(names, DETECTORS_FOR.get(kind, DETECTOR_NAMES))
        n_true = int(((true_of == kind) & looks).sum())
        n_false = int((false & looks).sum())
        recall = float(np.mean(st["labels"]))
        precision = n_true / (n_true + n_false) if n_true + n_false else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        delays = np.asarray(st["delays"])
        report.per_type[kind] = {
            "labels": float(len(st["labels"])),
            "recall": recall,
            "precision": precision,
            "f1": f1,
            "delay_median_s": float(np.median(delays)) if delays.size else float("nan"),
            "delay_p90_s": float(np.percentile(delays, 90)) if delays.size else float("nan"),
        }
    return report


def format_report(rep: Report, ds: Dataset, events: Events) -> str:
    """A Markdown table of the report."""
    lines = [
        f"series {len(ds.keys):,}, readings {len(ds.readings):,}, labels {len(ds.labels):,}, "
        f"events {len(events):,}, alarms {rep.alarms:,}",
        "",
        "| type | labels | precision | recall | F1 | delay median s | delay p90 s |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, r in rep.per_type.items():
        note = " (event, not a fault)" if kind in EVENT_TYPES else ""
        lines.append(
            f"| {kind}{note} | {r['labels']:.0f} | {r['precision']:.2f} | {r['recall']:.2f} "
            f"| {r['f1']:.2f} | {r['delay_median_s']:.0f} | {r['delay_p90_s']:.0f} |"
        )
    counts = {n: int((events.detector == i).sum()) for i, n in enumerate(DETECTOR_NAMES)}
    lines += [
        "",
        f"false alarms: {rep.false_alarms:,} over {rep.series_days:,.1f} series-days = "
        f"{rep.false_alarms_per_series_day:.3f} per series per day",
        "events per detector: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``controlcenter evaluate DIR [--json]``."""
    ap = argparse.ArgumentParser(prog="controlcenter evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("dir", type=Path, help="simulator output directory")
    ap.add_argument("--batch-s", type=float, default=10.0, help="simulated seconds per batch")
    ap.add_argument("--merge-s", type=float, default=300.0, help="events closer form one alarm")
    ap.add_argument("--grace-s", type=float, default=120.0, help="label window extension")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)
    try:
        ds = load(args.dir)
    except (OSError, KeyError, ValueError) as exc:
        sys.stderr.write(f"controlcenter evaluate: cannot read {args.dir}: {exc}\n")
        return 2
    events = run_engine(ds, batch_s=args.batch_s)
    rep = evaluate(ds, events, args.merge_s, args.grace_s)
    if args.json:
        out = {
            "per_type": rep.per_type,
            "alarms": rep.alarms,
            "false_alarms": rep.false_alarms,
            "false_alarms_per_series_day": rep.false_alarms_per_series_day,
        }
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        sys.stdout.write(format_report(rep, ds, events))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

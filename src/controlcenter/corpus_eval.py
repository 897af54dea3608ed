"""The engine on a labelled corpus of sensor CSV files (SKAB's format), as ``score-csv`` runs.

A corpus is a folder (searched recursively) of CSV files, one experiment each: the first
column the time, then the metrics of one sensor, and label columns ``anomaly`` (1 on every
row of an anomalous period) and optionally ``changepoint`` (1 where a change begins); SKAB
(Skoltech Anomaly Benchmark) is one. Each file is scored exactly as ``controlcenter
score-csv FILE --ignore anomaly,changepoint`` would (one online run, one score per row), and
judged after its first ``probation`` rows (SKAB's leaderboard trains on the first 400):

- event level, at the alarm threshold 0.5: an anomalous period is *found* when a row inside
  it scores 0.5 or more; every maximal run of alarming rows outside the periods is one
  *false-alarm episode* (nothing is merged: a control room sees each of them);
- NAB (``nab.py``) with the periods as windows: at 0.5 and at the best threshold;
- SKAB's changepoint NAB (windows 60 s right of each changepoint, ``nab.skab_changepoints``)
  at 0.5, comparable with the results SKAB publishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from controlcenter import nab
from controlcenter.scorecsv import read_table, score_table

__all__ = ["CorpusReport", "FileResult", "evaluate_corpus", "find_files", "periods"]

LABELS = ("anomaly", "changepoint")


def find_files(root: Path) -> list[Path]:
    """CSV files under ``root`` that carry an ``anomaly`` column, in a stable order."""

    def key(p: Path) -> tuple[str, int, str]:
        stem = p.stem
        return (str(p.parent), int(stem) if stem.isdigit() else -1, stem)

    out = []
    for p in sorted(root.rglob("*.csv"), key=key):
        with p.open(newline="") as f:
            head = f.readline().lower()
        if "anomaly" in head:
            out.append(p)
    return out


def periods(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``(first, last)`` rows of each run of True (inclusive).

    >>> periods(np.array([0, 1, 1, 0, 1], dtype=bool))
    [(1, 2), (4, 4)]
    """
    m = np.concatenate(([0], mask.astype(np.int8), [0]))
    d = np.diff(m)
    starts, ends = np.flatnonzero(d == 1).tolist(), (np.flatnonzero(d == -1) - 1).tolist()
    return list(zip(starts, ends, strict=True))


@dataclass
class FileResult:
    """One file's figures at the alarm threshold."""

    name: str
    rows: int
    found: int
    periods: int
    false_episodes: int
    nab_rows: nab.FileRows
    changepoints: dict[str, tuple[float, float, float]] | None


@dataclass
class CorpusReport:
    """Figures over a corpus (see the module)."""

    files: list[FileResult] = field(default_factory=list)
    threshold: float = 0.5

    @property
    def found(self) -> int:
        return sum(f.found for f in self.files)

    @property
    def periods(self) -> int:
        return sum(f.periods for f in self.files)

    @property
    def false_episodes(self) -> int:
        return sum(f.false_episodes for f in self.files)

    def summary(self) -> dict[str, float]:
        """The headline numbers, flat (for tests, JSON and the table)."""
        n = max(len(self.files), 1)
        rows = [f.nab_rows for f in self.files]
        out: dict[str, float] = {
            "files": float(len(self.files)),
            "periods": float(self.periods),
            "found": float(self.found),
            "recall": self.found / self.periods if self.periods else 0.0,
            "false_episodes": float(self.false_episodes),
            "false_episodes_per_file": self.false_episodes / n,
        }
        for name, v in nab.normalised(rows, self.threshold).items():
            out[f"nab_{name}"] = v
        for name, (v, thr) in nab.optimise(rows).items():
            out[f"nab_{name}_best"] = v
            out[f"nab_{name}_best_threshold"] = thr
        cps = [f.changepoints for f in self.files if f.changepoints is not None]
        if cps:
            for name in nab.PROFILES:
                raw = sum(c[name][0] for c in cps)
                null = sum(c[name][1] for c in cps)
                perfect = sum(c[name][2] for c in cps)
                out[f"skab_cp_{name}"] = (
                    100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0
                )
        return out


def judge(
    name: str,
    time_us: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float64],
    anomaly: npt.NDArray[np.bool_],
    changepoint: npt.NDArray[np.bool_] | None,
    probation: int,
    threshold: float = 0.5,
) -> FileResult:
    """One file's figures from its scores and labels."""
    alarm = scores >= threshold
    spans = periods(anomaly)
    found = sum(1 for lo, hi in spans if alarm[lo : hi + 1].any())
    outside = alarm & ~anomaly
    outside[:probation] = False
    false_episodes = len(periods(outside))
    rows = nab.score_file(scores, spans, probation=probation)
    cps = None
    if changepoint is not None:
        cps = nab.skab_changepoints(
            time_us[probation:], alarm[probation:], changepoint[probation:].astype(int)
        )
    return FileResult(name, len(scores), found, len(spans), false_episodes, rows, cps)


def evaluate_corpus(root: Path, probation: int = 400, threshold: float = 0.5) -> CorpusReport:
    """Score every file of the corpus under ``root`` and judge it."""
    report = CorpusReport(threshold=threshold)
    for path in find_files(root):
        with path.open(newline="") as f:
            table = read_table(f, LABELS)
        scores = score_table(table.time_us, table.values)
        extra = {k.lower(): v for k, v in table.extra.items()}
        anomaly = np.array([_flag(v) for v in extra["anomaly"]], dtype=np.bool_)
        cp = extra.get("changepoint")
        changepoint = None if cp is None else np.array([_flag(v) for v in cp], dtype=np.bool_)
        rel = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
        report.files.append(
            judge(rel, table.time_us, scores, anomaly, changepoint, probation, threshold)
        )
    return report


def _flag(text: str) -> bool:
    try:
        return float(text) >= 0.5
    except ValueError:
        return False


def format_corpus(report: CorpusReport) -> str:
    """The report as Markdown."""
    s = report.summary()
    lines = [
        f"files {int(s['files'])}, anomalous periods {int(s['periods'])}",
        "",
        "| figure | value |",
        "|---|---|",
        f"| periods found at 0.5 | {int(s['found'])} / {int(s['periods'])} ({s['recall']:.1%}) |",
        f"| false-alarm episodes at 0.5 | {int(s['false_episodes'])} "
        f"({s['false_episodes_per_file']:.2f} per file) |",
    ]
    for name in nab.PROFILES:
        lines.append(
            f"| NAB {name}, periods as windows: at 0.5 / best (threshold) | "
            f"{s[f'nab_{name}']:.1f} / {s[f'nab_{name}_best']:.1f} "
            f"({s[f'nab_{name}_best_threshold']:.3f}) |"
        )
    for name in nab.PROFILES:
        if f"skab_cp_{name}" in s:
            lines.append(f"| SKAB changepoint NAB {name} at 0.5 | {s[f'skab_cp_{name}']:.1f} |")
    lines += ["", "| file | rows | found | false-alarm episodes |", "|---|---|---|---|"]
    for f in report.files:
        lines.append(f"| {f.name} | {f.rows} | {f.found}/{f.periods} | {f.false_episodes} |")
    return "\n".join(lines)

"""``controlcenter score-csv [FILE]``: anomaly scores of a sensor's CSV, one per row.

Reads a CSV with a header (FILE or standard input; ``,``, ``;`` or tab, detected from the
header): the first column is the time, every other column a metric of *one* sensor (a
univariate ``timestamp,value`` file is the one-metric case). ``--ignore COL,...`` drops
columns such as labels (SKAB's ``anomaly,changepoint``). Runs the engine online over the
rows, each column a series with the ``generic`` profile and all of them one sensor (so the
relation detector watches how they move together), and prints one score in [0, 1] per
input row, in input order: the largest of its columns' scores. Every score depends only on
the rows before it (a prefix of a file scores exactly as the same rows of the whole file).
A score of 0.5 or more means an anomaly starts (or grows) at that row.

Timestamps accepted:

- ISO 8601 / RFC 3339 (``2024-05-01T12:00:00Z``, ``2024-05-01 12:00:00+09:00``, dates);
  without an offset, UTC is assumed.
- Epoch numbers: seconds (below 1e11), milliseconds (below 1e14) or microseconds, integer
  or fractional.

A cell that is empty or not a number scores 0 and is not learnt; rows that repeat an
earlier timestamp score 0 (the first one counts, like the database's unique key).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly import Engine, EngineConfig
from controlcenter.domain import Batch

__all__ = ["Table", "main", "parse_timestamp", "read_table", "score_rows", "score_table"]

CHUNK_ROWS = 100_000  # bounded memory; results do not depend on the chunking


def parse_timestamp(text: str) -> int:
    """Microseconds since the epoch (UTC) of an ISO 8601 text or an epoch number.

    >>> parse_timestamp("1970-01-01T00:00:01Z"), parse_timestamp("1000"), parse_timestamp("1500.5")
    (1000000, 1000000000, 1500500000)
    >>> parse_timestamp("1714564800000") == parse_timestamp("2024-05-01T12:00:00+00:00")
    True
    """
    s = text.strip()
    try:
        number = float(s)
    except ValueError:
        number = math.nan
    if math.isfinite(number):
        scale = 1e6 if abs(number) < 1e11 else 1e3 if abs(number) < 1e14 else 1.0
        return round(number * scale)
    dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _value(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def score_rows(
    times_us: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    config: EngineConfig | None = None,
) -> npt.NDArray[np.float64]:
    """``float64[n]`` online scores of one series (NaN values score 0 and are skipped)."""
    return score_table(times_us, values.reshape(-1, 1), config)


def score_table(
    times_us: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    config: EngineConfig | None = None,
) -> npt.NDArray[np.float64]:
    """``float64[n]`` online scores of the rows of one sensor, ``values`` ``float64[n, d]``
    (one column per metric; NaN cells score 0 and are skipped): each row's largest.
    ``config``: the engine's settings (default ``EngineConfig()``; its capacity is set here)."""
    n, d = values.shape
    engine = Engine(replace(config or EngineConfig(), capacity=max(d, 1)))
    engine.add_series(np.arange(d), "generic", sensor=np.zeros(d, dtype=np.int64))
    scores = np.zeros((n, d), dtype=np.float64)
    step = max(CHUNK_ROWS // max(d, 1), 1)
    cols = np.arange(d, dtype=np.int32)
    for lo in range(0, n, step):
        block = values[lo : lo + step]
        ok = ~np.isnan(block)
        row, col = np.nonzero(ok)
        batch = Batch(cols[col], times_us[lo + row], block[row, col])
        scores[lo + row, col] = engine.ingest(batch)[0]
    out: npt.NDArray[np.float64] = scores.max(axis=1, initial=0.0)
    return out


@dataclass(frozen=True, slots=True)
class Table:
    """A sensor's CSV in memory: ``time_us`` ``int64[n]``, ``values`` ``float64[n, d]``,
    the metric ``columns`` and the ``extra`` columns dropped by ``ignore`` (as text)."""

    time_us: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    columns: list[str]
    extra: dict[str, list[str]]


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def read_table(stream: TextIO, ignore: Sequence[str] = ()) -> Table:
    """Read a sensor's CSV (see the module); ``ignore`` names columns to set aside."""
    first = stream.readline()
    if not first.strip():
        raise ValueError("empty input: the first line must be a header")
    delim = _delimiter(first)
    header = [h.strip() for h in next(csv.reader([first], delimiter=delim))]
    if len(header) < 2:
        raise ValueError("the header needs a time column and at least one metric column")
    if all(_is_number(h) for h in header[1:]):
        raise ValueError(f"the first line must be a header, got {first.strip()!r}")
    drop = {c.strip().lower() for c in ignore}
    keep = [j for j in range(1, len(header)) if header[j].lower() not in drop]
    extra_cols = [j for j in range(1, len(header)) if header[j].lower() in drop]
    if not keep:
        raise ValueError("no metric column left after --ignore")
    times: list[int] = []
    rows: list[list[float]] = []
    extra: dict[str, list[str]] = {header[j]: [] for j in extra_cols}
    for line, row in enumerate(csv.reader(stream, delimiter=delim), start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < 2:
            raise ValueError(f"line {line}: expected {len(header)} columns, got {len(row)}")
        try:
            times.append(parse_timestamp(row[0]))
        except ValueError as exc:
            raise ValueError(f"line {line}: bad timestamp {row[0]!r}") from exc
        rows.append([_value(row[j]) if j < len(row) else math.nan for j in keep])
        for j in extra_cols:
            extra[header[j]].append(row[j] if j < len(row) else "")
    values = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(keep))
    return Table(np.asarray(times, dtype=np.int64), values, [header[j] for j in keep], extra)


def _is_number(text: str) -> bool:
    return math.isfinite(_value(text))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``controlcenter score-csv [FILE]``; returns the exit status."""
    ap = argparse.ArgumentParser(
        prog="controlcenter score-csv", description=__doc__.split("\n")[0] if __doc__ else None
    )
    ap.add_argument("file", nargs="?", type=Path, help="CSV file (default: standard input)")
    ap.add_argument(
        "--ignore",
        default="",
        metavar="COL,...",
        help="columns that are not metrics (labels), e.g. anomaly,changepoint",
    )
    args = ap.parse_args(argv)
    ignore = [c for c in args.ignore.split(",") if c.strip()]
    try:
        if args.file is None:
            table = read_table(sys.stdin, ignore)
        else:
            with args.file.open(newline="") as f:
                table = read_table(f, ignore)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"controlcenter score-csv: {exc}\n")
        return 2
    scores = score_table(table.time_us, table.values)
    if scores.size:
        sys.stdout.write("\n".join(f"{s:.6f}" for s in scores.tolist()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

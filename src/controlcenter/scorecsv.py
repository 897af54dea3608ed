"""``controlcenter score-csv [FILE]``: anomaly scores of a univariate CSV, one per row.

Reads ``timestamp,value`` rows (header required) from FILE or standard input, runs the
engine online over them as one series with the ``generic`` profile (every score depends only
on the rows up to it, in time order), and prints one score in [0, 1] per input row, in input
order, on standard output. A score of 0.5 or more means a detector fired.

Timestamps accepted:

- ISO 8601 / RFC 3339 (``2024-05-01T12:00:00Z``, ``2024-05-01 12:00:00+09:00``, dates);
  without an offset, UTC is assumed.
- Epoch numbers: seconds (below 1e11), milliseconds (below 1e14) or microseconds, integer
  or fractional.

Rows whose value is empty or not a number score 0 and are not learnt; rows that repeat an
earlier timestamp score 0 (the first one counts, like the database's unique key).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly import Engine, EngineConfig
from controlcenter.domain import Batch

__all__ = ["main", "parse_timestamp", "score_rows"]

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
    times_us: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """``float64[n]`` online scores of one series (NaN values score 0 and are skipped)."""
    engine = Engine(EngineConfig(capacity=1))
    engine.add_series([0], "generic")
    scores = np.zeros(len(values), dtype=np.float64)
    ok = np.flatnonzero(~np.isnan(values))
    for lo in range(0, ok.size, CHUNK_ROWS):
        idx = ok[lo : lo + CHUNK_ROWS]
        batch = Batch(np.zeros(idx.size, dtype=np.int32), times_us[idx], values[idx])
        scores[idx] = engine.ingest(batch)[0]
    return scores


def _read(stream: TextIO) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    rows: Iterable[list[str]] = csv.reader(stream)
    it = iter(rows)
    header = [h.strip().lower() for h in next(it, [])]
    if header[:2] != ["timestamp", "value"]:
        raise ValueError(f"expected the header 'timestamp,value', got {','.join(header)!r}")
    times, values = [], []
    for line, row in enumerate(it, start=2):
        if not row:
            continue
        if len(row) < 2:
            raise ValueError(f"line {line}: expected timestamp,value")
        try:
            times.append(parse_timestamp(row[0]))
        except ValueError as exc:
            raise ValueError(f"line {line}: bad timestamp {row[0]!r}") from exc
        values.append(_value(row[1]))
    return np.asarray(times, dtype=np.int64), np.asarray(values, dtype=np.float64)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``controlcenter score-csv [FILE]``; returns the exit status."""
    ap = argparse.ArgumentParser(
        prog="controlcenter score-csv", description=__doc__.split("\n")[0] if __doc__ else None
    )
    ap.add_argument("file", nargs="?", type=Path, help="CSV file (default: standard input)")
    args = ap.parse_args(argv)
    try:
        if args.file is None:
            times, values = _read(sys.stdin)
        else:
            with args.file.open(newline="") as f:
                times, values = _read(f)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"controlcenter score-csv: {exc}\n")
        return 2
    scores = score_rows(times, values)
    if scores.size:
        sys.stdout.write("\n".join(f"{s:.6f}" for s in scores.tolist()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

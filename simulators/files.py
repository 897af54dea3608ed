"""The file output of ``controlcenter-sim generate`` and its reader for ``replay``.

Format (fixed; the anomaly engine's evaluation reads it):

* ``series.csv``: ``series,site,factory,kind,sensor,metric,unit,capacity``; ``series`` is the
  key ``site/factory/kind/sensor/metric``; ``capacity`` is empty except for parking series.
* ``readings.csv``: ``time_ms,series,value``, sorted by time (then series).
* ``labels.csv``: ``series,start_ms,end_ms,type``, both ends inclusive, sorted by start.
* ``scenario.yaml``: the resolved scenario with its seed and the run's start and duration.
* ``readings.parquet``: the same readings, only when pyarrow is importable.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from simulators.anomaly import Label
from simulators.engine import Simulation
from simulators.kinds import METRICS, Kind

__all__ = ["GenerateStats", "generate", "read_readings", "read_series"]

logger = logging.getLogger(__name__)
SERIES_HEADER = ("series", "site", "factory", "kind", "sensor", "metric", "unit", "capacity")
_FLUSH_ROWS = 1_000_000


@dataclass(frozen=True, slots=True)
class GenerateStats:
    """What ``generate`` wrote.

    Attributes:
        series: Series in series.csv.
        rows: Rows in readings.csv (one per metric value).
        labels: Rows in labels.csv.
    """

    series: int
    rows: int
    labels: int


def _series_rows(sim: Simulation) -> tuple[list[tuple[str, ...]], npt.NDArray[np.str_]]:
    """series.csv rows of the shard, and every series key of the complex by index."""
    lay = sim.layout
    keys: list[str] = []
    rows: list[tuple[str, ...]] = []
    for kind in Kind:
        table = lay.tables[kind]
        keys.extend(lay.series_keys(kind))
        for i in sim.rows.get(kind, np.empty(0, dtype=np.intp)):
            site, factory = lay.gateway(int(table.factory[i])).split("/")
            cap = table.params.get("capacity")
            for metric in table.metrics:
                capacity = str(int(cap[i])) if cap is not None else ""
                key = f"{lay.sensor_path(kind, int(i))}/{metric}"
                unit = METRICS[kind][metric]
                rows.append(
                    (key, site, factory, kind.value, table.names[i], metric, unit, capacity)
                )
    return rows, np.array(keys)


def generate(sim: Simulation, out: Path, duration_s: float) -> GenerateStats:
    """Write ``duration_s`` simulated seconds from ``sim.start_ms`` to directory ``out``.

    Args:
        sim: A fresh simulation (its frames are consumed).
        out: Output directory, created if missing.
        duration_s: Simulated seconds to write.
    """
    out.mkdir(parents=True, exist_ok=True)
    end_ms = sim.start_ms + round(duration_s * 1000)
    series_rows, keys = _series_rows(sim)
    with (out / "series.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(SERIES_HEADER)
        writer.writerows(series_rows)
    frontier = dict.fromkeys(sim.kinds, sim.start_ms)
    pending: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]]
    pending = []
    chunks: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]]
    chunks = []
    rows = 0
    want_parquet = importlib.util.find_spec("pyarrow") is not None
    with (out / "readings.csv").open("w", encoding="utf-8") as fh:
        fh.write("time_ms,series,value\n")
        while any(f < end_ms for f in frontier.values()):
            # Advance the kind that is furthest behind, then flush what no kind can precede.
            kind = min((k for k in frontier if frontier[k] < end_ms), key=frontier.__getitem__)
            frame = sim.next_frame(kind)
            frontier[kind] += len(frame.seq) * sim.interval_ms(kind)
            t, s, v = frame.long(sim.layout.series_offset(kind))
            keep = t < end_ms
            pending.append((t[keep], s[keep], v[keep]))
            horizon = min(min(frontier.values()), end_ms)
            if sum(len(p[0]) for p in pending) >= _FLUSH_ROWS or horizon >= end_ms:
                pending, ready = _split(pending, horizon)
                rows += _write_rows(fh, ready, keys)
                if want_parquet:
                    chunks.append(ready)
        rest = _split(pending, end_ms)[1]
        rows += _write_rows(fh, rest, keys)
        chunks.append(rest)
    labels = sim.take_labels(end_ms - 1, end_ms - 1)
    labels.sort(key=lambda r: (r[1], r[0]))
    _write_labels(out / "labels.csv", labels)
    (out / "scenario.yaml").write_text(sim.scenario.dump(), encoding="utf-8")
    if want_parquet:
        _write_parquet(out / "readings.parquet", chunks, keys)
    return GenerateStats(len(series_rows), rows, len(labels))


Columns = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]


def _split(pending: list[Columns], horizon: int) -> tuple[list[Columns], Columns]:
    """Rows before ``horizon`` sorted by (time, series), and the rest still pending."""
    t = np.concatenate([p[0] for p in pending]) if pending else np.empty(0, np.int64)
    s = np.concatenate([p[1] for p in pending]) if pending else np.empty(0, np.int64)
    v = np.concatenate([p[2] for p in pending]) if pending else np.empty(0, np.float64)
    early = t < horizon
    order = np.lexsort((s[early], t[early]))
    ready = (t[early][order], s[early][order], v[early][order])
    return [(t[~early], s[~early], v[~early])], ready


def _write_rows(fh: object, cols: Columns, keys: npt.NDArray[np.str_]) -> int:
    t, s, v = cols
    if not len(t):
        return 0
    lines = map("%d,%s,%r\n".__mod__, zip(t.tolist(), keys[s].tolist(), v.tolist(), strict=True))
    fh.writelines(lines)  # type: ignore[attr-defined]
    return len(t)


def _write_labels(path: Path, labels: list[Label]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("series", "start_ms", "end_ms", "type"))
        writer.writerows(labels)


def _write_parquet(path: Path, chunks: list[Columns], keys: npt.NDArray[np.str_]) -> None:
    import pyarrow as pa  # type: ignore[import-not-found]  # optional dependency
    import pyarrow.parquet as pq  # type: ignore[import-not-found]

    t = np.concatenate([c[0] for c in chunks]) if chunks else np.empty(0, np.int64)
    s = np.concatenate([c[1] for c in chunks]) if chunks else np.empty(0, np.int64)
    v = np.concatenate([c[2] for c in chunks]) if chunks else np.empty(0, np.float64)
    table = pa.table({"time_ms": t, "series": keys[s], "value": v})
    pq.write_table(table, path)
    logger.info("wrote %s", path)


def read_series(directory: Path) -> list[dict[str, str]]:
    """Rows of ``series.csv`` as dicts."""
    with (directory / "series.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_readings(
    directory: Path, chunk_bytes: int = 16 << 20
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.str_], npt.NDArray[np.float64]]]:
    """``readings.csv`` in chunks of ``(time_ms, series keys, values)`` columns.

    Lines are split with one ``str.split`` per chunk and the numbers converted by numpy, so
    reading costs well under a microsecond per row.
    """
    with (directory / "readings.csv").open(encoding="utf-8") as fh:
        fh.readline()
        while lines := fh.readlines(chunk_bytes):
            cells = "".join(lines).replace("\n", ",").split(",")
            cells.pop()  # after the last line's newline
            if len(cells) % 3:
                raise ValueError(f"{directory / 'readings.csv'}: not three columns per row")
            times = np.array(cells[0::3]).astype(np.int64)
            values = np.array(cells[2::3]).astype(np.float64)
            yield times, np.array(cells[1::3]), values

"""The files of ``controlcenter-sim incident``: readings, labels and positions of a site.

Same format as ``generate`` (``replay`` publishes the directory, ``controlcenter evaluate``
reads it), plus:

* ``labels.csv`` has a fifth column, ``source_factory``: the factory the incident began at;
* ``positions.json``: the site's factories and sensors with ``plan_x``/``plan_y`` (metres
  east and south of the plan's north-west corner) and ``lat``/``lon`` (WGS84, the plan's
  corner at Namdong), as ``controlcenter-sim positions`` writes them;
* ``incident.yaml``: the incidents (type, source, start, duration, metric) and the wind.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simulators.incident import Run
from simulators.kinds import SAFETY_KINDS, SAFETY_METRICS, SAFETY_UNITS
from simulators.scenario import parse_time_ms

__all__ = ["LABEL_HEADER", "write_run"]

LABEL_HEADER = ("series", "start_ms", "end_ms", "type", "source_factory")
_NW = (37.412, 126.680)  # the plan's north-west corner (Namdong)
_R = 6_371_008.8


def _geo(xy: np.ndarray) -> tuple[list[float], list[float]]:
    """WGS84 of plan metres (equirectangular around the corner; exact to < 1 m here)."""
    lat = _NW[0] - np.degrees(xy[:, 1] / _R)
    lon = _NW[1] + np.degrees(xy[:, 0] / (_R * math.cos(math.radians(_NW[0]))))
    return np.round(lat, 7).tolist(), np.round(lon, 7).tolist()


def positions(run: Run) -> dict[str, Any]:
    """The site's positions document (``{"sites": [{site, factories, sensors}]}``)."""
    plan = run.plan
    lat, lon = _geo(plan.factory_xy)
    factories = [
        {"factory": f, "lat": lat[i], "lon": lon[i],
         "plan_x": round(float(plan.factory_xy[i, 0]), 2),
         "plan_y": round(float(plan.factory_xy[i, 1]), 2)}
        for i, f in enumerate(plan.factories)
    ]  # fmt: skip
    sensors = []
    for kind in SAFETY_KINDS:
        xy = plan.sensor_xy[kind]
        s_lat, s_lon = _geo(xy)
        for i, name in enumerate(plan.sensors[kind]):
            sensors.append(
                {"factory": plan.factories[int(plan.sensor_factory[kind][i])], "kind": kind,
                 "sensor": name, "lat": s_lat[i], "lon": s_lon[i],
                 "plan_x": round(float(xy[i, 0]), 2), "plan_y": round(float(xy[i, 1]), 2)}
            )  # fmt: skip
    return {"sites": [{"site": plan.site, "factories": factories, "sensors": sensors}]}


def write_run(run: Run, out: Path) -> int:
    """Write ``run`` under ``out`` (created); the number of reading rows written."""
    out.mkdir(parents=True, exist_ok=True)
    plan = run.plan
    keys: list[str] = []
    times, series, values = [], [], []
    with (out / "series.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("series", "site", "factory", "kind", "sensor", "metric", "unit", "capacity"))
        for kind in SAFETY_KINDS:
            t, v = run.times[kind], run.values[kind]
            for i in range(len(plan.sensors[kind])):
                factory = plan.factories[int(plan.sensor_factory[kind][i])]
                for j, metric in enumerate(SAFETY_METRICS[kind]):
                    key = f"{plan.path(kind, i)}/{metric}"
                    unit = SAFETY_UNITS[kind][metric]
                    w.writerow(
                        (key, plan.site, factory, kind, plan.sensors[kind][i], metric, unit, "")
                    )
                    times.append(t)
                    series.append(np.full(len(t), len(keys)))
                    values.append(v[i, :, j])
                    keys.append(key)
    t_all, s_all, v_all = (np.concatenate(x) for x in (times, series, values))
    order = np.lexsort((s_all, t_all))
    names = np.asarray(keys)
    with (out / "readings.csv").open("w", encoding="utf-8") as fh:
        fh.write("time_ms,series,value\n")
        rows = zip(
            t_all[order].tolist(), names[s_all[order]].tolist(), v_all[order].tolist(), strict=True
        )
        fh.writelines(f"{t},{k},{v!r}\n" for t, k, v in rows)
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(LABEL_HEADER)
        w.writerows(run.labels)
    (out / "positions.json").write_text(json.dumps(positions(run), indent=1) + "\n", "utf-8")
    doc = {
        "site": plan.site,
        "start_ms": int(run.times["weather"][0]),
        "incidents": [
            {
                "type": i.type,
                "source_factory": plan.factories[i.factory],
                "start_ms": i.start_ms,
                "duration_s": round(i.duration_s, 1),
                "metric": i.metric,
            }
            for i in run.incidents
        ],
        "wind": {
            "mean_speed_ms": round(float(run.wind.speed.mean()), 2),
            "start_direction_deg": round(float(run.wind.direction[0]), 1),
        },
    }
    (out / "incident.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return len(order)


def start_ms(text: str | None, default: int) -> int:
    """``--start`` as epoch ms (RFC 3339), or ``default``."""
    return default if text is None else parse_time_ms(text)

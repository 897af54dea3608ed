"""The summaries' safety line: gas and fire alarms, and the worst gas reading.

Safety kinds are those the registry marks ``safety`` (``gas``, ``fire``). The line says
whether any of their alerts is open (``alarm``), counts those alerts per kind, and names the
worst latest reading against its kind's detector set points (the default rules' alarm 1,
alarm 2, ...): the highest level reached, then the largest ratio to alarm 1 (``above``:
value / alarm 1; ``below``, oxygen deficiency: alarm 1 / value).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from controlcenter.alerts import AlertRepository
from controlcenter.api._http import query_timeout
from controlcenter.api.live.index import Selection
from controlcenter.api.routes.readings import latest_values
from controlcenter.api.state import ApiState

__all__ = ["judge", "safety_line"]


def judge(value: float, set_points: list[tuple[str, list[float]]]) -> tuple[int, float]:
    """``(level, ratio)`` of a reading: alarms passed (0: none) and its ratio to alarm 1.

    >>> judge(12.0, [("above", [10.0, 15.0])])
    (1, 1.2)
    >>> judge(17.5, [("below", [19.5, 18.0]), ("above", [23.5])])[0]
    2
    """
    level, ratio = 0, 0.0
    for op, points in set_points:
        if op == "above":
            passed = sum(value > p for p in points)
            r = value / points[0] if points[0] > 0 else math.inf
        else:
            passed = sum(value < p for p in points)
            r = points[0] / value if value > 0 else math.inf
        level, ratio = max(level, passed), max(ratio, r)
    return level, ratio


async def safety_line(state: ApiState, site: str, factory: str | None) -> dict[str, Any]:
    """The safety line of a factory (or of a site with ``factory=None``)."""
    registry = state.kinds.current
    kinds = [k for k in registry.names if (spec := registry.kind(k)) and spec.safety]
    counts: dict[str, int] | None = {}
    if kinds:
        async with query_timeout(state):
            counts = await AlertRepository(state.pool).open_counts("kind", site, factory, kinds)
    by_kind = dict.fromkeys(kinds, 0) | (counts or {})
    worst: dict[str, Any] | None = None
    best = (-1, -1.0)
    state.index.sync()
    for kind in kinds:
        spec = registry.kind(kind)
        for metric, points in (spec.set_points() if spec else {}).items():
            sel = Selection(site=site, factory=factory, kind=kind, metric=metric)
            ids = state.index.select(sel)
            if ids.size == 0:
                continue
            known, _, values, _ = await latest_values(state, ids)
            for sid, v in zip(ids[known].tolist(), values[known].tolist(), strict=True):
                level, ratio = judge(v, points)
                if (level, ratio) > best:
                    best = (level, ratio)
                    key = state.index.key(sid)
                    worst = {
                        "kind": kind,
                        "metric": metric,
                        "factory": key.sensor.factory if key else None,
                        "sensor": key.sensor.sensor if key else None,
                        "value": v,
                        "unit": registry.unit(kind, metric),
                        "set_points": [{"op": op, "at": p} for op, p in points],
                        "level": level,
                        "ratio": ratio if np.isfinite(ratio) else None,
                    }
    return {"alarm": any(by_kind.values()), "alerts": by_kind, "worst": worst}

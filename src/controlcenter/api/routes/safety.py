"""The summaries' safety line: gas and fire alarms, and the worst gas reading.

Safety kinds are those the registry marks ``safety`` (``gas``, ``fire``). The line says
whether any of their alerts is open (``alarm``), counts those alerts per kind, and names the
worst latest reading against its detector set points (alarm 1, alarm 2, ...): the highest
level reached, then the largest ratio to alarm 1 (``above``: value / alarm 1; ``below``,
oxygen deficiency: alarm 1 / value).

A sensor's set points are those of the enabled alert rules on its metric that cover it
(``effective_set_points``): the narrowest scope wins (a sensor's rule over its factory's,
over its site's, over its kind's or the complex's), so a per-site or per-factory override
is what the line measures against; without any such rule, the registry's default rules.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from controlcenter.alerts import AlertRepository, Rule
from controlcenter.api._http import query_timeout
from controlcenter.api.live.index import Selection
from controlcenter.api.routes.readings import latest_values
from controlcenter.api.state import ApiState
from controlcenter.domain import SensorKey

__all__ = ["effective_set_points", "judge", "safety_line"]

SetPoints = list[tuple[str, list[float]]]


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


def effective_set_points(
    rules: list[Rule], key: SensorKey, metric: str
) -> tuple[SetPoints, list[str]] | None:
    """The set points of ``metric`` at sensor ``key`` from the enabled rules that cover it
    (the narrowest scope's, all of them at that scope), and those rules' names; None when
    no enabled threshold rule covers it.

    >>> site_rule = Rule(name="h2s-site", scope={"site": "s1", "kind": "gas"},
    ...                  conditions=[{"metric": "h2s", "raise_at": 5}])
    >>> kind_rule = Rule(name="gas-h2s", scope={"kind": "gas"},
    ...                  conditions=[{"metric": "h2s", "raise_at": 10}])
    >>> effective_set_points([kind_rule, site_rule], SensorKey("s1", "f1", "gas", "g1"), "h2s")
    ([('above', [5.0])], ['h2s-site'])
    >>> effective_set_points([kind_rule, site_rule], SensorKey("s2", "f1", "gas", "g1"), "h2s")
    ([('above', [10.0])], ['gas-h2s'])
    """
    found = [
        (r.scope.specificity, r.name, point)
        for r in rules
        if r.enabled and r.scope.covers(key) and (point := r.set_point(metric)) is not None
    ]
    if not found:
        return None
    narrowest = max(f[0] for f in found)
    chosen = [f for f in found if f[0] == narrowest]
    return [f[2] for f in chosen], [f[1] for f in chosen]


async def safety_line(state: ApiState, site: str, factory: str | None) -> dict[str, Any]:
    """The safety line of a factory (or of a site with ``factory=None``)."""
    registry = state.kinds.current
    kinds = [k for k in registry.names if (spec := registry.kind(k)) and spec.safety]
    counts: dict[str, int] | None = {}
    rules: list[Rule] = []
    if kinds:
        repo = AlertRepository(state.pool)
        async with query_timeout(state):
            counts = await repo.open_counts("kind", site, factory, kinds)
            rules = await repo.rules()
    by_kind = dict.fromkeys(kinds, 0) | (counts or {})
    worst: dict[str, Any] | None = None
    best = (-1, -1.0)
    state.index.sync()
    for kind in kinds:
        spec = registry.kind(kind)
        for metric, defaults in (spec.set_points() if spec else {}).items():
            sel = Selection(site=site, factory=factory, kind=kind, metric=metric)
            ids = state.index.select(sel)
            if ids.size == 0:
                continue
            known, _, values, _ = await latest_values(state, ids)
            for sid, v in zip(ids[known].tolist(), values[known].tolist(), strict=True):
                key = state.index.key(sid)
                found = effective_set_points(rules, key.sensor, metric) if key else None
                points, names = found or (defaults, [])
                level, ratio = judge(v, points)
                if (level, ratio) > best:
                    best = (level, ratio)
                    worst = {
                        "kind": kind,
                        "metric": metric,
                        "factory": key.sensor.factory if key else None,
                        "sensor": key.sensor.sensor if key else None,
                        "value": v,
                        "unit": registry.unit(kind, metric),
                        "set_points": [{"op": op, "at": p} for op, p in points],
                        "rules": names,
                        "level": level,
                        "ratio": ratio if np.isfinite(ratio) else None,
                    }
    return {"alarm": any(by_kind.values()), "alerts": by_kind, "worst": worst}

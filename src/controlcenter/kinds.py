"""Sensor kinds as data: the registry of kinds, their metrics, units, limits and defaults.

The package ships ``kinds.yaml`` (``air``, ``power``, ``parking``, ``gas``, ``fire``, ``odor``,
``water``, ``weather``); the database keeps the registry (table ``sensor_kinds``, revision
0014) and an admin adds or extends a kind through ``POST``/``PUT /api/v1/kinds`` without a
release. Every stage reads one :class:`Registry` snapshot (ingest, catalog, engine, alerts,
API, dashboard, simulators); ``store.KindBook`` owns the current one and refreshes it.

A kind entry (see ``kinds.yaml`` for the full documentation of the fields)::

    {"title": {"en": ..., "ko": ...}, "interval_s": 10,
     "metrics": {"lel": {"unit": "%LEL", "type": "measurement", "limits": [-100, 1000],
                         "engine": {"preset": "trace", "hi": 100, ...}}},
     "rules": [{"name": "gas-lel", "conditions": [{"metric": "lel", "raise_at": 10}], ...}]}

:func:`parse_kind` refuses a bad or contradictory entry with :class:`KindError` and the
reason (the API answers 422 with it).

>>> reg = packaged()
>>> reg.unit("gas", "lel"), reg.limits("gas")["o2"], reg.value_type("fire", "smoke")
('%LEL', (-10.0, 110.0), 'state')
>>> reg.kind("nosuch") is None
True
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import yaml

from controlcenter._kinds_checks import (
    MAX_ABS,
    check_compatible,
    mapping,
    number,
    parse_rules,
    parse_title,
    unique_rule_names,
)
from controlcenter.errors import KindError

__all__ = [
    "ENGINE_KNOBS",
    "KIND_PATTERN",
    "STATE_ENGINE",
    "KindError",
    "KindSpec",
    "MetricSpec",
    "Registry",
    "ValueType",
    "check_rule_names",
    "packaged",
    "parse_kind",
    "parse_registry",
]

ValueType = Literal["measurement", "counter", "state"]
_VALUE_TYPES = ("measurement", "counter", "state")
#: Kind and metric names: they appear in MQTT topics, JSON keys and rule scopes.
#: The shape of a kind or metric name (``KIND_PATTERN`` for request parameters).
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
_NAME = re.compile(KIND_PATTERN[1:-1])
_UNIT = re.compile(r"[^\x00-\x1f]{0,16}")
_MAX_METRICS = 64
_MAX_STATE = 255

#: Engine knobs a metric may set (``anomaly.profile.MetricProfile`` fields) and their type:
#: ``off`` takes a number or null (null: the threshold is off, infinite).
ENGINE_KNOBS: Mapping[str, Literal["off", "float", "int", "bool"]] = {
    "lo": "off",
    "hi": "off",
    "max_rate": "off",
    "monotonic": "bool",
    "min_std": "float",
    "min_rel_std": "float",
    "robust_z": "off",
    "robust_median": "bool",
    "ewma_z": "off",
    "ewma_alpha": "float",
    "ewma_clip": "float",
    "cusum_k": "float",
    "cusum_h": "off",
    "cusum_clip": "float",
    "cusum_alpha": "float",
    "stuck_k": "int",
    "stuck_min_s": "float",
    "stuck_zero_ok": "bool",
    "silence_factor": "float",
    "min_silence_s": "float",
    "rate_min_dt_s": "float",
    "rate_max_dt_s": "float",
    "daily_z": "off",
    "relation": "bool",
    "cal_z": "off",
    "range_k": "off",
    "long_tail": "bool",
    "season_z": "off",
    "season_after_s": "float",
    "stuck_learn": "off",
    "unsure_ewma": "bool",
}
#: What a state metric's engine profile always is: limits, silence, nothing statistical.
STATE_ENGINE: Mapping[str, Any] = {
    "max_rate": None,
    "robust_z": None,
    "ewma_z": None,
    "cusum_h": None,
    "daily_z": None,
    "relation": False,
    "stuck_k": 0,
    "cal_z": None,
}


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric of a kind.

    Attributes:
        unit: the fixed unit gateways report in ("" for a ratio).
        type: ``measurement``, ``counter`` (cumulative) or ``state`` (0..n, alarm on/off).
        lo, hi: physical limits; ingest dead-letters a value outside.
        engine: resolved engine knobs (preset applied; None turns a threshold off).
    """

    unit: str
    type: ValueType
    lo: float
    hi: float
    engine: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The entry as stored and served (presets resolved)."""
        return {
            "unit": self.unit,
            "type": self.type,
            "limits": [self.lo, self.hi],
            "engine": dict(self.engine),
        }


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One sensor kind: its metrics and default alert rules (scoped to the kind)."""

    name: str
    metrics: Mapping[str, MetricSpec]
    rules: tuple[Mapping[str, Any], ...] = ()
    title: Mapping[str, str] = field(default_factory=dict)
    interval_s: float = 10.0
    #: A safety kind (gas, fire): its alarms and readings make the summaries' safety line.
    safety: bool = False

    def set_points(self) -> dict[str, list[tuple[str, list[float]]]]:
        """``{metric: [(op, [alarm 1, alarm 2, ...]), ...]}`` from the kind's default rules
        (each rule's first condition with a fixed threshold; oxygen has a low and a high).

        >>> packaged().kind("gas").set_points()["o2"]
        [('below', [19.5, 18.0]), ('above', [23.5])]
        """
        out: dict[str, list[tuple[str, list[float]]]] = {}
        for rule in self.rules:
            cond = rule["conditions"][0]
            metric, at = cond.get("metric"), cond.get("raise_at")
            if metric is None or at is None or cond.get("relative_to") is not None:
                continue
            points = [float(at), *(float(s["at"]) for s in rule.get("steps", []) or [])]
            out.setdefault(metric, []).append((cond.get("op", "above"), points))
        return out

    def as_json(self) -> dict[str, Any]:
        """The entry as stored in ``sensor_kinds.spec`` and served by the API."""
        return {
            "title": dict(self.title),
            "interval_s": self.interval_s,
            "safety": self.safety,
            "metrics": {m: spec.as_json() for m, spec in self.metrics.items()},
            "rules": [dict(r) for r in self.rules],
        }


class Registry:
    """An immutable snapshot of the sensor kinds; cheap lookups for the hot path.

    ``limits(kind)`` is the mapping ingest checks values against; it is built once per
    snapshot, so a lookup per message costs one dict access.
    """

    def __init__(self, kinds: Mapping[str, KindSpec], version: int = 0) -> None:
        self._kinds = dict(kinds)
        self.version = version
        self._limits = {
            k: {m: (s.lo, s.hi) for m, s in spec.metrics.items()} for k, spec in kinds.items()
        }
        self._units = {k: {m: s.unit for m, s in spec.metrics.items()} for k, spec in kinds.items()}

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    @property
    def names(self) -> tuple[str, ...]:
        """Kind names, in registry order."""
        return tuple(self._kinds)

    def kind(self, name: str) -> KindSpec | None:
        """The kind called ``name``, or None."""
        return self._kinds.get(name)

    def limits(self, kind: str) -> Mapping[str, tuple[float, float]]:
        """``{metric: (lo, hi)}`` of a kind (empty for an unknown kind)."""
        return self._limits.get(kind, {})

    def units(self, kind: str) -> Mapping[str, str]:
        """``{metric: unit}`` of a kind (empty for an unknown kind)."""
        return self._units.get(kind, {})

    def unit(self, kind: str, metric: str) -> str:
        """A metric's unit ("" when unknown)."""
        return self._units.get(kind, {}).get(metric, "")

    def value_type(self, kind: str, metric: str) -> ValueType | None:
        """A metric's value type, or None when the kind or metric is unknown."""
        spec = self._kinds.get(kind)
        m = spec.metrics.get(metric) if spec else None
        return m.type if m else None

    def metric_names(self) -> frozenset[str]:
        """Every metric name of every kind."""
        return frozenset(m for spec in self._kinds.values() for m in spec.metrics)

    def engine_knobs(self) -> dict[str, Mapping[str, Any]]:
        """Engine knobs keyed ``"kind.metric"`` (the engine's profile names)."""
        return {
            f"{k}.{m}": s.engine for k, spec in self._kinds.items() for m, s in spec.metrics.items()
        }

    def as_json(self) -> dict[str, Any]:
        """``{kind: entry}`` of every kind."""
        return {k: spec.as_json() for k, spec in self._kinds.items()}

    def with_kind(self, spec: KindSpec) -> Registry:
        """A new snapshot with ``spec`` added or replaced."""
        kinds = dict(self._kinds)
        kinds[spec.name] = spec
        return Registry(kinds, self.version + 1)


def parse_kind(
    name: str,
    doc: Any,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    previous: KindSpec | None = None,
) -> KindSpec:
    """Validate one kind entry; ``previous`` is the stored entry it replaces.

    A replacement may add metrics and change limits, engine knobs and rules, but not drop
    a metric nor change a metric's unit or value type: stored readings keep their meaning.

    >>> parse_kind("x", {"metrics": {"a": {"unit": "V", "limits": [1, 0]}}})
    Traceback (most recent call last):
    ...
    controlcenter.errors.KindError: x.a: limits must be [lo, hi] with lo < hi, got [1, 0]
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise KindError(f"kind name {str(name)[:40]!r}: 1-32 of [a-z0-9_], starting with a letter")
    doc = mapping(doc, name, {"title", "interval_s", "safety", "metrics", "rules"})
    safety = doc.get("safety", False)
    if not isinstance(safety, bool):
        raise KindError(f"{name}.safety: true or false")
    metrics_doc = mapping(doc.get("metrics"), f"{name}.metrics", None)
    if not metrics_doc:
        raise KindError(f"{name}: a kind needs at least one metric")
    if len(metrics_doc) > _MAX_METRICS:
        raise KindError(f"{name}: at most {_MAX_METRICS} metrics")
    metrics = {m: _parse_metric(f"{name}.{m}", m, d, presets or {}) for m, d in metrics_doc.items()}
    if previous is not None:
        check_compatible(previous, metrics)
    rules = parse_rules(name, doc.get("rules", []), metrics)
    return KindSpec(
        name,
        metrics,
        tuple(rules),
        parse_title(name, doc.get("title", {})),
        number(doc.get("interval_s", 10.0), f"{name}.interval_s", lo=0.1, hi=86_400.0),
        safety,
    )


def parse_registry(doc: Any) -> Registry:
    """The registry of a document ``{"presets": {...}, "kinds": {name: entry}}``."""
    doc = mapping(doc, "registry", {"presets", "kinds"})
    presets = mapping(doc.get("presets", {}), "presets", None)
    for p, knobs in presets.items():
        _engine(f"preset {p}", mapping(knobs, f"preset {p}", None), {})
    kinds = mapping(doc.get("kinds"), "kinds", None)
    parsed = {k: parse_kind(k, entry, presets) for k, entry in kinds.items()}
    unique_rule_names(parsed.values())
    return Registry(parsed)


@functools.cache
def packaged() -> Registry:
    """The registry shipped with the package (``controlcenter/kinds.yaml``)."""
    text = resources.files("controlcenter").joinpath("kinds.yaml").read_text("utf-8")
    return parse_registry(yaml.safe_load(text))


def check_rule_names(kinds: Mapping[str, KindSpec], spec: KindSpec) -> None:
    """Refuse ``spec`` when one of its rule names belongs to another kind's rules."""
    unique_rule_names([*(k for n, k in kinds.items() if n != spec.name), spec])


# -- parts ----------------------------------------------------------------------------------


def _parse_metric(
    where: str, name: Any, doc: Any, presets: Mapping[str, Mapping[str, Any]]
) -> MetricSpec:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise KindError(f"{where}: metric names are 1-32 of [a-z0-9_], starting with a letter")
    doc = mapping(doc, where, {"unit", "type", "limits", "engine"})
    unit = doc.get("unit")
    if not isinstance(unit, str) or not _UNIT.fullmatch(unit):
        raise KindError(f"{where}: unit must be text of at most 16 printable characters")
    vtype = doc.get("type", "measurement")
    if vtype not in _VALUE_TYPES:
        raise KindError(f"{where}: type must be one of {', '.join(_VALUE_TYPES)}, got {vtype!r}")
    limits = doc.get("limits")
    if not isinstance(limits, list) or len(limits) != 2:
        raise KindError(f"{where}: limits must be [lo, hi]")
    lo = number(limits[0], f"{where}.limits", lo=-MAX_ABS, hi=MAX_ABS)
    hi = number(limits[1], f"{where}.limits", lo=-MAX_ABS, hi=MAX_ABS)
    if not lo < hi:
        raise KindError(f"{where}: limits must be [lo, hi] with lo < hi, got {limits}")
    if vtype == "state" and (lo != 0 or hi != int(hi) or hi > _MAX_STATE):
        raise KindError(f"{where}: a state takes limits [0, n], n a whole number <= {_MAX_STATE}")
    engine = _engine(where, mapping(doc.get("engine", {}), f"{where}.engine", None), presets)
    if vtype == "state":
        for knob, off in STATE_ENGINE.items():
            if knob in engine and engine[knob] != off:
                raise KindError(
                    f"{where}: a state is not scored statistically ({knob} must be off)"
                )
        engine = {**engine, **STATE_ENGINE, "lo": lo, "hi": hi}
    if vtype == "counter":
        if engine.get("monotonic") is False:
            raise KindError(f"{where}: a counter is monotonic")
        engine = {**engine, "monotonic": True}
    e_lo, e_hi = engine.get("lo"), engine.get("hi")
    if (e_lo is not None and e_lo < lo) or (e_hi is not None and e_hi > hi):
        raise KindError(f"{where}: engine lo/hi must lie within the limits [{lo:g}, {hi:g}]")
    if e_lo is not None and e_hi is not None and not e_lo < e_hi:
        raise KindError(f"{where}: engine lo must be below engine hi")
    return MetricSpec(unit, vtype, lo, hi, engine)


def _engine(
    where: str, doc: Mapping[str, Any], presets: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    knobs: dict[str, Any] = {}
    if "preset" in doc:
        preset = presets.get(doc["preset"]) if isinstance(doc["preset"], str) else None
        if preset is None:
            raise KindError(f"{where}: unknown engine preset {str(doc['preset'])[:40]!r}")
        knobs.update(preset)
    for knob, value in doc.items():
        if knob == "preset":
            continue
        kind = ENGINE_KNOBS.get(knob)
        if kind is None:
            raise KindError(f"{where}: unknown engine setting {knob[:40]!r}")
        knobs[knob] = _knob(f"{where}.engine.{knob}", kind, value)
    return knobs


def _knob(where: str, kind: str, value: Any) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise KindError(f"{where}: true or false")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
            raise KindError(f"{where}: a whole number in [0, 100000]")
        return value
    if value is None and kind == "off":
        return None
    x = number(value, where, lo=-MAX_ABS, hi=MAX_ABS)
    if kind == "off" and where.rsplit(".", 1)[-1] not in ("lo", "hi") and x <= 0:
        raise KindError(f"{where}: a threshold is positive (null turns it off)")
    if kind == "float" and x < 0:
        raise KindError(f"{where}: must not be negative")
    return x

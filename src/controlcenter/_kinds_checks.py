"""The checks behind :func:`controlcenter.kinds.parse_kind`: shapes, numbers, titles,
default rules and what a replacement may change. Each raises
:class:`~controlcenter.errors.KindError` with the reason."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from controlcenter.errors import KindError

if TYPE_CHECKING:
    from controlcenter.kinds import KindSpec, MetricSpec

__all__ = [
    "MAX_ABS",
    "check_compatible",
    "check_condition",
    "mapping",
    "number",
    "parse_rules",
    "parse_title",
    "unique_rule_names",
    "within",
]

MAX_ABS = 1e15  # every sum a rollup or the engine takes stays finite
_MAX_RULES = 32
_RULE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def parse_rules(kind: str, doc: Any, metrics: Mapping[str, MetricSpec]) -> list[dict[str, Any]]:
    """A kind's default rules, checked against its metrics (scoped to the kind)."""
    if not isinstance(doc, list) or len(doc) > _MAX_RULES:
        raise KindError(f"{kind}.rules: a list of at most {_MAX_RULES} rules")
    rules = []
    for i, rule in enumerate(doc):
        where = f"{kind}.rules[{i}]"
        if not isinstance(rule, dict):
            raise KindError(f"{where}: a rule is an object")
        name = rule.get("name")
        if not isinstance(name, str) or not _RULE_NAME.fullmatch(name):
            raise KindError(f"{where}: name is 1-63 of [a-z0-9_-]")
        scope = rule.get("scope", {})
        if not isinstance(scope, dict) or set(scope) - {"kind"} or scope.get("kind", kind) != kind:
            raise KindError(f"{where} ({name}): a kind's rule applies to its kind only")
        conditions = rule.get("conditions")
        if not isinstance(conditions, list) or not conditions:
            raise KindError(f"{where} ({name}): conditions must be a non-empty list")
        for c in conditions:
            check_condition(f"{where} ({name})", c, metrics)
        for step in rule.get("steps", []) or []:
            first = conditions[0]
            if isinstance(step, dict) and isinstance(first, dict) and first.get("metric"):
                within(f"{where} ({name}) step", step.get("at"), metrics[first["metric"]])
        rules.append({**rule, "scope": {"kind": kind}})
    return rules


def check_condition(where: str, cond: Any, metrics: Mapping[str, MetricSpec]) -> None:
    """Refuse a condition on a metric the kind lacks or a threshold it can never reach."""
    if not isinstance(cond, dict):
        raise KindError(f"{where}: a condition is an object")
    metric = cond.get("metric")
    if metric is None:
        return  # a detector condition; the rule's own validation checks it
    spec = metrics.get(metric) if isinstance(metric, str) else None
    if spec is None:
        raise KindError(f"{where}: {str(metric)[:40]!r} is not a metric of the kind")
    if cond.get("relative_to") is None:
        for key in ("raise_at", "clear_at"):
            if cond.get(key) is not None:
                within(f"{where} {key}", cond[key], spec)


def within(where: str, value: Any, spec: MetricSpec) -> None:
    """Refuse ``value`` outside the metric's limits (it could never be reached)."""
    v = number(value, where, lo=-MAX_ABS, hi=MAX_ABS)
    if not spec.lo <= v <= spec.hi:
        raise KindError(
            f"{where}: {v:g} lies outside the metric's limits [{spec.lo:g}, {spec.hi:g}]"
            " and can never be reached"
        )


def check_compatible(previous: KindSpec, metrics: Mapping[str, MetricSpec]) -> None:
    """Refuse a replacement that drops a metric or changes its unit or type."""
    for m, old in previous.metrics.items():
        new = metrics.get(m)
        where = f"{previous.name}.{m}"
        if new is None:
            raise KindError(f"{where}: a metric cannot be removed (stored readings use it)")
        if new.unit != old.unit:
            raise KindError(f"{where}: the unit stays {old.unit!r} (stored readings use it)")
        if new.type != old.type:
            raise KindError(f"{where}: the value type stays {old.type!r}")


def unique_rule_names(kinds: Any) -> None:
    """Refuse a rule name used twice, within a kind or across kinds."""
    seen: dict[str, str] = {}
    for spec in kinds:
        for rule in spec.rules:
            owner = seen.setdefault(rule["name"], spec.name)
            if owner != spec.name or sum(r["name"] == rule["name"] for r in spec.rules) > 1:
                raise KindError(f"{spec.name}: rule name {rule['name']!r} is taken by {owner}")


def parse_title(kind: str, doc: Any) -> dict[str, str]:
    """The kind's titles by two-letter language code (1-64 characters each)."""
    doc = mapping(doc, f"{kind}.title", None)
    for lang, text in doc.items():
        if not (isinstance(lang, str) and re.fullmatch(r"[a-z]{2}", lang)):
            raise KindError(f"{kind}.title: keys are two-letter language codes")
        if not isinstance(text, str) or not 0 < len(text) <= 64 or "\x00" in text:
            raise KindError(f"{kind}.title.{lang}: 1-64 characters")
    return dict(doc)


def mapping(doc: Any, where: str, keys: set[str] | None) -> dict[str, Any]:
    """``doc`` as an object (None: empty) with only ``keys`` (None: any)."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise KindError(f"{where}: expected an object")
    if keys is not None and (extra := set(doc) - keys):
        raise KindError(f"{where}: unknown field(s) {', '.join(sorted(map(str, extra)))}")
    return doc


def number(value: Any, where: str, *, lo: float, hi: float) -> float:
    """``value`` as a finite float in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise KindError(f"{where}: expected a number, got {str(value)[:40]!r}")
    f = float(value)
    if not math.isfinite(f) or not lo <= f <= hi:
        raise KindError(f"{where}: {value!r} is not a finite number in [{lo:g}, {hi:g}]")
    return f

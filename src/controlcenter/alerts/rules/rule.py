"""Alert rules: what to watch, where, with which thresholds, hysteresis, durations and severity.

A rule is stored as JSON (``alert_rules.definition``) and validated by :class:`Rule`; a bad
rule is refused with the reason (the REST API answers 400 with it; 422 when the JSON does not
fit the rule's schema).

Semantics of one condition (``op="above"``; ``"below"`` mirrors it):

- the condition turns **on** when a reading is ``> raise_at`` and **off** when a reading is
  ``< clear_at``; in between (the hysteresis band) it keeps its state, so a value that
  oscillates around ``raise_at`` turns it on once;
- ``relative_to`` makes the thresholds factors of a reference: the factory's contracted
  power (``contract_kw``) or the car park's latest ``capacity`` reading;
- a detector condition is on while the anomaly engine's detector fires for the series and
  off once a reading arrives without it (silence: the next reading; stuck: a changed value);
- a gateway condition is on while the factory's gateway is ``offline``.

The rule combines its conditions with ``match`` (any-of / all-of), per subject: one series,
one sensor (all its metrics), or one factory (gateway rules). The alert opens once the
combination has held for ``raise_after_s`` and resolves once it has been false for
``clear_after_s`` (reading time). ``steps`` raise the open alert's severity when the first
condition's value passes them.

>>> r = Rule.model_validate({"name": "pm10", "scope": {"kind": "air"},
...     "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}]})
>>> r.per, r.conditions[0].op, r.severity
('series', 'above', 'warning')
>>> Rule.model_validate({"name": "bad", "conditions": [
...     {"metric": "pm10", "raise_at": 80, "clear_at": 90}]})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: ...
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from controlcenter.anomaly import DETECTOR_NAMES
from controlcenter.domain import SensorKey
from controlcenter.kinds import Registry

__all__ = ["Condition", "Rule", "Scope", "Severity", "Step"]

_NAME = r"^[a-z][a-z0-9_]{0,31}$"  # kind and metric names (``controlcenter.kinds``)
_SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_CODE = r"^[^/#+\s\x00]{1,64}$"  # codes appear in MQTT topics; JSON in PostgreSQL has no NUL


class Severity(IntEnum):
    """Alert severities, ordered."""

    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        """Lower-case name (database, API, messages)."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """The severity named ``text``."""
        return cls[text.upper()]


SeverityName = Literal["info", "warning", "critical"]


class _Model(BaseModel):
    # Rules are stored as JSON in PostgreSQL: no NaN or infinities.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Scope(_Model):
    """Where a rule applies: every field left empty widens it (all empty: the whole complex)."""

    site: str | None = Field(None, pattern=_CODE)
    factory: str | None = Field(None, pattern=_CODE)
    kind: str | None = Field(None, pattern=_NAME)
    sensor: str | None = Field(None, pattern=_CODE)

    @model_validator(mode="after")
    def _narrowing(self) -> Scope:
        if self.factory is not None and self.site is None:
            raise ValueError("scope.factory needs scope.site")
        if self.sensor is not None and (self.factory is None or self.kind is None):
            raise ValueError("scope.sensor needs scope.factory and scope.kind")
        return self

    def covers(self, key: SensorKey) -> bool:
        """True when the rule applies to the sensor ``key`` (every set field matches it)."""
        return (
            self.site in (None, key.site)
            and self.factory in (None, key.factory)
            and self.kind in (None, key.kind)
            and self.sensor in (None, key.sensor)
        )

    @property
    def specificity(self) -> tuple[bool, bool, bool, bool]:
        """How narrow the scope is: a sensor's beats a factory's, a site's, a kind's, the
        complex's (compare as tuples)."""
        return (
            self.sensor is not None,
            self.factory is not None,
            self.site is not None,
            self.kind is not None,
        )


class Condition(_Model):
    """One condition: a metric threshold, an anomaly detector, or a gateway going offline."""

    metric: str | None = Field(None, pattern=_NAME)
    detector: str | None = None
    gateway: Literal["offline"] | None = None
    op: Literal["above", "below"] = "above"
    raise_at: float | None = None
    clear_at: float | None = None
    relative_to: Literal["contract_kw", "capacity"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Condition:
        if self.gateway is not None:
            if self.metric or self.detector or self.raise_at is not None:
                raise ValueError("a gateway condition takes no metric, detector or threshold")
            return self
        if self.metric is None and self.detector is None:
            raise ValueError("a condition needs a metric, a detector or a gateway")
        if self.detector is not None:
            if self.detector not in DETECTOR_NAMES:
                raise ValueError(f"unknown detector {self.detector!r}; one of {DETECTOR_NAMES}")
            if self.raise_at is not None or self.relative_to is not None:
                raise ValueError("a detector condition takes no threshold")
            return self
        if self.raise_at is None:
            raise ValueError("a metric condition needs raise_at")
        clear = self.raise_at if self.clear_at is None else self.clear_at
        if (self.op == "above" and clear > self.raise_at) or (
            self.op == "below" and clear < self.raise_at
        ):
            side = "<=" if self.op == "above" else ">="
            raise ValueError(f"clear_at must be {side} raise_at for op {self.op!r} (hysteresis)")
        if self.relative_to == "contract_kw" and self.metric != "kw":
            raise ValueError("relative_to contract_kw applies to the kw metric only")
        if self.relative_to == "capacity" and self.metric != "occupied":
            raise ValueError("relative_to capacity applies to the occupied metric only")
        return self

    @property
    def clear(self) -> float:
        """``clear_at``, defaulting to ``raise_at`` (no hysteresis band)."""
        if self.clear_at is not None:
            return self.clear_at
        return self.raise_at if self.raise_at is not None else 0.0


class Step(_Model):
    """The alert's severity becomes ``severity`` once the first condition passes ``at``."""

    at: float
    severity: SeverityName


class Rule(_Model):
    """A validated alert rule (see the module docstring for its semantics).

    ``id`` is the database id (None before the rule is stored).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "pm10-grade",
                    "scope": {"site": "namdong", "kind": "air"},
                    "conditions": [
                        {"metric": "pm10", "op": "above", "raise_at": 80, "clear_at": 70}
                    ],
                    "severity": "warning",
                    "steps": [{"at": 150, "severity": "critical"}],
                    "clear_after_s": 300,
                }
            ]
        }
    )

    id: int | None = None
    name: str = Field(pattern=_SLUG)
    description: str = Field("", max_length=500, pattern=r"^[^\x00]*$")
    enabled: bool = True
    scope: Scope = Scope()
    match: Literal["any", "all"] = "any"
    per: Literal["series", "sensor", "factory"] | None = None
    conditions: tuple[Condition, ...] = Field(min_length=1, max_length=8)
    severity: SeverityName = "warning"
    steps: tuple[Step, ...] = ()
    raise_after_s: float = Field(0.0, ge=0, le=7 * 86_400)
    clear_after_s: float = Field(0.0, ge=0, le=7 * 86_400)
    escalate_after_s: float | None = Field(None, gt=0, le=7 * 86_400)
    # Pages to the people on call repeat this often until the alert is acknowledged.
    page_repeat_s: float | None = Field(None, ge=10, le=86_400)

    @model_validator(mode="before")
    @classmethod
    def _default_per(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("per") is None:
            conds = data.get("conditions") or []
            data = dict(data)
            if any(isinstance(c, dict) and c.get("gateway") for c in conds):
                data["per"] = "factory"
            else:
                # repr: a malformed metric (a list) must reach the field's own validation.
                metrics = {repr(c.get("metric")) for c in conds if isinstance(c, dict)}
                data["per"] = "series" if len(metrics) == 1 else "sensor"
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        gateway = [c for c in self.conditions if c.gateway is not None]
        if gateway and (len(self.conditions) > 1 or self.per != "factory"):
            raise ValueError("a gateway rule has exactly one condition and per='factory'")
        if not gateway and self.per == "factory":
            raise ValueError("per='factory' is for gateway rules")
        if self.per == "series" and len({c.metric for c in self.conditions}) > 1:
            raise ValueError("conditions on different metrics need per='sensor'")
        if gateway and (self.scope.kind is not None or self.scope.sensor is not None):
            raise ValueError("a gateway rule is scoped to the complex, a site or a factory")
        self._check_steps()
        return self

    def check_kinds(self, registry: Registry) -> None:
        """Refuse a rule on a kind or metric the sensor-kind registry does not know.

        Raises:
            ValueError: with the reason (the API answers 400 with it).
        """
        if self.scope.kind is not None and self.scope.kind not in registry:
            raise ValueError(f"unknown sensor kind {self.scope.kind!r}")
        spec = registry.kind(self.scope.kind) if self.scope.kind else None
        known = spec.metrics if spec is not None else registry.metric_names()
        for c in self.conditions:
            if c.metric is not None and c.metric not in known:
                where = f"a {self.scope.kind} metric" if spec is not None else "a known metric"
                raise ValueError(f"metric {c.metric!r} is not {where}")

    def _check_steps(self) -> None:
        if not self.steps:
            return
        first = self.conditions[0]
        if first.raise_at is None:
            raise ValueError("steps need a threshold condition first")
        base = Severity.parse(self.severity)
        sign = 1.0 if first.op == "above" else -1.0
        prev_at, prev_sev = first.raise_at, base
        for step in self.steps:
            sev = Severity.parse(step.severity)
            if sign * step.at <= sign * prev_at or sev <= prev_sev:
                raise ValueError("steps must go further than raise_at and up in severity, in order")
            prev_at, prev_sev = step.at, sev

    def set_point(self, metric: str) -> tuple[str, list[float]] | None:
        """``(op, [raise_at, step, ...])`` when the rule's first condition is a fixed
        threshold on ``metric`` (as the registry's ``KindSpec.set_points`` reads a default
        rule), else None.

        >>> Rule(name="h2s", conditions=[{"metric": "h2s", "raise_at": 5}], severity="warning",
        ...      steps=[{"at": 8, "severity": "critical"}]).set_point("h2s")
        ('above', [5.0, 8.0])
        """
        first = self.conditions[0]
        if first.metric != metric or first.raise_at is None or first.relative_to is not None:
            return None
        return first.op, [float(first.raise_at), *(float(s.at) for s in self.steps)]

    @property
    def base_severity(self) -> Severity:
        """The severity an alert opens with."""
        return Severity.parse(self.severity)

    @property
    def is_gateway(self) -> bool:
        """True for a gateway-offline rule (evaluated by polling, not per batch)."""
        return self.per == "factory"

    def definition(self) -> dict[str, Any]:
        """The JSON stored in ``alert_rules.definition`` (everything but id and name)."""
        return self.model_dump(mode="json", exclude={"id", "name", "enabled"})

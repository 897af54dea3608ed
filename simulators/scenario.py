"""Scenario files: the industrial complex to simulate, as YAML.

A scenario names the sites, the six root industries with their shift patterns, how many
factories of which sizes, how often each anomaly is injected, and the seed. The factory table
is drawn from the seed, so a scenario file plus its seed always gives the same complex.
``resolved()`` returns the scenario with every override applied, which ``generate`` writes
next to its output so a run can be reproduced exactly.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from simulators.kinds import METRICS, Kind

__all__ = [
    "ANOMALY_TYPES",
    "DEFAULT_SCENARIO",
    "Scenario",
    "ScenarioError",
    "load_scenario",
]

#: The anomaly types of labels.csv, in a fixed order.
ANOMALY_TYPES = (
    "spike",
    "level_shift",
    "drift",
    "stuck",
    "dropout",
    "impossible",
    "gateway_offline",
    "dust_event",
)
DEFAULT_SCENARIO = "namdong"
# The sensor kinds a factory gets, in turn, when --sensors-per-factory replaces the sizes.
_KIND_CYCLE = (Kind.POWER, Kind.AIR, Kind.PARKING, Kind.POWER, Kind.AIR, Kind.POWER)


class ScenarioError(ValueError):
    """A scenario file or an override that cannot describe a complex."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed scenario; ``data`` is the resolved YAML mapping.

    Attributes:
        data: The scenario as plain YAML data, with every override applied.
    """

    data: dict[str, Any]

    @property
    def name(self) -> str:
        """Scenario name."""
        return str(self.data.get("name", "scenario"))

    @property
    def seed(self) -> int:
        """Seed of every random draw (layout, signals, anomalies)."""
        return int(self.data["seed"])

    @property
    def utc_offset_h(self) -> float:
        """Local time offset of the complex from UTC, in hours."""
        return float(self.data.get("utc_offset_h", 9))

    @property
    def start_ms(self) -> int:
        """Start of simulated time for ``generate``, epoch milliseconds."""
        return parse_time_ms(str(self.data["start"]))

    @property
    def duration_s(self) -> float:
        """Length of a ``generate`` run in simulated seconds."""
        return float(self.data.get("duration_s", 86400))

    def interval_ms(self, kind: Kind) -> int:
        """Sampling interval of the sensors of ``kind``, milliseconds (at least 1)."""
        return max(1, round(float(self.data["intervals_s"][kind.value]) * 1000))

    @property
    def sites(self) -> list[dict[str, Any]]:
        """Sites (``id``, ``weight``)."""
        return list(self.data["sites"])

    @property
    def industries(self) -> dict[str, dict[str, Any]]:
        """Industries by name with their shifts and emission factors."""
        return dict(self.data["industries"])

    @property
    def factories(self) -> dict[str, Any]:
        """The factory section (``count``, ``sizes``, optional ``sensors_per_factory``)."""
        return dict(self.data["factories"])

    @property
    def anomalies(self) -> dict[str, dict[str, Any]]:
        """Anomaly rates and durations by type."""
        return {k: dict(v) for k, v in (self.data.get("anomalies") or {}).items()}

    def kinds_per_factory(self, size: str) -> dict[Kind, int]:
        """How many sensors of each kind a factory of ``size`` has."""
        per = self.factories.get("sensors_per_factory")
        if per:
            counts = dict.fromkeys(Kind, 0)
            for i in range(int(per)):
                counts[_KIND_CYCLE[i % len(_KIND_CYCLE)]] += 1
            return counts
        spec = self.factories["sizes"][size]
        return {kind: int(spec.get(kind.value, 0)) for kind in Kind}

    def mean_series_per_factory(self) -> float:
        """Expected number of series (sensor metrics) of one factory."""
        sizes = self.factories["sizes"]
        total_w = sum(float(s["weight"]) for s in sizes.values())
        mean = 0.0
        for name, spec in sizes.items():
            counts = self.kinds_per_factory(name)
            series = sum(n * _metric_count(k) for k, n in counts.items())
            mean += float(spec["weight"]) / total_w * series
        return mean

    def with_overrides(
        self,
        *,
        seed: int | None = None,
        factories: int | None = None,
        sensors_per_factory: int | None = None,
        series: int | None = None,
        start: str | None = None,
        duration_s: float | None = None,
        intervals_s: dict[str, float] | None = None,
        anomaly_scale: float | None = None,
    ) -> Scenario:
        """A copy with command-line overrides applied (``None`` keeps the file's value).

        ``series`` picks the factory count that gives about that many series;
        ``anomaly_scale`` multiplies every anomaly rate (0 disables injection).
        """
        data = copy.deepcopy(self.data)
        if seed is not None:
            data["seed"] = int(seed)
        if sensors_per_factory is not None:
            if sensors_per_factory < 1:
                raise ScenarioError("--sensors-per-factory must be at least 1")
            data["factories"]["sensors_per_factory"] = int(sensors_per_factory)
        if factories is not None:
            data["factories"]["count"] = int(factories)
        if series is not None:
            per = Scenario(data).mean_series_per_factory()
            data["factories"]["count"] = max(1, math.ceil(series / per))
        if start is not None:
            parse_time_ms(start)
            data["start"] = start
        if duration_s is not None:
            data["duration_s"] = float(duration_s)
        if intervals_s:
            data["intervals_s"] = {**data["intervals_s"], **intervals_s}
        if anomaly_scale is not None:
            data["anomaly_scale"] = float(anomaly_scale)
        out = Scenario(data)
        out.validate()
        return out

    def validate(self) -> None:
        """Raise ScenarioError when the scenario cannot describe a complex."""
        try:
            if int(self.factories["count"]) < 1:
                raise ScenarioError("factories.count must be at least 1")
            if not self.sites or not self.industries or not self.factories["sizes"]:
                raise ScenarioError("sites, industries and factories.sizes must not be empty")
            for kind in Kind:
                self.interval_ms(kind)
            for name in self.anomalies:
                if name not in ANOMALY_TYPES:
                    raise ScenarioError(f"unknown anomaly type {name!r}")
            self.start_ms  # noqa: B018 -- parses, raising on a bad time
        except (KeyError, TypeError) as exc:
            raise ScenarioError(f"incomplete scenario: {exc}") from exc

    def dump(self) -> str:
        """The resolved scenario as YAML text."""
        return yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True)


def _metric_count(kind: Kind) -> int:
    return len(METRICS[kind])


def parse_time_ms(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 time (a naive time is taken as UTC)."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ScenarioError(f"not an RFC 3339 time: {text!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return round(when.timestamp() * 1000)


def load_scenario(source: str | Path | None = None) -> Scenario:
    """Load a scenario by file path, or by the name of a shipped one (default ``namdong``).

    Args:
        source: A YAML file path, a shipped scenario's name, or None for the default.

    Raises:
        ScenarioError: The file is missing, not YAML, or incomplete.
    """
    name = DEFAULT_SCENARIO if source is None else str(source)
    path = Path(name)
    try:
        if path.suffix in {".yaml", ".yml"} or path.exists():
            text = path.read_text(encoding="utf-8")
        else:
            shipped = resources.files("simulators") / "scenarios" / f"{name}.yaml"
            text = shipped.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"cannot read scenario {name!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario {name!r} is not a mapping")
    scenario = Scenario(data)
    scenario.validate()
    return scenario

"""The sensor kinds these simulators model, with their metrics and units from the registry.

Metric names, their order in a payload and their units come from the package's sensor-kind
registry (``controlcenter.kinds``); which kinds have a signal model is the simulators' own
business (``signal.py``, ``layout.py``).

>>> METRICS[Kind.PARKING]
{'occupied': 'spaces', 'capacity': 'spaces'}
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from controlcenter.kinds import packaged

__all__ = [
    "METRICS",
    "METRIC_LIMITS",
    "SAFETY_KINDS",
    "SAFETY_LIMITS",
    "SAFETY_METRICS",
    "SAFETY_UNITS",
    "Kind",
]


class Kind(StrEnum):
    """The kinds with a signal model here."""

    AIR = "air"
    POWER = "power"
    PARKING = "parking"


#: Metrics per simulated kind and their units, in registry order.
METRICS: Mapping[Kind, Mapping[str, str]] = {k: dict(packaged().units(k)) for k in Kind}
#: Physical limits per simulated kind and metric (what ingest accepts).
METRIC_LIMITS: Mapping[Kind, Mapping[str, tuple[float, float]]] = {
    k: dict(packaged().limits(k)) for k in Kind
}


#: The safety and environment kinds (gas, fire, odour, effluent, weather): metrics in
#: registry order. Their signals live in ``safety.py``, not in the complex's streams.
SAFETY_KINDS: tuple[str, ...] = ("gas", "fire", "odor", "water", "weather")
SAFETY_METRICS: Mapping[str, tuple[str, ...]] = {
    k: tuple(packaged().units(k)) for k in SAFETY_KINDS
}
SAFETY_UNITS: Mapping[str, Mapping[str, str]] = {k: dict(packaged().units(k)) for k in SAFETY_KINDS}
SAFETY_LIMITS: Mapping[str, Mapping[str, tuple[float, float]]] = {
    k: dict(packaged().limits(k)) for k in SAFETY_KINDS
}

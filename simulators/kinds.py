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

__all__ = ["METRICS", "METRIC_LIMITS", "Kind"]


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

"""Anomaly engine: ring-buffer windows and vectorised detectors, pure numpy.

Public names: :class:`Engine` and :class:`EngineConfig` (the engine), :class:`Events` and
:class:`Detector` (what it reports), :class:`MetricProfile` and :data:`DEFAULT_PROFILES`
(detector settings per metric), :class:`WindowStore` (the state), and
:class:`ReferenceEngine` (the one-reading-at-a-time specification the engine is tested against).
"""

from controlcenter.anomaly.engine import Engine, EngineConfig
from controlcenter.anomaly.events import DETECTOR_NAMES, Detector, Events, severity_to_score
from controlcenter.anomaly.profile import (
    DEFAULT_PROFILES,
    GENERIC,
    MetricProfile,
    profile_for,
)
from controlcenter.anomaly.reference import ReferenceEngine
from controlcenter.anomaly.window import WindowStore

__all__ = [
    "DEFAULT_PROFILES",
    "DETECTOR_NAMES",
    "GENERIC",
    "Detector",
    "Engine",
    "EngineConfig",
    "Events",
    "MetricProfile",
    "ReferenceEngine",
    "WindowStore",
    "profile_for",
    "severity_to_score",
]

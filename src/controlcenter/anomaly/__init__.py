"""Anomaly engine: ring-buffer windows and vectorised detectors, pure numpy.

How the pipeline drives it (one engine per worker, series ids are the catalog's dense ids)::

    engine = Engine(EngineConfig(window=256, refresh=64))          # profiles: DEFAULT_PROFILES
    engine.add_series(ids, ["air.pm25", ...], hi=capacities)       # at start and for new series
    need = engine.unknown(batch.series)                            # after each committed batch
    if need.size:                                                  # warm start from the DB:
        engine.prime(last_w_readings_before_the_batch(need))       # no events
        engine.mark_primed(need)                                   # also those with no history
    scores, events = engine.ingest(batch)                          # float64[n], Events
    silence = engine.sweep(now_us)                                 # every ~15 s, O(S)

Public names: :class:`Engine` and :class:`EngineConfig` (the engine), :class:`Events` and
:class:`Detector` (what it reports), :class:`MetricProfile`, :data:`DEFAULT_PROFILES`,
:data:`GENERIC` and :func:`profile_for` (detector settings per metric), :class:`WindowStore`
(the state), :class:`ReferenceEngine` (the one-reading-at-a-time specification the engine is
tested against) and :func:`severity_to_score`.
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

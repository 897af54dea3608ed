"""The live stage: the hub (latest value per series, coalesced websocket frames, the alert
fan-out), the series index it selects with, the re-check of open sessions' keys, and the
broker feed that fills the hub from MQTT (replicas, shared-subscription workers).

It decodes with :mod:`controlcenter.wire`, never with ingest, and knows no pipeline: the
composer hands it committed batches (``LiveHub.on_batch``) or runs its feed.
"""

from controlcenter.api.live.feed import ReplicaFeed
from controlcenter.api.live.hub import TOO_SLOW, AlertClient, LiveClient, LiveHub
from controlcenter.api.live.index import Selection, SeriesIndex
from controlcenter.api.live.sessions import Sessions

__all__ = [
    "TOO_SLOW",
    "AlertClient",
    "LiveClient",
    "LiveHub",
    "ReplicaFeed",
    "Selection",
    "SeriesIndex",
    "Sessions",
]

"""Ingest: batching and the MQTT consumer (no storage knowledge); topics and payloads are
decoded by :mod:`controlcenter.wire`."""

from controlcenter.ingest.batch import Batcher, IngestBatch, Source
from controlcenter.ingest.consumer import Consumer

__all__ = ["Batcher", "Consumer", "IngestBatch", "Source"]

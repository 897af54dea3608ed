"""Ingest: topics, payload decoding, batching and the MQTT consumer (no storage knowledge)."""

from controlcenter.ingest.batch import Batcher, IngestBatch, Source
from controlcenter.ingest.consumer import Consumer
from controlcenter.ingest.payload import Decoded, PayloadDecoder
from controlcenter.ingest.topic import StatusTopic, TopicParser, reading_topic, status_topic

__all__ = [
    "Batcher",
    "Consumer",
    "Decoded",
    "IngestBatch",
    "PayloadDecoder",
    "Source",
    "StatusTopic",
    "TopicParser",
    "reading_topic",
    "status_topic",
]

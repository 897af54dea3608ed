"""The MQTT contract v1 on the wire: topics (:class:`TopicParser`, :func:`reading_topic`,
:func:`status_topic`) and payload decoding (:class:`PayloadDecoder`); the live relay
between workers of a shared subscription (:mod:`controlcenter.wire.relay`).

Ingest stores what it decodes; a replica's live feed decodes the same messages for its
hub, and the hub beside a sharing worker reads the other workers' relayed batches. All
use this package, so none imports another.
"""

from controlcenter.wire.payload import Decoded, PayloadDecoder
from controlcenter.wire.relay import (
    decode_batch,
    encode_batch,
    relay_subscription,
    relay_topic,
)
from controlcenter.wire.topic import (
    ALERTS_SEGMENT,
    StatusTopic,
    TopicParser,
    reading_topic,
    status_topic,
)

__all__ = [
    "ALERTS_SEGMENT",
    "Decoded",
    "PayloadDecoder",
    "StatusTopic",
    "TopicParser",
    "decode_batch",
    "encode_batch",
    "reading_topic",
    "relay_subscription",
    "relay_topic",
    "status_topic",
]

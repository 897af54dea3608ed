"""The MQTT contract v1 on the wire: topics (:class:`TopicParser`, :func:`reading_topic`,
:func:`status_topic`) and payload decoding (:class:`PayloadDecoder`).

Ingest stores what it decodes; the API's live feed decodes the same messages for the hub.
Both use this package, so neither imports the other.
"""

from controlcenter.wire.payload import Decoded, PayloadDecoder
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
    "reading_topic",
    "status_topic",
]

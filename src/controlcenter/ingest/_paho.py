"""A cheaper paho-mqtt ``Properties`` for the MQTT 5 packets the consumer decodes.

paho-mqtt 2.x decodes every MQTT 5 PUBLISH into a new ``Properties`` whose constructor
rebuilds its lookup tables (two dicts of 27 entries and 30 list searches) and whose
``unpack`` first clears all 27 possible names, one ``hasattr`` each, on an object that has
none. py-spy put a quarter of the service's CPU there at 5,000 messages/s
(``bench/ingest.py``). :class:`SharedTableProperties` shares one copy of those tables, which
paho only ever reads, and clears only the properties that are set. paho's decoder looks
``Properties`` up in its ``_packet`` module at call time, so :func:`install` puts the
subclass there; nothing else changes (tests/ingest/test_paho.py decodes real properties
through both).
"""

from __future__ import annotations

from typing import Any

import paho.mqtt._packet as paho_packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["SharedTableProperties", "install"]

_TEMPLATE = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
_OWN = frozenset(("packetType", "types", "names", "properties"))


class SharedTableProperties(Properties):
    """``Properties`` with paho's read-only lookup tables shared by every instance.

    >>> p = SharedTableProperties(PacketTypes.PUBLISH)
    >>> p.names is SharedTableProperties(PacketTypes.PUBACK).names
    True
    """

    def __init__(self, packetType: int) -> None:  # noqa: N803 - paho's name
        own: dict[str, Any] = self.__dict__
        own["packetType"] = packetType
        own["types"] = _TEMPLATE.types
        own["names"] = _TEMPLATE.names
        own["properties"] = _TEMPLATE.properties

    def clear(self) -> None:
        """Forget the properties that are set (paho's walks all 27 names)."""
        for name in [k for k in self.__dict__ if k not in _OWN]:
            del self.__dict__[name]


def install() -> None:
    """Decode MQTT 5 packets with :class:`SharedTableProperties` (idempotent)."""
    paho_packet.Properties = SharedTableProperties  # type: ignore[attr-defined]

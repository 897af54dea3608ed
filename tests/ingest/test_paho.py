"""The shared-table MQTT 5 properties decode exactly what paho's own do."""

from __future__ import annotations

import struct

import paho.mqtt._packet as paho_packet
import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from controlcenter.ingest._paho import SharedTableProperties, install


def _publish_packet(props: Properties | None, payload: bytes = b'{"ts": 1}') -> bytes:
    topic = b"cc/v1/namdong/f001/air/aq1"
    packed = props.pack() if props is not None else b"\x00"
    return struct.pack("!H", len(topic)) + topic + struct.pack("!H", 7) + packed + payload


def _decode(packet: bytes, cls: type) -> paho_packet.PublishPacket:
    before = paho_packet.Properties
    paho_packet.Properties = cls
    try:
        return paho_packet.decode_publish(0x32, packet, MQTTProtocolVersion.MQTTv5)
    finally:
        paho_packet.Properties = before


@pytest.mark.parametrize("with_props", [True, False])
def test_shared_table_properties_decode_like_paho(with_props):
    props = None
    if with_props:
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = 60
        props.ContentType = "application/json"
        props.UserProperty = [("gateway", "gw-7"), ("fw", "2.1")]
    packet = _publish_packet(props)
    ours = _decode(packet, SharedTableProperties)
    theirs = _decode(packet, Properties)
    assert isinstance(ours.properties, SharedTableProperties)
    assert ours.properties.json() == theirs.properties.json()
    assert (ours.topic, ours.mid, ours.payload) == (theirs.topic, theirs.mid, theirs.payload)
    if with_props:
        assert ours.properties.UserProperty == [("gateway", "gw-7"), ("fw", "2.1")]


def test_unpacking_again_clears_what_was_set():
    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = "text/plain"
    decoded = SharedTableProperties(PacketTypes.PUBLISH)
    decoded.unpack(props.pack())
    assert decoded.ContentType == "text/plain"
    decoded.unpack(b"\x00")
    assert not hasattr(decoded, "ContentType")
    assert decoded.isEmpty()


def test_install_makes_paho_decode_with_the_shared_tables():
    before = paho_packet.Properties
    try:
        install()
        got = paho_packet.decode_publish(0x32, _publish_packet(None), MQTTProtocolVersion.MQTTv5)
        assert type(got.properties) is SharedTableProperties
    finally:
        paho_packet.Properties = before

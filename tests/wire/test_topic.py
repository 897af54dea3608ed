import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlcenter.domain import SensorKey
from controlcenter.errors import PayloadError
from controlcenter.kinds import packaged
from controlcenter.wire.topic import StatusTopic, TopicParser, reading_topic

_code = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", min_size=1, max_size=64
)


@given(site=_code, factory=_code, kind=st.sampled_from(packaged().names), sensor=_code)
def test_reading_topics_round_trip(site, factory, kind, sensor):
    key = SensorKey(site, factory, kind, sensor)
    if site == "alerts":
        return
    assert TopicParser("cc").parse(reading_topic("cc", key)) == key


def test_status_and_alert_topics_are_classified():
    p = TopicParser("cc")
    assert p.parse("cc/v1/namdong/f001/status") == StatusTopic("namdong", "f001")
    assert p.parse("cc/v1/alerts/namdong/f001/pm25") is None


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("cc/v1/namdong/f001/air", "bad_topic"),
        ("cc/v1/namdong/f001/air/aq1/extra", "bad_topic"),
        ("cc/v1/namdong//air/aq1", "bad_topic"),
        ("cc/v1/nam dong/f001/air/aq1", "bad_topic"),
        ("other/v1/namdong/f001/air/aq1", "bad_topic"),
        ("cc/v1/namdong/f001/sewage/w1", "unknown_kind"),
    ],
)
def test_malformed_topics_are_rejected_with_a_reason(topic, reason):
    with pytest.raises(PayloadError) as info:
        TopicParser("cc").parse(topic)
    assert info.value.reason == reason


def test_multi_level_roots_are_supported():
    p = TopicParser("city/incheon")
    assert p.subscription == "city/incheon/v1/#"
    assert p.parse("city/incheon/v1/s/f/power/m").kind == "power"

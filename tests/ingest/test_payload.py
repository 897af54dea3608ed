import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlcenter.config import IngestSettings
from controlcenter.domain import METRICS, Kind
from controlcenter.errors import PayloadError
from controlcenter.ingest.payload import PayloadDecoder

NOW_US = 1_795_000_000_000_000  # 2026-11-18
NOW_MS = NOW_US // 1000


@pytest.fixture
def decoder() -> PayloadDecoder:
    return PayloadDecoder(IngestSettings(max_payload_bytes=4096, max_readings_per_message=50))


def test_single_reading_with_epoch_ms_decodes_every_metric(decoder):
    out = decoder.decode(
        Kind.POWER, json.dumps({"ts": NOW_MS, "values": {"kw": 12.5, "pf": 0.93}}).encode(), NOW_US
    )
    assert out.metrics == ["kw", "pf"]
    assert out.times == [NOW_US, NOW_US]
    assert out.values == [12.5, 0.93]
    assert out.rejects == []


def test_rfc3339_timestamps_keep_microseconds_and_offsets(decoder):
    payload = b'{"ts": "2026-11-18T09:00:00.123456+09:00", "values": {"pm25": 18}}'
    out = decoder.decode(Kind.AIR, payload, NOW_US)
    expected = datetime(2026, 11, 18, 0, 0, 0, 123456, tzinfo=UTC)
    assert out.times == [int(expected.timestamp()) * 1_000_000 + 123456]


def test_gateway_batch_decodes_all_readings_in_order(decoder):
    readings = [{"ts": NOW_MS - i, "seq": i, "values": {"occupied": i}} for i in range(10)]
    out = decoder.decode(Kind.PARKING, json.dumps({"readings": readings}).encode(), NOW_US)
    assert out.values == [float(i) for i in range(10)]
    assert out.times == [(NOW_MS - i) * 1000 for i in range(10)]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"", "empty_payload"),
        (b"[1, 2]", "invalid_schema"),
        (b'{"values": {"pm10": 1}}', "invalid_schema"),
        (b"x" * 5000, "payload_too_large"),
    ],
)
def test_unreadable_messages_are_rejected_whole_with_a_reason(decoder, payload, reason):
    with pytest.raises(PayloadError) as info:
        decoder.decode(Kind.AIR, payload, NOW_US)
    assert info.value.reason == reason


def test_too_many_readings_is_rejected_whole(decoder):
    readings = [{"ts": NOW_MS, "values": {"kw": 1}}] * 51
    with pytest.raises(PayloadError) as info:
        decoder.decode(Kind.POWER, json.dumps({"readings": readings}).encode(), NOW_US)
    assert info.value.reason == "too_many_readings"


@pytest.mark.parametrize(
    ("values_json", "ts", "reason"),
    [
        ('{"pm10": NaN}', NOW_MS, "non_finite_value"),
        ('{"pm10": Infinity}', NOW_MS, "non_finite_value"),
        ('{"pm10": 1e999}', NOW_MS, "non_finite_value"),
        ('{"pm10": 1%s}' % ("0" * 400), NOW_MS, "non_finite_value"),  # beyond float range
        ('{"pm10": -1%s}' % ("0" * 4000), NOW_MS, "non_finite_value"),
        ('{"pm10": "high"}', NOW_MS, "invalid_value"),
        ('{"pm10": true}', NOW_MS, "invalid_value"),
        ('{"kw": 3}', NOW_MS, "unknown_metric"),
        ('{"pm10": 3}', NOW_MS + 3_600_000, "timestamp_in_future"),
        ('{"pm10": 3}', 1000, "timestamp_too_old"),
        ('{"pm10": 3}', '"yesterday"', "bad_timestamp"),
        ('{"pm10": 3}', '"2026-11-18T09:00:00"', "bad_timestamp"),
    ],
)
def test_bad_readings_are_rejected_with_their_reason_and_nothing_kept(
    decoder, values_json, ts, reason
):
    payload = f'{{"ts": {ts}, "values": {values_json}}}'.encode()
    out = decoder.decode(Kind.AIR, payload, NOW_US)
    assert out.values == []
    assert [r for r, _ in out.rejects] == [reason]


def test_one_bad_reading_in_a_gateway_batch_keeps_the_others(decoder):
    payload = (
        b'{"readings": [{"ts": %d, "values": {"kw": 1}}, {"ts": %d, "values": {"kw": NaN}},'
        b' {"ts": %d, "values": {"kw": 3, "bogus": 4}}]}' % (NOW_MS, NOW_MS + 1, NOW_MS + 2)
    )
    out = decoder.decode(Kind.POWER, payload, NOW_US)
    assert out.values == [1.0, 3.0]
    assert sorted(r for r, _ in out.rejects) == ["non_finite_value", "unknown_metric"]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_payload_error(data):
    decoder = PayloadDecoder(IngestSettings())
    reason = None
    try:
        out = decoder.decode(Kind.AIR, data, NOW_US)
    except PayloadError as exc:
        reason = exc.reason
    if reason is None:
        assert all(math.isfinite(v) for v in out.values)
    else:
        assert reason in {"malformed_json", "invalid_schema", "empty_payload"}


@given(
    value=st.one_of(st.integers(), st.integers(min_value=10**300, max_value=10**400), st.floats()),
    ts=st.one_of(st.integers(), st.floats(), st.text(max_size=30)),
)
def test_any_json_number_or_timestamp_decodes_or_is_rejected_with_a_reason(value, ts):
    decoder = PayloadDecoder(IngestSettings())
    payload = json.dumps({"ts": ts, "values": {"pm10": value}}).encode()
    try:
        out = decoder.decode(Kind.AIR, payload, NOW_US)
    except PayloadError:
        return
    assert len(out.values) + len(out.rejects) == 1
    assert all(math.isfinite(v) for v in out.values)


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(
    kind=st.sampled_from(list(Kind)),
    data=st.data(),
)
def test_valid_batches_round_trip_exactly(kind, data):
    metrics = list(METRICS[kind])
    readings = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "ts": st.integers(NOW_MS - 86_400_000, NOW_MS),
                    "values": st.dictionaries(st.sampled_from(metrics), _finite, min_size=1),
                }
            ),
            min_size=1,
            max_size=20,
        )
    )
    out = PayloadDecoder(IngestSettings()).decode(
        kind, json.dumps({"readings": readings}).encode(), NOW_US
    )
    expected = [(m, r["ts"] * 1000, v) for r in readings for m, v in r["values"].items()]
    assert list(zip(out.metrics, out.times, out.values, strict=True)) == expected
    assert out.rejects == []

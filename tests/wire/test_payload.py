import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlcenter.anomaly.profile import profile_from_knobs
from controlcenter.config import IngestSettings
from controlcenter.errors import PayloadError
from controlcenter.kinds import packaged
from controlcenter.wire.payload import MAX_DEPTH, PayloadDecoder, nesting_depth

NOW_US = 1_795_000_000_000_000  # 2026-11-18
NOW_MS = NOW_US // 1000


@pytest.fixture
def decoder() -> PayloadDecoder:
    return PayloadDecoder(IngestSettings(max_payload_bytes=4096, max_readings_per_message=50))


def test_single_reading_with_epoch_ms_decodes_every_metric(decoder):
    out = decoder.decode(
        "power", json.dumps({"ts": NOW_MS, "values": {"kw": 12.5, "pf": 0.93}}).encode(), NOW_US
    )
    assert out.metrics == ["kw", "pf"]
    assert out.times == [NOW_US, NOW_US]
    assert out.values == [12.5, 0.93]
    assert out.rejects == []


def test_rfc3339_timestamps_keep_microseconds_and_offsets(decoder):
    payload = b'{"ts": "2026-11-18T09:00:00.123456+09:00", "values": {"pm25": 18}}'
    out = decoder.decode("air", payload, NOW_US)
    expected = datetime(2026, 11, 18, 0, 0, 0, 123456, tzinfo=UTC)
    assert out.times == [int(expected.timestamp()) * 1_000_000 + 123456]


def test_gateway_batch_decodes_all_readings_in_order(decoder):
    readings = [{"ts": NOW_MS - i, "seq": i, "values": {"occupied": i}} for i in range(10)]
    out = decoder.decode("parking", json.dumps({"readings": readings}).encode(), NOW_US)
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
        decoder.decode("air", payload, NOW_US)
    assert info.value.reason == reason


def test_too_many_readings_is_rejected_whole(decoder):
    readings = [{"ts": NOW_MS, "values": {"kw": 1}}] * 51
    with pytest.raises(PayloadError) as info:
        decoder.decode("power", json.dumps({"readings": readings}).encode(), NOW_US)
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
    out = decoder.decode("air", payload, NOW_US)
    assert out.values == []
    assert [r for r, _ in out.rejects] == [reason]


def test_one_bad_reading_in_a_gateway_batch_keeps_the_others(decoder):
    payload = (
        b'{"readings": [{"ts": %d, "values": {"kw": 1}}, {"ts": %d, "values": {"kw": NaN}},'
        b' {"ts": %d, "values": {"kw": 3, "bogus": 4}}]}' % (NOW_MS, NOW_MS + 1, NOW_MS + 2)
    )
    out = decoder.decode("power", payload, NOW_US)
    assert out.values == [1.0, 3.0]
    assert sorted(r for r, _ in out.rejects) == ["non_finite_value", "unknown_metric"]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_payload_error(data):
    decoder = PayloadDecoder(IngestSettings())
    reason = None
    try:
        out = decoder.decode("air", data, NOW_US)
    except PayloadError as exc:
        reason = exc.reason
    if reason is None:
        assert all(math.isfinite(v) for v in out.values)
    else:
        assert reason in {"malformed_json", "invalid_schema", "empty_payload", "too_deeply_nested"}


@given(
    value=st.one_of(st.integers(), st.integers(min_value=10**300, max_value=10**400), st.floats()),
    ts=st.one_of(st.integers(), st.floats(), st.text(max_size=30)),
)
def test_any_json_number_or_timestamp_decodes_or_is_rejected_with_a_reason(value, ts):
    decoder = PayloadDecoder(IngestSettings())
    payload = json.dumps({"ts": ts, "values": {"pm10": value}}).encode()
    try:
        out = decoder.decode("air", payload, NOW_US)
    except PayloadError:
        return
    assert len(out.values) + len(out.rejects) == 1
    assert all(math.isfinite(v) for v in out.values)


@given(
    kind=st.sampled_from(packaged().names),
    data=st.data(),
)
def test_valid_batches_round_trip_exactly(kind, data):
    limits = packaged().limits(kind)
    value = st.sampled_from(list(limits)).flatmap(
        lambda m: st.tuples(st.just(m), st.floats(*limits[m]))
    )
    readings = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "ts": st.integers(NOW_MS - 86_400_000, NOW_MS),
                    "values": st.lists(value, min_size=1, unique_by=lambda mv: mv[0]).map(dict),
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


_DEEP = 1_000  # ~2 KB of brackets: past Python's recursion limit


@pytest.mark.parametrize(
    "payload",
    [
        b'{"a":' * _DEEP + b"1" + b"}" * _DEEP,  # an object of objects
        b"[" * _DEEP + b"]" * _DEEP,  # not even an object
        b'{"ts": %d, "values": {"pm10": 1}, "x": ' % NOW_MS + b"[" * _DEEP + b"]" * _DEEP + b"}",
        b'{"ts": %d, "values": {"pm10": ' % NOW_MS + b"[" * _DEEP + b"]" * _DEEP + b"}}",
        b'{"readings": ' + b"[" * _DEEP + b"]" * _DEEP + b"}",
    ],
    ids=["objects", "arrays", "unknown-field", "value", "readings"],
)
def test_a_deeply_nested_payload_is_an_ordinary_bad_payload(payload):
    """Found by fuzzing: 1,000 levels in 2 KB raised RecursionError inside the decoder."""
    with pytest.raises(PayloadError) as info:
        PayloadDecoder(IngestSettings()).decode("air", payload, NOW_US)
    assert info.value.reason == "too_deeply_nested"
    assert info.value.detail.endswith(f"levels > {MAX_DEPTH}")


def test_nesting_is_judged_the_same_however_deep_the_callers_stack_is():
    decoder = PayloadDecoder(IngestSettings())
    deep = b'{"a":' * _DEEP + b"1" + b"}" * _DEEP
    extra = b'{"ts": %d, "values": {"pm10": 7}, "meta": %s1%s}' % (
        NOW_MS,
        b"[" * (MAX_DEPTH - 1),
        b"]" * (MAX_DEPTH - 1),
    )

    def at_depth(n, payload):
        return at_depth(n - 1, payload) if n else decoder.decode("air", payload, NOW_US)

    for stack in (0, 900):
        with pytest.raises(PayloadError, match="too_deeply_nested"):
            at_depth(stack, deep)
        assert at_depth(stack, extra).values == [7.0]  # exactly MAX_DEPTH deep: fine


def test_one_level_past_the_bound_is_too_deep(decoder):
    payload = b'{"ts": %d, "values": {"pm10": 7}, "meta": %s1%s}' % (
        NOW_MS,
        b"[" * MAX_DEPTH,
        b"]" * MAX_DEPTH,
    )
    with pytest.raises(PayloadError) as info:
        decoder.decode("air", payload, NOW_US)
    assert info.value.reason == "too_deeply_nested"


def test_fields_outside_the_contract_are_ignored(decoder):
    payload = b'{"ts": %d, "gw": {"fw": "1.2", "up": [1, 2]}, "values": {"pm10": 7}}' % NOW_MS
    out = decoder.decode("air", payload, NOW_US)
    assert (out.metrics, out.values, out.rejects) == (["pm10"], [7.0], [])


@pytest.mark.parametrize("payload", [b'{"readings": []}', b'{"readings": [], "gw": "g1"}'])
def test_an_empty_gateway_batch_is_an_empty_payload(decoder, payload):
    with pytest.raises(PayloadError) as info:
        decoder.decode("power", payload, NOW_US)
    assert info.value.reason == "empty_payload"


def test_finite_values_beyond_a_metrics_physical_range_are_rejected(decoder):
    """Two readings of kw 1e308 in one minute overflowed every rollup's sum."""
    payload = (
        b'{"readings": [{"ts": %d, "values": {"kw": 1e308, "kwh": 12}},'
        b' {"ts": %d, "values": {"kw": 10000000, "pf": -10}},'
        b' {"ts": %d, "values": {"kw": -1.0000001e7, "pf": 10.5}}]}'
        % (NOW_MS, NOW_MS + 1, NOW_MS + 2)
    )
    out = decoder.decode("power", payload, NOW_US)
    assert list(zip(out.metrics, out.values, strict=True)) == [
        ("kwh", 12.0),
        ("kw", 1e7),  # the limits themselves are accepted
        ("pf", -10.0),
    ]
    assert [r for r, _ in out.rejects] == ["value_out_of_range"] * 3
    assert out.rejects[0][1] == "kw=1e+308 is outside [-1e+07, 1e+07] kW"


def test_every_metric_has_limits_wider_than_the_engines_impossible_values():
    """Ingest rejects what cannot be reported at all; the engine flags what is impossible
    but reportable (stored, with an event): its static limits lie inside ingest's."""
    registry = packaged()
    for kind in registry:
        assert registry.limits(kind).keys() == registry.units(kind).keys()
        for metric, (lo, hi) in registry.limits(kind).items():
            assert -1e15 <= lo < hi <= 1e15
            if registry.value_type(kind, metric) == "state":
                continue  # a state's values are its limits: 0 and 1 are both normal
            p = profile_from_knobs(registry.engine_knobs()[f"{kind}.{metric}"])
            assert math.isinf(p.lo) or lo < p.lo, (kind, metric)
            assert math.isinf(p.hi) or p.hi < hi, (kind, metric)


def _depth(doc) -> int:
    if isinstance(doc, dict):
        return 1 + max((_depth(v) for v in doc.values()), default=0)
    if isinstance(doc, list):
        return 1 + max((_depth(v) for v in doc), default=0)
    return 0


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n'),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=4), inner, max_size=4)
    ),
    max_leaves=40,
)


@given(_json)
def test_nesting_depth_matches_the_parsed_documents_depth(doc):
    assert nesting_depth(json.dumps(doc).encode()) == _depth(doc)
    assert nesting_depth(json.dumps(doc, ensure_ascii=False, indent=1).encode()) == _depth(doc)

"""The live relay's wire format: committed batches in columns, chunked, checked on read."""

from __future__ import annotations

import numpy as np
import pytest

from controlcenter.domain import Batch
from controlcenter.errors import PayloadError
from controlcenter.wire import decode_batch, encode_batch
from controlcenter.wire.relay import MAX_READINGS


def test_a_large_committed_batch_is_relayed_in_chunks_that_join_to_the_same_batch():
    n = 2 * MAX_READINGS + 7
    rng = np.random.default_rng(3)
    batch = Batch.from_lists(
        rng.integers(0, 50_000, n), rng.integers(0, 10**15, n), rng.normal(size=n)
    ).deduplicated()
    messages = encode_batch(batch)
    assert [len(decode_batch(m)) for m in messages] == [MAX_READINGS, MAX_READINGS, 7]
    joined = Batch.concat([decode_batch(m) for m in messages])
    assert all(decode_batch(m).by_series for m in messages)
    assert np.array_equal(joined.series, batch.series)
    assert np.array_equal(joined.time, batch.time)
    assert np.array_equal(joined.value, batch.value)


def test_an_unsorted_batch_says_so_and_an_empty_one_sends_nothing():
    [m] = encode_batch(Batch.from_lists([2, 1], [5, 6], [1.0, 2.0]))
    assert not decode_batch(m).by_series
    assert encode_batch(Batch.empty()) == []


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"CCR1",
        b"XXXX\x01\x01\x00\x00\x00" + bytes(20),  # another format
        encode_batch(Batch.from_lists([1, 2], [1, 2], [1.0, 2.0]))[0][:-1],  # truncated
        encode_batch(Batch.from_lists([-1], [1], [1.0]))[0],  # a negative series id
    ],
)
def test_what_is_not_a_relay_message_is_refused(raw):
    with pytest.raises(PayloadError) as err:
        decode_batch(raw)
    assert err.value.reason == "bad_relay"

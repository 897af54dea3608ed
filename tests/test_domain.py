"""The batch is sorted and deduplicated once (``Batch.deduplicated``); the engine and the
live hub take the sorted batch as it is and answer as they do for any order."""

import numpy as np

from controlcenter.anomaly import Engine
from controlcenter.domain import Batch


def _shuffled(n_series: int, n_times: int, seed: int) -> Batch:
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(n_series), n_times)
    t = np.tile(np.arange(n_times) * 1_000_000, n_series)
    v = rng.normal(20.0, 2.0, len(s))
    v[rng.integers(0, len(s), 5)] += 40.0  # some spikes
    order = rng.permutation(len(s))
    raw = Batch.from_lists(s[order], t[order], v[order])
    dup = rng.integers(0, len(raw), 20)  # repeated (series, time) pairs, later values
    return Batch.concat(
        [raw, Batch.from_lists(raw.series[dup], raw.time[dup], np.full(len(dup), -1.0))]
    )


def test_deduplicated_is_sorted_flagged_and_keeps_the_first_arrival():
    b = _shuffled(7, 50, seed=1)
    d = b.deduplicated()
    assert d.by_series
    assert len(d) == 7 * 50
    key = d.series.astype(np.int64) * 10**12 + d.time
    assert (np.diff(key) > 0).all()
    assert (d.value != -1.0).all()  # the later duplicates lost
    assert d.deduplicated() is d


def test_the_engine_scores_a_sorted_batch_like_the_same_batch_unflagged():
    history = [_shuffled(5, 200, seed=k).deduplicated() for k in range(3)]
    flagged, plain = Engine(), Engine()
    for eng in (flagged, plain):
        eng.add_series(np.arange(5), "air.temp")
    fired = 0
    for k, b in enumerate(history):
        shifted = Batch(b.series, b.time + k * 10**9, b.value, by_series=True)
        s1, e1 = flagged.ingest(shifted)
        s2, e2 = plain.ingest(Batch(shifted.series, shifted.time, shifted.value))
        np.testing.assert_array_equal(s1, s2)
        np.testing.assert_array_equal(e1.series, e2.series)
        np.testing.assert_array_equal(e1.time, e2.time)
        fired += len(e1)
    assert fired  # the spikes were seen: the comparison covers events too

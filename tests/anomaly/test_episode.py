"""The episode machine's shortcut for one reading per series equals its general scan."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from controlcenter.anomaly._episode import _one_each, _scanned


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), g=st.integers(1, 60), off_k=st.integers(1, 4))
def test_one_reading_per_segment_shortcut_matches_the_scan(seed, g, off_k):
    rng = np.random.default_rng(seed)
    s = rng.choice([0.0, 0.2, 0.7, 1.0, 1.5, 3.0, 9.0], g) * rng.uniform(0.5, 1.5, g)
    t = rng.integers(0, 10**9, g)
    state = (
        rng.random(g) < 0.5,
        rng.integers(0, off_k + 2, g),
        rng.choice([0.0, 1.0, 2.5, 6.0], g),
        rng.integers(0, 10**9, g),
    )
    seg = np.arange(g)
    kw = {"off_level": 0.5, "off_k": off_k, "growth": 2.0}
    want = _scanned(s, t, seg, seg, seg, np.zeros(g, dtype=np.int64), state, **kw)
    got = _one_each(s, t, state, **kw)
    for name in ("x", "onset", "grow", "start", "on", "below", "peak", "started"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)

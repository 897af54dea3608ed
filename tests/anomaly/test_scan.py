"""Segmented scans equal the sequential recurrences they replace."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from controlcenter.anomaly._scan import affine_scan, clamp_scan

segments = st.lists(st.integers(1, 40), min_size=1, max_size=8)


def ranks(lengths):
    return np.concatenate([np.arange(n) for n in lengths])


@settings(max_examples=200, deadline=None)
@given(lengths=segments, seed=st.integers(0, 2**32 - 1))
def test_affine_scan_matches_a_loop(lengths, seed):
    rng = np.random.default_rng(seed)
    rank = ranks(lengths)
    a, b = rng.uniform(0, 1, rank.size), rng.normal(0, 10, rank.size)
    m0 = rng.normal(0, 10, len(lengths))
    ca, cb = affine_scan(a, b, rank)
    i = 0
    for g, n in enumerate(lengths):
        m = m0[g]
        for _ in range(n):
            m = a[i] * m + b[i]
            np.testing.assert_allclose(ca[i] * m0[g] + cb[i], m, rtol=1e-9, atol=1e-9)
            i += 1


@settings(max_examples=200, deadline=None)
@given(lengths=segments, seed=st.integers(0, 2**32 - 1))
def test_clamp_scan_matches_a_loop(lengths, seed):
    rng = np.random.default_rng(seed)
    rank = ranks(lengths)
    p = rng.normal(0, 3, rank.size)
    reset = rng.random(rank.size) < 0.1
    const = np.minimum(np.maximum(p, 0.0), 8.0)
    q = np.where(reset, const, 0.0)
    u = np.where(reset, const, 8.0)
    s0 = rng.uniform(0, 8, len(lengths))
    cp, cq, cu = clamp_scan(p, q, u, rank)
    i = 0
    for g, n in enumerate(lengths):
        s = s0[g]
        for _ in range(n):
            s = min(max(s + p[i], q[i]), u[i])
            got = min(max(s0[g] + cp[i], cq[i]), cu[i])
            np.testing.assert_allclose(got, s, rtol=1e-9, atol=1e-9)
            i += 1

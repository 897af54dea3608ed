"""Touched ranges: per minute, merged, bounded."""

from __future__ import annotations

import numpy as np

from controlcenter.store.dirty import HOUR_US, MINUTE_US, DirtyRanges, pieces

DAY = 24 * HOUR_US


def test_a_reading_399_days_old_adds_its_minute_not_the_span():
    now = 20_000 * DAY + 37 * MINUTE_US + 5
    d = DirtyRanges()
    d.add_times(np.array([now, now - 399 * DAY, now + 1], np.int64))
    old = (now - 399 * DAY) // MINUTE_US * MINUTE_US
    recent = now // MINUTE_US * MINUTE_US
    assert d.ranges() == [(old, old + MINUTE_US), (recent, recent + MINUTE_US)]


def test_neighbouring_and_overlapping_ranges_merge():
    d = DirtyRanges()
    d.add(0, MINUTE_US)
    d.add(2 * MINUTE_US, 3 * MINUTE_US)
    d.add(MINUTE_US, 2 * MINUTE_US)  # fills the gap
    d.add(10 * MINUTE_US + 1, 10 * MINUTE_US + 2)
    assert d.ranges() == [(0, 3 * MINUTE_US), (10 * MINUTE_US, 11 * MINUTE_US)]
    assert len(d.take()) == 2
    assert d.take() == []


def test_scattered_readings_coarsen_the_grid_instead_of_growing_without_bound():
    rng = np.random.default_rng(3)
    times = np.sort(rng.integers(0, 365 * DAY, 50_000))
    d = DirtyRanges(max_ranges=100)
    for chunk in np.array_split(times, 50):
        d.add_times(chunk)
    assert len(d) <= 100
    assert d.grid_us > MINUTE_US
    covered = d.ranges()
    assert all(any(lo <= t < hi for lo, hi in covered) for t in times[::997])
    d.take()
    assert d.grid_us == MINUTE_US  # a fresh start after the refresh took them


def test_pieces_are_at_most_an_hour_and_newest_first():
    got = pieces(30 * MINUTE_US, 3 * HOUR_US + 10 * MINUTE_US)
    assert got[0] == (3 * HOUR_US, 3 * HOUR_US + 10 * MINUTE_US)
    assert got[-1] == (30 * MINUTE_US, HOUR_US)
    assert all(hi - lo <= HOUR_US for lo, hi in got)
    assert sum(hi - lo for lo, hi in got) == 3 * HOUR_US - 20 * MINUTE_US

"""The vectorised evaluator against a one-reading-at-a-time reading of the same rules."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from controlcenter.alerts import Evaluator, Rule
from controlcenter.anomaly import Detector, Events
from controlcenter.domain import Batch, SensorKey, SeriesKey

S = 1_000_000
KEYS = {
    0: SeriesKey(SensorKey("s", "f", "air", "a"), "pm10"),
    1: SeriesKey(SensorKey("s", "f", "air", "a"), "pm25"),
    2: SeriesKey(SensorKey("s", "f", "air", "b"), "pm10"),
    3: SeriesKey(SensorKey("s", "g", "power", "p"), "kw"),
}


def evaluator(*rules: dict) -> Evaluator:
    ev = Evaluator()
    ev.set_rules([Rule.model_validate({"id": i + 1, **r}) for i, r in enumerate(rules)])
    ev.refresh(KEYS.get, max(KEYS))
    return ev


def transitions(ev: Evaluator, b: Batch, events: Events | None = None) -> list[tuple]:
    ch = ev.evaluate(b, events or Events.empty())
    return [
        (ev.subject(c).key, t // S, o)
        for c, t, o in zip(ch.cell.tolist(), ch.time.tolist(), ch.opened.tolist(), strict=True)
    ]


PM10 = {"name": "pm10", "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}]}


def test_raise_and_clear_durations_hold_at_their_edges():
    ev = evaluator({**PM10, "raise_after_s": 60, "clear_after_s": 30})
    rows = [(0, 0, 90), (0, 59, 95), (0, 60, 85), (0, 70, 60), (0, 99, 60), (0, 100, 60)]
    b = Batch.from_lists([r[0] for r in rows], [r[1] * S for r in rows], [r[2] for r in rows])
    assert transitions(ev, b) == [("s/f/air/a/pm10", 60, True), ("s/f/air/a/pm10", 100, False)]


def test_breach_shorter_than_the_duration_raises_nothing():
    ev = evaluator({**PM10, "raise_after_s": 60})
    rows = [(0, 0, 90), (0, 59, 95), (0, 60, 60), (0, 61, 90), (0, 120, 90)]
    b = Batch.from_lists([r[0] for r in rows], [r[1] * S for r in rows], [r[2] for r in rows])
    assert transitions(ev, b) == []
    assert transitions(ev, Batch.from_lists([0], [121 * S], [91])) == [
        ("s/f/air/a/pm10", 121, True)
    ]


def test_all_of_across_metrics_is_per_sensor():
    ev = evaluator(
        {
            "name": "dust",
            "match": "all",
            "conditions": [
                {"metric": "pm10", "raise_at": 80, "clear_at": 70},
                {"metric": "pm25", "raise_at": 35, "clear_at": 30},
            ],
        }
    )
    assert ev.rules[0].per == "sensor"
    b = Batch.from_lists([0, 1, 0, 1, 1], [1 * S, 1 * S, 2 * S, 2 * S, 3 * S], [90, 20, 91, 40, 25])
    assert transitions(ev, b) == [("s/f/air/a", 2, True), ("s/f/air/a", 3, False)]


def test_detector_events_open_and_a_reading_clears():
    ev = evaluator({"name": "silent", "per": "sensor", "conditions": [{"detector": "silence"}]})
    ev_silence = Events.from_lists([2], [10 * S], [Detector.SILENCE], [50.0], [0.9])
    assert transitions(ev, Batch.empty(), ev_silence) == [("s/f/air/b", 10, True)]
    assert transitions(ev, Batch.from_lists([2], [11 * S], [50.0])) == [("s/f/air/b", 11, False)]


def test_relative_threshold_follows_the_factory_contract():
    ev = evaluator(
        {
            "name": "demand",
            "conditions": [
                {"metric": "kw", "raise_at": 1.0, "clear_at": 0.9, "relative_to": "contract_kw"}
            ],
        }
    )
    b = Batch.from_lists([3], [S], [150.0])
    assert transitions(ev, b) == []  # no contract known: never raises
    ev.index.set_contracts({("s", "g"): 100.0})
    assert transitions(ev, Batch.from_lists([3, 3], [2 * S, 3 * S], [101.0, 89.0])) == [
        ("s/g/power/p/kw", 2, True),
        ("s/g/power/p/kw", 3, False),
    ]


def naive(values: list[float], times: list[int], raise_at, clear_at, after_us) -> list[tuple]:
    """One reading at a time: the specification of hysteresis with a raise duration."""
    on, active, since, out = False, False, 0, []
    for v, t in zip(values, times, strict=True):
        if v > raise_at and not on:
            on, since = True, t
        elif v < clear_at:
            on = False
        if on and not active and t - since >= after_us:
            active = True
            out.append((t, True))
        elif not on and active:
            active = False
            out.append((t, False))
    return out


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.sampled_from([60.0, 72.0, 79.0, 80.0, 81.0, 95.0]), min_size=1, max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=5),
    after=st.sampled_from([0, 2, 5]),
)
def test_any_batch_split_gives_the_one_at_a_time_transitions(values, cuts, after):
    times = [i * S for i in range(len(values))]
    ev = evaluator({**PM10, "raise_after_s": after})
    got = []
    bounds = sorted({0, len(values), *[c for c in cuts if c < len(values)]})
    for lo, hi in itertools.pairwise(bounds):
        b = Batch.from_lists(np.zeros(hi - lo), times[lo:hi], values[lo:hi])
        got += [(t * S, o) for _, t, o in transitions(ev, b)]
    assert got == naive(values, times, 80.0, 70.0, after * S)


def test_per_sensor_detector_holds_while_any_series_is_held():
    ev = evaluator({"name": "stuck", "per": "sensor", "conditions": [{"detector": "stuck"}]})
    stuck = Events.from_lists([0, 0], [1 * S, 3 * S], [Detector.STUCK] * 2, [5.0, 5.0], [0.9, 0.9])
    # pm10 (series 0) stuck; pm25 (series 1) of the same sensor keeps reporting normally
    b = Batch.from_lists([0, 1, 1, 0, 1], [1 * S, 2 * S, 3 * S, 3 * S, 4 * S], [5, 7, 8, 5, 9])
    assert transitions(ev, b, stuck) == [("s/f/air/a", 1, True)]
    # pm10 reports a changed value without a stuck event: the sensor is released
    assert transitions(ev, Batch.from_lists([1, 0], [5 * S, 6 * S], [10, 6])) == [
        ("s/f/air/a", 6, False)
    ]

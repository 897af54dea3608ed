"""Injected anomalies match their labels, and nothing unlabelled differs from the clean run.

The anomalous and the clean directories come from the same complex and seed; signals do not
depend on the injection, so every difference between them must sit inside a label.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from simulators.scenario import ANOMALY_TYPES

from tests.simulators._helpers import Data, covers

# Far outside what a working sensor reports.
PHYSICAL = {
    "pm10": (0, 2000),
    "pm25": (0, 2000),
    "co2": (0, 40000),
    "voc": (0, 50000),
    "temp": (-60, 100),
    "humidity": (0, 100),
    "voltage": (0, 1000),
    "current": (0, 1e5),
    "pf": (0, 1),
    "kwh": (0, 1e12),
}


def _labels(anomalous: Data, kind: str):
    return [lab for lab in anomalous.labels if lab["type"] == kind]


def _window(data: Data, key: str, lab) -> np.ndarray:
    t = data.times.get(key, np.empty(0, dtype=np.int64))
    return (t >= int(lab["start_ms"])) & (t <= int(lab["end_ms"]))


def test_every_anomaly_type_is_injected_and_labelled(data):
    counts = Counter(lab["type"] for lab in data[0].labels)
    assert set(counts) == set(ANOMALY_TYPES), counts
    assert not data[1].labels, "the clean run has no labels"


def test_labels_name_known_series_or_patterns(data):
    anomalous = data[0]
    for lab in anomalous.labels:
        assert int(lab["start_ms"]) <= int(lab["end_ms"])
        if "*" in lab["series"]:
            assert lab["type"] in ("gateway_offline", "dust_event")
            assert any(covers(lab["series"], key) for key in anomalous.series)
        else:
            assert lab["series"] in anomalous.series


def test_nothing_outside_labels_differs_from_the_clean_run(data):
    anomalous, clean = data
    for key in clean.series:
        inside_clean = np.zeros(len(clean.times[key]), dtype=bool)
        for lab in anomalous.labels:
            if covers(lab["series"], key):
                inside_clean |= _window(clean, key, lab)
        outside = anomalous.labelled(key)
        np.testing.assert_array_equal(
            anomalous.times[key][~outside], clean.times[key][~inside_clean]
        )
        np.testing.assert_array_equal(
            anomalous.values[key][~outside], clean.values[key][~inside_clean], err_msg=key
        )


def test_stuck_windows_repeat_one_value(data):
    anomalous = data[0]
    for lab in _labels(anomalous, "stuck"):
        key = lab["series"]
        window = _window(anomalous, key, lab)
        others = anomalous.labelled(key, set(ANOMALY_TYPES) - {"stuck", "dust_event"})
        values = anomalous.values[key][window & ~others]
        assert len(np.unique(values)) <= 1, (key, values[:5])


def test_spikes_are_outliers_at_the_labelled_reading(data):
    anomalous, clean = data
    checked = 0
    for lab in _labels(anomalous, "spike"):
        key = lab["series"]
        at = anomalous.times[key] == int(lab["start_ms"])
        if not at.any():  # the sensor was silent then (dropout, gateway offline)
            continue
        spike = anomalous.values[key][at][0]
        ref = clean.values[key]
        if key.endswith("/kwh"):
            assert spike > ref[clean.times[key] == int(lab["start_ms"])][0]
        else:
            mad = np.median(np.abs(ref - np.median(ref))) * 1.4826 + 1e-9
            assert abs(spike - np.median(ref)) > 3 * mad, (key, spike, np.median(ref), mad)
        checked += 1
    assert checked > 20


def test_dropout_and_offline_windows_have_no_readings(data):
    anomalous, clean = data
    for lab in _labels(anomalous, "dropout") + _labels(anomalous, "gateway_offline"):
        keys = [k for k in anomalous.series if covers(lab["series"], k)]
        assert keys
        for key in keys:
            assert not _window(anomalous, key, lab).any(), (lab, key)
        assert any(_window(clean, key, lab).any() for key in keys), "clean data had readings"


def test_impossible_values_leave_physical_ranges(data):
    anomalous = data[0]
    for lab in _labels(anomalous, "impossible"):
        key = lab["series"]
        metric = key.rsplit("/", 1)[1]
        values = anomalous.values[key][_window(anomalous, key, lab)]
        if metric == "occupied":
            capacity = float(anomalous.series[key]["capacity"])
            bad = (values > capacity) | (values < 0)
        elif metric == "kw":
            bad = (values < 0) | (values > 1e6)
        else:
            lo, hi = PHYSICAL[metric]
            bad = (values < lo) | (values > hi)
        assert bad.all(), (key, values)


def test_occupancy_exceeds_capacity_only_inside_labels(data):
    anomalous = data[0]
    for key, row in anomalous.series.items():
        if row["metric"] == "occupied":
            over = anomalous.values[key] > float(row["capacity"])
            assert not (over & ~anomalous.labelled(key)).any()


def test_kwh_counters_only_decrease_inside_labels(data):
    anomalous = data[0]
    for key in anomalous.series:
        if key.endswith("/kwh"):
            falls = np.flatnonzero(np.diff(anomalous.values[key]) < 0)
            inside = anomalous.labelled(key)
            assert np.all(inside[falls] | inside[falls + 1]), key


@pytest.mark.parametrize("kind", ["level_shift", "drift"])
def test_shifts_and_drifts_move_the_series(data, kind):
    anomalous, clean = data
    moved = 0
    labs = _labels(anomalous, kind)
    for lab in labs:
        key = lab["series"]
        a = anomalous.values[key][_window(anomalous, key, lab)]
        c = clean.values[key][_window(clean, key, lab)]
        if len(a) == len(c) and len(a) > 2:
            moved += int(np.abs(a - c).max() > 0)
    assert labs
    assert moved >= len(labs) // 2


def test_dust_events_lift_pm10_at_every_station(data):
    anomalous, clean = data
    labs = [lab for lab in _labels(anomalous, "dust_event") if lab["series"].endswith("pm10")]
    assert labs
    for lab in labs:
        keys = [k for k in clean.series if covers(lab["series"], k)]
        lifted = [
            anomalous.values[k][anomalous.times[k] == t].sum() - v
            for k in keys
            for t, v in zip(
                clean.times[k][_window(clean, k, lab)],
                clean.values[k][_window(clean, k, lab)],
                strict=True,
            )
        ]
        assert np.median(lifted) > 20

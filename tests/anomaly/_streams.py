"""Random reading streams with every kind of trouble, for equivalence tests."""

from __future__ import annotations

import numpy as np

from controlcenter.anomaly import GENERIC, EngineConfig, MetricProfile
from controlcenter.domain import Batch

#: Small thresholds so that every detector fires on short random streams.
TEST_PROFILES = {
    "touchy": MetricProfile(
        lo=-50.0,
        hi=50.0,
        max_rate=6.0,
        min_std=0.01,
        min_rel_std=0.0,
        robust_z=3.0,
        ewma_z=3.0,
        ewma_alpha=0.2,
        cusum_k=0.5,
        cusum_h=3.0,
        stuck_k=3,
        min_silence_s=5.0,
        silence_factor=3.0,
    ),
    "counter": MetricProfile(lo=0.0, max_rate=3.0, monotonic=True, robust_z=float("inf")),
    "idle": MetricProfile(
        stuck_k=4,
        stuck_min_s=3.0,
        stuck_zero_ok=True,
        min_std=0.0,
        min_rel_std=0.0,
        robust_z=3.0,
        robust_median=True,
    ),
    "daily": MetricProfile(
        min_std=0.01,
        min_rel_std=0.0,
        robust_z=3.0,
        ewma_z=3.0,
        cusum_h=3.0,
        cusum_alpha=0.05,  # the CUSUM's own reference, with the seasonal step taken out
        daily_z=2.0,
        season_z=3.0,  # far from the slot's profile: evidence (the generic profile's rule)
        unsure_ewma=True,  # a first day's EWMA z damped too (the loads' rule)
        season_after_s=6 * 3600.0,  # its own (the loads'); the others take the config's
    ),
    "generic": GENERIC,  # with its learnt stuck (``stuck_learn_min`` varies below)
}


def random_stream(
    rng: np.random.Generator, n_series: int, n: int, step_us: int = 1_000_000
) -> Batch:
    """``n`` readings over ``n_series`` series in roughly time order, with duplicates,
    late readings, repeats (stuck), spikes, level shifts, impossible values and NaN.
    Consecutive readings are 0, 1 or 2 ``step_us`` apart (hours: many days, daily slots)."""
    s = rng.integers(0, n_series, n).astype(np.int32)
    t = np.cumsum(rng.integers(0, 3, n)) * step_us + 1_700_000_000_000_000
    v = np.round(rng.normal(0, 1, n), 2) + rng.choice([0.0, 5.0], n_series)[s]
    kind = rng.random(n)
    v = np.where(kind < 0.05, v + rng.choice([-20.0, 20.0], n), v)  # spikes
    v = np.where((kind > 0.05) & (kind < 0.08), 1e6, v)  # impossible
    v = np.where((kind > 0.08) & (kind < 0.09), np.nan, v)
    v = np.where((kind > 0.11) & (kind < 0.115), np.inf, v)
    v = np.where((kind > 0.09) & (kind < 0.11), 0.0, v)
    v[n // 2 :] += rng.choice([0.0, 4.0])  # level shift
    stuck = rng.random(n) < 0.4  # repeat the series' previous value
    for i in np.flatnonzero(stuck):
        prev = np.flatnonzero(s[:i] == s[i])
        if prev.size:
            v[i] = v[prev[-1]]
    late = rng.random(n) < 0.03  # a few readings arrive out of order
    t = np.where(late, t - rng.integers(0, 5, n) * step_us, t)
    return Batch.from_lists(s, t, v)


def split(rng: np.random.Generator, batch: Batch, n_batches: int, shuffle: bool) -> list[Batch]:
    """Cut ``batch`` into consecutive pieces; optionally shuffle readings inside each piece."""
    n = len(batch)
    cuts = np.sort(rng.integers(0, n + 1, max(n_batches - 1, 0)))
    parts = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, n], strict=True):
        idx = np.arange(lo, hi)
        if shuffle:
            rng.shuffle(idx)
        parts.append(batch.take(idx))
    return parts


def random_config(rng: np.random.Generator) -> EngineConfig:
    """A small window with random refresh period, warm-up and calibration memory."""
    w = int(rng.integers(2, 24))
    refresh = int(rng.integers(1, w + 4))
    return EngineConfig(
        window=w,
        refresh=refresh,
        min_history=int(rng.integers(2, w + 1)),
        stuck_min_changes=int(rng.integers(0, 4)),
        capacity=int(rng.integers(1, 4)),
        daily_slots=int(rng.choice([0, 1, 5, 48])),
        daily_weight=float(rng.choice([0.2, 0.5, 1.0])),
        day_offset_s=int(rng.choice([0, 9 * 3600, -5 * 3600])),
        cal_beta=float(rng.choice([1 / 4, 1 / 16, 1 / 64])),
        # No draws of their own (the streams after the config keep theirs): the spikes
        # make a heavy tail, and at 0.8 the tail's bar is above cal_z in most series.
        cal_tail_k=(1.5, 0.0, 0.8)[w % 3],
        cal_tail_after=refresh % 4,
        cal_tail_start=(9.0, np.inf, 2.0)[(w + refresh) % 3],
        # The long tail (the generic profile's): maxima over 1-3 blocks, from block 0-4.
        cal_long_span=1 + w % 3,
        cal_long_after=(w + refresh) % 5,
        season_after_s=(0.0, 3600.0, 86400.0)[refresh % 3],
        stuck_learn_min=(10, 2, 1)[w % 3],
    )


def sensor_stream(
    rng: np.random.Generator, n_sensors: int, d: int, steps: int, step_us: int = 1_000_000
) -> tuple[Batch, np.ndarray]:
    """Sensors of ``d`` correlated metrics reporting together (some readings missing, some
    late, one metric of a sensor breaking the relation halfway); returns the stream and
    the sensor of each series (series ``s * d + j`` is metric ``j`` of sensor ``s``);
    readings ``step_us`` apart (minutes: days, with first days and unsure slots)."""
    base = np.cumsum(rng.normal(0, 0.3, (n_sensors, steps)), axis=1)
    gains = rng.uniform(0.5, 2.0, (n_sensors, d))
    v = gains[:, :, None] * base[:, None, :] + rng.normal(0, 0.2, (n_sensors, d, steps))
    v[:, 0, steps // 2 :] += rng.choice([0.0, 3.0])  # the relation breaks
    t = (np.arange(steps) * step_us + 1_700_000_000_000_000)[None, None, :]
    s = np.arange(n_sensors * d).reshape(n_sensors, d)[:, :, None]
    s, t = np.broadcast_to(s, v.shape), np.broadcast_to(t, v.shape)
    keep = rng.random(v.shape) > 0.05
    order = np.argsort(t[keep], kind="stable")
    sv, tv, vv = s[keep][order], t[keep][order], np.round(v[keep][order], 3)
    late = rng.random(sv.size) < 0.02
    tv = np.where(late, tv - 3_000_000, tv)
    sensors = np.repeat(np.arange(n_sensors), d)
    return Batch.from_lists(sv, tv, vv), sensors

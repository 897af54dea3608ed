"""Detector settings per sensor kind and metric: the one place defaults live.

A :class:`MetricProfile` holds every threshold of every detector for one metric. The engine
copies the numbers into a small table (one row per profile) and each series points at a row,
so thresholds are gathered per reading without Python loops. Replace or extend the defaults
by passing your own mapping to :class:`~controlcenter.anomaly.engine.Engine`.

Severity and score: every detector computes a severity ``x >= 0`` scaled so that ``x = 1`` is
its firing threshold, and the reading's score is ``x**2 / (1 + x**2)`` of the largest
severity: 0.5 at a threshold, 0.8 at twice it, 0.9 at three times. An event is emitted
exactly where a detector's severity reaches 1, so ``score >= 0.5`` means "something fired".

>>> p = profile_for("air", "pm25")
>>> p.lo, p.hi, p.robust_z
(0.0, 1000.0, 5.0)
>>> profile_for("power", "unknown-metric") is GENERIC
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_PROFILES",
    "GENERIC",
    "LIMIT_SEVERITY",
    "MetricProfile",
    "profile_for",
    "profile_from_knobs",
    "profile_table",
]

INF = math.inf
#: Severity of a physically impossible value (score 0.990).
LIMIT_SEVERITY = 10.0


@dataclass(frozen=True, slots=True)
class MetricProfile:
    """Thresholds of all detectors for one metric. ``inf`` or ``0`` (for counts) disables.

    Attributes:
        lo, hi: static limits; a value outside is impossible (limit detector, severity 10)
            and is kept out of the windows. A series may narrow ``hi`` (parking capacity).
        max_rate: largest plausible change per second; rate detector severity is
            ``|dv| / (max_rate * clip(dt_s, rate_min_dt_s, rate_max_dt_s))``.
        monotonic: a cumulative counter (kWh): any decrease is impossible.
        min_std: noise floor in the metric's unit (sensor resolution); added in quadrature
            to every spread estimate so flat series do not divide by zero.
        min_rel_std: relative noise floor, times the series' current centre (at least 1e-9,
            so rounding in a flat series never looks like a deviation).
        robust_z: robust z-score threshold: ``|x - centre| / sigma`` where sigma is
            ``1.4826 * MAD`` of the window (with the noise floors) and the centre is the
            EWMA mean before the reading, which follows diurnal trends that the window
            median lags behind (measured on simulator output: half the false alarms at
            the same recall). ``robust_median=True`` uses the window median instead.
        ewma_z: EWMA z-score threshold, ``|x - mean| / std`` of an EWMA with ``ewma_alpha``.
        ewma_clip: the EWMA mean learns each value winsorized to ``median +- ewma_clip *
            sigma`` of the robust statistics, so a spike does not drag it (and echo as a
            deviation of the readings after it); its variance learns the raw deviation.
            For a series with a daily pattern the band spans the median and the daily
            profile's mean for the time of day (a machine off at night, on most of the day).
        cusum_k, cusum_h: two-sided CUSUM on the deviation from a reference mean in robust
            sigmas, clipped to ``+-cusum_clip``
            (slack ``k``, decision level ``h``, capped at ``2h``, restarted every ``refresh``
            readings): level shifts and drifts.
        cusum_alpha: the reference: an EWMA of the values the EWMA z's mean learns, at this
            rate (``None``: ``ewma_alpha``, the EWMA z's mean itself).
        stuck_k: readings in a row with exactly the same value that make a stuck sensor.
        stuck_min_s: and the run of equal readings must also have lasted this long (reading
            time from its first reading to the current one), so a series sampled faster than
            its signal changes is not stuck after ``stuck_k`` quick readings; ``0``: the
            count alone decides.
        stuck_zero_ok: a run of zeros is normal (idle machine, empty car park).
        silence_factor, min_silence_s: silence when no reading came for longer than
            ``max(silence_factor * usual interval, min_silence_s)``.
        daily_z: daily baseline (``_daily.py``), learnt for every series; while the series
            shows a daily pattern (``_daily.seasonal_gate``), a value within ``daily_z``
            spreads of what the same time of day showed on earlier days is usual: robust z
            and CUSUM ignore it (EWMA z does not). ``inf``: no daily baseline at all.
        relation: the metric joins its sensor's vector in the relation detector
            (``_relation.py``); off for counters and constants such as a car park's capacity.
        cal_z: calibration (``_calibrate.py``): the statistical evidence must also lie
            ``cal_z`` spreads above what this series usually shows (in the log domain) to
            count. ``inf``: the absolute thresholds alone decide.
        range_k: a robust z past its threshold counts without the calibration when the
            value also lies outside the window's range (its smallest and largest value at
            the last refresh) by ``range_k`` times that range (at least 4 robust sigmas):
            a value the series has not come near in a window, however volatile its
            evidence has been (whose calibration would hide it). ``inf``: off.
        long_tail: the series' calibration also learns its *long* tail level, over
            ``EngineConfig.cal_long_span`` blocks at a time from its
            ``cal_long_after``-th block on, and its bar uses the higher of the two levels:
            rare bursts (one in a few blocks) are learnt as usual for the series.
        season_z: for a series with a daily pattern, a reading ``season_z`` spreads away
            from its slot's profile (of its own day class: not a first day or weekend)
            is robust z evidence of 1 (``daily_z`` damps what lies within ``daily_z``
            spreads; this counts what lies far beyond): a day whose curve is flatter,
            lower or shaped otherwise than the days before. ``inf``: off.
        season_after_s: ``season_z`` counts once the series has been seen this long
            (readings times the usual interval); ``None``: ``EngineConfig.season_after_s``
            (two days: one day's slot profile says little of how the next day varies).
            The loads, whose working days repeat the same shifts, take one day.
        stuck_learn: the *learnt* stuck, for a series whose usual runs of repeats no one
            gave (``stuck_k`` 0): a run of repeats longer than ``stuck_learn`` times the
            longest finished run the series has shown (learnt at each refresh, relaxing
            by 1/64 per refresh; at least ``EngineConfig.stuck_learn_min`` repeats) opens
            one episode, named ``stuck``, lasting as long as the run. A series that held
            one value for a whole window is not judged by it again. ``inf``: off.
        unsure_ewma: on a reading whose time of day has no profile of its day class yet
            (a series' first day, its first weekend), the EWMA z needs
            ``EngineConfig.unsure_scale`` times its evidence too (the robust z always
            does): for a metric that changes level with every shift (a load, whose motors'
            surge at a shift change is as sharp as a fault's step), where no earlier day
            can tell one from the other yet.

    >>> from dataclasses import replace
    >>> replace(DEFAULT_PROFILES["air.temp"], robust_z=7.0).robust_z
    7.0
    """

    lo: float = -INF
    hi: float = INF
    max_rate: float = INF
    monotonic: bool = False
    min_std: float = 0.0
    min_rel_std: float = 1e-3
    robust_z: float = 8.0
    robust_median: bool = False
    ewma_z: float = 5.0
    ewma_alpha: float = 0.1
    ewma_clip: float = 10.0
    cusum_k: float = 1.0
    cusum_h: float = 30.0
    cusum_clip: float = 4.0
    cusum_alpha: float | None = None
    stuck_k: int = 0
    stuck_min_s: float = 0.0
    stuck_zero_ok: bool = False
    silence_factor: float = 10.0
    min_silence_s: float = 60.0
    rate_min_dt_s: float = 1.0
    rate_max_dt_s: float = 60.0
    daily_z: float = 4.0
    relation: bool = True
    cal_z: float = 4.5
    range_k: float = INF
    long_tail: bool = False
    season_z: float = INF
    season_after_s: float | None = None
    stuck_learn: float = INF
    unsure_ewma: bool = False


#: The profile of a metric nobody described (and of ``score-csv``). Its CUSUM adds up
#: deviations from a slower mean than the EWMA z's (``cusum_alpha``): a level shift of 5
#: noise sigmas was found in 6 of 16 plain-noise streams from the EWMA z's mean, 10 of 16
#: from this one, 15 with the grouped MAD of ``_robust.py`` (SKAB: 32 -> 33 of 34 periods
#: found, false-alarm episodes 19 -> 25, changepoint NAB 26.7 -> 29.2). Slower still found
#: more (0.03: 15 of 16) but lagged a daily curve sampled every 5 minutes into a false
#: alarm on its first day. The kinds' profiles keep the EWMA z's mean: on the simulator
#: (30 s readings, 2-hour windows, weather-driven air metrics) a slower one (0.02) more
#: than doubled the false alarms (seed 12: 243 -> 569). Its robust z counts past the
#: calibration for a value beyond the window's range by half that range (``range_k``): SKAB
#: 33 -> 34 of 34 found, changepoint NAB 29.4 -> 38.6 (36.3 at a whole range, which hid a
#: value 15 sigmas above both loads of a two-regime stream); on the simulator (every kind)
#: it added 12% false alarms for little drift recall at a whole range, so the kinds keep
#: it off.
#: It learns the long tail (``long_tail``): the probe's 1%-bursts stream 27 -> 10 false
#: alarms, its sparse counts 5 -> 0, SKAB unchanged (its files end before block 19, the
#: first long level); on the simulator (every kind) spike and level-shift recall fell
#: 0.93 -> 0.90 and 0.88 -> 0.84 (seed 21: frequent anomalies and daily shift changes
#: make the long maxima) for 2% fewer false alarms, so the kinds keep it off.
#: And a reading far from its slot's profile counts (``season_z`` 8, twice ``daily_z``; the
#: spread at least the noise; not on Mondays, Saturdays and a series' first Sunday): a
#: daily curve whose amplitude falls to a quarter for a day was found in 12 of 12 streams
#: (0 without, 2 at 10 spreads),
#: no false alarm added in 48 seasonal streams nor on a steep trend. Off for the kinds:
#: their profiles are learnt from one earlier day on the simulator's two-day runs (without
#: the floors, at 8 and 12 spreads seed 11's false alarms rose from 267 to 528 and 429).
#: And it learns how long its runs of repeats are (``stuck_learn`` 3): a frozen noisy
#: series is found within 10 readings at any sampling rate (the probe's flat day at 1-minute
#: readings, found by nothing before), with no alarm added on set points, coarse
#: quantisation, counters or SKAB. The kinds have ``stuck_k`` and keep it off.
GENERIC = MetricProfile(
    cusum_alpha=0.05, range_k=0.5, long_tail=True, season_z=8.0, stuck_learn=3.0
)

# Shared by the kinds; tuned on simulator output with ``controlcenter evaluate`` (see the
# README of the anomaly engine for the figures). ``min_std`` is the smallest spread worth an
# alarm, not only the sensor's resolution: factory loads and CO2 swing with every shift.
_AIR = MetricProfile(stuck_k=10, min_rel_std=0.0, robust_z=5.0)
# Load, current and power factor change level with every shift start: no CUSUM there.
# Load and current ramp up from night idle at the same time every working day: a daily
# baseline (``daily_z``) knows that (26% fewer false alarms over 4 simulated days on
# held-out seeds 21 and 22, recall unchanged; ``_daily.py``).
# On a first day the EWMA z of a load needs ``unsure_scale`` times its evidence too
# (``unsure_ewma``): a shift change's motor surge is a step no earlier day explains yet.
# Held-out seeds 21 / 22 / 23 false alarms 114 / 137 / 150 -> 101 / 94 / 131, spike recall
# the same, level-shift recall 0.90 / 0.93 / 0.90 -> 0.89 / 0.93 / 0.90 (for every metric,
# the other kinds' first-day level shifts went too: 0.86 / 0.89 on seeds 21 / 22).
# A load far from its slot's profile counts (``season_z`` 12) from its second day on
# (``season_after_s`` one day): a kW meter drifting to 2.5 times its usual level for the
# hour went unflagged for three hours. Held-out seeds 21 / 22 drift recall 0.28 / 0.15 ->
# 0.44 / 0.33, false alarms 78 / 71 -> 87 / 80 (at 8 spreads the same recall, 94 / 83; at
# 20, 0.37 / 0.25 and 82 / 73). The air kinds keep it off: their day follows the weather,
# and one earlier day does not tell how (for every kind: 408 / 303 false alarms).
_LOAD = MetricProfile(
    stuck_k=10, min_rel_std=0.05, cusum_h=INF, daily_z=4.0, unsure_ewma=True,
    season_z=12.0, season_after_s=86_400.0,
)  # fmt: skip

#: Defaults keyed ``"kind.metric"`` (kinds and metrics of the MQTT contract).
DEFAULT_PROFILES: Mapping[str, MetricProfile] = {
    "air.pm10": replace(_AIR, lo=0.0, hi=2000.0, max_rate=100.0, min_std=2.0),
    "air.pm25": replace(_AIR, lo=0.0, hi=1000.0, max_rate=50.0, min_std=1.0),
    # CO2 and VOC follow the people and processes in the building: step changes each shift,
    # so no CUSUM on CO2 (its shift alarms were 13% of all false alarms, simulator seed 7);
    # VOC comes in solvent bursts the EWMA variance cannot follow, so no EWMA z there (23%
    # of false alarms; robust_z still sees VOC spikes). Together: 36% fewer false alarms on
    # held-out seeds 21 and 22, drift recall 0.87 -> 0.82, spike recall -0.005.
    "air.co2": replace(_AIR, lo=250.0, hi=10000.0, max_rate=200.0, min_std=20.0, robust_z=8.0,
                       cusum_h=INF),
    "air.voc": replace(_AIR, lo=0.0, hi=50000.0, max_rate=2000.0, min_std=20.0, robust_z=8.0,
                       ewma_z=INF),
    "air.temp": replace(_AIR, lo=-40.0, hi=85.0, max_rate=1.0, min_std=0.1),
    "air.humidity": replace(_AIR, lo=0.0, hi=100.0, max_rate=5.0, min_std=0.5),
    "power.kw": replace(_LOAD, lo=-1000.0, hi=100000.0, max_rate=500.0, min_std=1.0,
                        stuck_zero_ok=True),
    # A meter reading is a counter: its rate, its direction, and whether it still counts.
    "power.kwh": replace(_LOAD, lo=0.0, hi=1e12, max_rate=50.0, monotonic=True,
                         robust_z=INF, ewma_z=INF, stuck_k=30, daily_z=INF, relation=False),
    "power.voltage": replace(_AIR, lo=0.0, hi=1000.0, max_rate=100.0, min_std=1.0,
                             stuck_zero_ok=True),
    "power.current": replace(_LOAD, lo=0.0, hi=10000.0, max_rate=1000.0, min_std=0.5,
                             stuck_zero_ok=True),
    "power.pf": replace(_LOAD, lo=-1.0, hi=1.0, max_rate=0.5, min_std=0.01, min_rel_std=0.0,
                        ),
    # Occupancy moves in steps and rests for hours: no stuck detector; ``hi`` per series.
    "parking.occupied": MetricProfile(lo=0.0, max_rate=5.0, min_std=2.0, min_rel_std=0.0,
                                      cusum_h=INF),
    "parking.capacity": MetricProfile(lo=0.0, hi=100000.0, robust_z=INF, ewma_z=INF,
                                      cusum_h=INF, relation=False, daily_z=INF),
}  # fmt: skip


def profile_for(
    kind: str, metric: str, profiles: Mapping[str, MetricProfile] = DEFAULT_PROFILES
) -> MetricProfile:
    """The profile of ``kind.metric``, or :data:`GENERIC` when none is defined."""
    return profiles.get(f"{kind}.{metric}", GENERIC)


def profile_from_knobs(knobs: Mapping[str, object]) -> MetricProfile:
    """A profile from a sensor-kind registry entry's engine knobs (``controlcenter.kinds``).

    ``None`` turns a threshold off (infinite; ``lo``: no lower limit).

    >>> p = profile_from_knobs({"lo": 0.0, "hi": None, "robust_z": None, "stuck_k": 10})
    >>> p.lo, p.hi, p.robust_z, p.stuck_k
    (0.0, inf, inf, 10)
    """
    values: dict[str, object] = {}
    for name, value in knobs.items():
        if value is None:
            value = -INF if name == "lo" else INF
        values[name] = value
    return MetricProfile(**values)  # type: ignore[arg-type]


#: Columns of the numeric table, in order (see :func:`profile_table`).
COLUMNS = (
    "lo",
    "hi",
    "inv_rate",
    "monotonic",
    "min_std2",
    "min_rel_std",
    "inv_robust_z",
    "robust_median",
    "inv_ewma_z",
    "alpha",
    "ewma_clip",
    "cusum_k",
    "cusum_cap",
    "inv_cusum_h",
    "cusum_clip",
    "cusum_alpha",
    "inv_stuck_k",
    "stuck_min_us",
    "stuck_zero_ok",
    "silence_factor",
    "min_silence_us",
    "rate_min_dt_s",
    "rate_max_dt_s",
    "inv_daily_z",
    "inv_cal_z",
    "relation",
    "inv_range_k",
    "long_tail",
    "inv_season_z",
    "season_after_us",
    "inv_stuck_learn",
    "unsure_ewma",
)


def _inv(x: float) -> float:
    return 0.0 if math.isinf(x) or x <= 0 else 1.0 / x


def profile_row(p: MetricProfile, season_after_s: float) -> list[float]:
    """One profile as the numbers of :data:`COLUMNS` (thresholds stored as inverses;
    ``season_after_s``: the engine's, for a profile that sets none)."""
    cusum_on = not math.isinf(p.cusum_h)
    return [
        p.lo,
        p.hi,
        _inv(p.max_rate),
        float(p.monotonic),
        p.min_std * p.min_std,
        # Never below 1e-9: an EWMA of a constant is off by a few ulp, not by 1e-9.
        max(p.min_rel_std, 1e-9),
        _inv(p.robust_z),
        float(p.robust_median),
        _inv(p.ewma_z),
        p.ewma_alpha,
        p.ewma_clip,
        p.cusum_k if cusum_on else 0.0,
        2.0 * p.cusum_h if cusum_on else 0.0,
        _inv(p.cusum_h),
        p.cusum_clip,
        p.ewma_alpha if p.cusum_alpha is None else p.cusum_alpha,
        _inv(float(p.stuck_k)),
        max(p.stuck_min_s, 0.0) * 1e6,
        float(p.stuck_zero_ok),
        p.silence_factor,
        p.min_silence_s * 1e6,
        p.rate_min_dt_s,
        p.rate_max_dt_s,
        _inv(p.daily_z),
        _inv(p.cal_z),
        float(p.relation),
        _inv(p.range_k),
        float(p.long_tail),
        _inv(p.season_z),
        (season_after_s if p.season_after_s is None else p.season_after_s) * 1e6,
        _inv(p.stuck_learn),
        float(p.unsure_ewma),
    ]


def profile_table(profiles: list[MetricProfile], season_after_s: float) -> npt.NDArray[np.float64]:
    """``float64[len(profiles), len(COLUMNS)]``: the engine's per-profile numbers."""
    rows = [profile_row(p, season_after_s) for p in profiles]
    return np.array(rows, dtype=np.float64).reshape(len(profiles), len(COLUMNS))

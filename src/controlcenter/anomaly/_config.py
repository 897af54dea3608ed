"""Engine-wide settings of the anomaly engine (:class:`EngineConfig`).

One frozen record the engine, its steps and the reference read; the detector settings per
kind and metric live in ``profile.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EngineConfig"]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Engine-wide settings.

    Attributes:
        window: ``W``, readings kept per series (ring length).
        refresh: ``R``, robust statistics are recomputed every ``R`` readings of a series.
        min_history: readings a series needs before z-scores and CUSUM count.
        stuck_min_changes: value changes a series must have shown before it can be "stuck".
        stuck_learn_min: the fewest repeats in a row that make a learnt stuck (profiles
            with ``stuck_learn``, the generic one; ``_detect._learnt_stuck``).
        capacity: initial number of series slots (grows by doubling).
        daily_slots: slots per day of the daily baseline (``_daily.py``) of metrics whose
            profile sets ``daily_z``, for working days and for the weekend; 0 turns the
            daily baseline off.
        daily_weight: weight of the latest day in a slot's profile of earlier days.
        cal_beta: weight of the latest block in the calibration of a series' evidence
            (``_calibrate.py``; 1/64: about the last 4,096 readings at ``refresh`` 64).
        cal_wins: evidence above ``mean + cal_wins * spread`` is learnt as that bound.
        cal_floor: smallest spread of the log-evidence (a series whose evidence never
            varied is not infinitely surprised by the first wobble).
        cal_min_blocks: blocks learnt before calibrated scores count.
        cal_warmup: until then a reading needs ``cal_warmup`` times the detectors'
            absolute thresholds (0: it cannot alarm).
        cal_tail_k, cal_tail_after: the tail of a series' evidence (``_calibrate.py``): from
            its ``cal_tail_after``-th block on, a series learns the geometric mean of its
            blocks' largest calibrated z, and a reading must also lie ``cal_tail_k`` times
            that above the distribution's centre (a heavy-tailed series routinely shows
            10 spreads; a Gaussian one about 2.4 per block of 64 readings, and stays at
            ``cal_z``). 0: off.
        cal_tail_start: the first tail level a series learns (of either tail) is at most
            this: a spike in that block set the level alone, and with it the bar for hours
            (9: TAIL_CAP times 3, the level from which the tail raises the bar at the
            defaults, ``cal_z / cal_tail_k``; ``inf``: off).
        cal_long_span, cal_long_after: the long tail of a series whose profile sets
            ``long_tail`` (the generic profile): from its ``cal_long_after``-th block on, it
            also learns the geometric mean of its largest calibrated z over
            ``cal_long_span`` blocks at a time, and the bar uses the higher of the two
            levels (a series with rare bursts, one in a few blocks, shows none in most
            single blocks).
        off_level, off_k: an episode ends after ``off_k`` readings in a row whose
            severity is below ``off_level`` (``_episode.py``).
        growth: inside an episode, a reading scores as a new alarm only when its evidence
            is ``growth`` times the episode's peak so far.
        relation_lambda: smoothing of the relation detector's residual vector (``_relation.py``).
        relation_z: its absolute threshold (a metric's z-score given the other metrics).
        relation_cal_z: its calibration threshold (as ``cal_z`` for a series).
        relation_ridge: ridge added to the covariance's diagonal (times the diagonal).
        relation_memory: vectors the relation detector's mean and covariance remember
            (weights ``max(1 / k, 1 / relation_memory)``): enough to span a day's regimes.
        unsure_scale: a reading of a series that keeps a daily baseline, in a slot of the
            day with no profile of its day class yet (the series' first day, its first
            weekend), needs ``unsure_scale`` times the usual robust z (and relation
            severity) to alarm, once the series has been seen for ``unsure_after_s``
            (readings x usual interval; before that the time of day has hardly moved since
            its first reading); its robust z also counts no more than its deviation in the
            EWMA's spread shows (a shift start's ramp widens that spread), and a profile's
            ``unsure_ewma`` (the loads) damps its EWMA z too. A sensor's vector with a
            metric of a series that shows a daily pattern needs ``unsure_scale`` times the
            relation severity on every day (its metrics relate one way at night and
            another under load).
        noise_floor: the EWMA z's variance is never below this times the noise variance the
            window's median step implies (``_robust._median_step``: nonzero second
            differences, in steps; ``_detect._ewma``).
        season_strength: a series judges readings by the time of day (its daily baseline)
            only while the share of its variance between the day's slots is at least this
            (``_daily.seasonal_gate``).
        wide_slot: a slot of the day whose profile spreads over more than this many robust
            sigmas of the series holds a change within it (a machine switching on at 16:53
            in the slot from 16:30): for a series with a daily pattern, a value usual for
            such a slot is no EWMA z evidence either (its robust z and CUSUM never count
            there; in a narrow slot the EWMA z keeps its say: it sees drifts within the
            day's range). ``inf``: off.
        season_after_s: a profile's ``season_z`` counts once its series has been seen
            this long (readings times the usual interval), unless the profile sets its own
            (the loads: one day): a slot's profile learnt from one day (its variance from a
            handful of readings) put a plain daily curve 10 spreads away on its second day.
            Never on a Monday or a Saturday, and on a Sunday only once two weekend days
            have passed in that time (``_detect._class_continues``).
        day_offset_s: the complex's offset from UTC: the baselines' days, slots and
            weekends are local (Asia/Seoul: 32,400).

    >>> EngineConfig(window=128).refresh
    64
    """

    window: int = 256
    refresh: int = 64
    min_history: int = 32
    stuck_min_changes: int = 3
    stuck_learn_min: int = 10
    capacity: int = 1024
    daily_slots: int = 48
    daily_weight: float = 0.5
    cal_beta: float = 1.0 / 64.0
    cal_wins: float = 3.0
    cal_floor: float = 0.05
    cal_min_blocks: int = 2
    cal_warmup: float = 4.0
    cal_tail_k: float = 1.5
    cal_tail_after: int = 3
    cal_tail_start: float = 9.0
    cal_long_span: int = 4
    cal_long_after: int = 16
    off_level: float = 0.5
    off_k: int = 10
    growth: float = 2.0
    relation_lambda: float = 0.3
    relation_z: float = 6.0
    relation_cal_z: float = 6.0
    relation_ridge: float = 0.01
    relation_memory: int = 2048
    unsure_scale: float = 2.0
    unsure_after_s: float = 3600.0
    season_strength: float = 0.5
    noise_floor: float = 1.0
    wide_slot: float = 3.0
    season_after_s: float = 172_800.0
    day_offset_s: int = 0

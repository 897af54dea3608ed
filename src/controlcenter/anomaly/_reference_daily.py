"""One-reading-at-a-time specification of the daily and weekly baseline and its seasonal
gate (used by :class:`~.reference.ReferenceEngine`; vectorised: ``_daily.py``).

A series' baseline is a dict ``key -> [mean, var, n, sum, sumsq, day]``: the profile of
earlier days of the key (mean, variance) and the accumulator of the current day's visit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from controlcenter.anomaly._daily import CLASSES, GATE_ROUNDING2, GATE_TIE, US_PER_DAY

if TYPE_CHECKING:
    from controlcenter.anomaly._config import EngineConfig

__all__ = ["daily_step", "folded", "is_weekend", "seasonal", "weekend_days"]

Baseline = dict[int, list[float]]


def folded(rec: list[float], day: int, w: float) -> tuple[float, float]:
    """A key's profile as of ``day``: its accumulator of an earlier day folded in."""
    pm, pv = rec[0], rec[1]
    if rec[5] < day and rec[2] > 0:
        m = rec[3] / rec[2]
        v = max(rec[4] / rec[2] - m * m, 0.0)
        if math.isnan(pm):
            return m, v
        d = m - pm
        return pm + w * d, (1 - w) * pv + w * v + w * (1 - w) * d * d
    return pm, pv


def seasonal(daily: Baseline | None, cfg: EngineConfig, t: int) -> bool:
    """Whether the slots' profiles show a daily pattern (``_daily.seasonal_gate``), a
    slot's finished day counted as folded in."""
    k = CLASSES * cfg.daily_slots
    if daily is None or k < 2:
        return False
    day = (t + cfg.day_offset_s * 1_000_000) // US_PER_DAY
    prof = []
    for rec in daily.values():
        pm, pv = folded(rec, day, cfg.daily_weight)
        if not math.isnan(pm):
            prof.append((pm, pv))
    n = len(prof)
    if n * 4 < k or n < 2:
        return False
    mean = sum(m for m, _ in prof) / n
    between = sum((m - mean) ** 2 for m, _ in prof) / n
    within = sum(v for _, v in prof) / n
    s = cfg.season_strength
    scale2 = max(m * m for m, _ in prof)
    return between > GATE_ROUNDING2 * scale2 and between * (1.0 - s) >= s * within * (
        1.0 + GATE_TIE
    )


def is_weekend(day: int) -> bool:
    """Whether a day number (days since 1970-01-01, a Thursday) is a Saturday or Sunday."""
    return (day + 3) % 7 >= 5


def weekend_days(day: int) -> int:
    """Saturdays and Sundays before day number ``day`` (days since 1970-01-01)."""
    return 2 * (day // 7) + sum(is_weekend(d) for d in range(day % 7))


def daily_step(
    daily: Baseline | None, p: dict[str, float], cfg: EngineConfig, t: int, x: float
) -> tuple[float, float, bool, float]:
    """0 when ``x`` is usual for this slot on earlier days of its class (working day or
    weekend; a weekend slot without a profile yet: the working days'), else 1, the
    profile's mean it was judged by (NaN: none), whether the slot has no profile of
    its own class yet (*unsure*), and the profile's spread (NaN: none); then learn ``x``."""
    if daily is None:
        return 1.0, math.nan, False, math.nan
    k, w = cfg.daily_slots, cfg.daily_weight
    local = t + cfg.day_offset_s * 1_000_000
    day = local // US_PER_DAY
    slot = (local - day * US_PER_DAY) * k // US_PER_DAY
    weekend = is_weekend(day)
    key = slot + k if weekend else slot
    rec = daily.setdefault(key, [math.nan, 0.0, 0.0, 0.0, 0.0, -math.inf])
    if rec[5] != day:  # a later day: fold the day's visit into the profile
        rec[0], rec[1] = folded(rec, day, w)
        rec[2] = rec[3] = rec[4] = 0.0
        rec[5] = day
    pm, pv = rec[0], rec[1]
    unsure = math.isnan(pm)
    if weekend and math.isnan(pm) and slot in daily:
        pm, pv = folded(daily[slot], day, w)
    factor = 1.0
    if p["inv_daily_z"] > 0 and not math.isnan(pm):
        rel = p["min_rel_std"] * pm
        z = abs(x - pm) / math.sqrt(pv + p["min_std2"] + rel * rel + 1e-24)
        factor = 0.0 if z * p["inv_daily_z"] < 1.0 else 1.0
    rec[2] += 1.0
    rec[3] += x
    rec[4] += x * x
    return factor, pm, unsure, math.sqrt(pv) if not math.isnan(pm) else math.nan

"""Showcase incidents of the live run: a leak or an odour episode the map is sure to show.

Incidents drawn at the scenario's daily rates (a couple per site and day) are rare on a
screen: a newcomer watching the demo for ten minutes would not see one, and a random one
often reaches no sensor at all (the plume passes between the detectors). The scenario's
``safety.showcase`` (``{first_s, every_s, duration_s}``) adds, ``first_s`` after the start
and then every ``every_s`` simulated seconds, one incident that the sensors do see:
alternately a gas leak and an odour episode, at the site and source factory whose plume,
in the wind of that moment, reaches the most detectors of its kind (the source's own fence
detector counts), sized so the second-best reached one reads about three times its alarm
level (a lone one four times); a detector counts as reached from ``_FLOOR`` (1 % of the
plume's dilution 150 m downwind on its axis in a 3 m/s wind), and a moment when no site has
one has no showcase. They are labelled like every incident.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from controlcenter.dispersion import pasquill_class
from simulators.incident import Incident, draw_incident
from simulators.plume import arrival
from simulators.safety import SitePlan, Wind

__all__ = ["Showcase", "showcase_incidents"]

# The first alarm level of each showcased metric (the registry's default rules).
_ALARM = {"h2s": 10.0, "nh3": 25.0, "ou": 20.0}
_TYPES = (("gas_leak", "gas", "h2s"), ("odor_episode", "odor", "ou"))
# A sensor counts as reached from a dilution of 1 % of the plume's 150 m downwind on its
# axis in a 3 m/s wind: the far tail of a Gaussian (1e-80 and less) would size the release
# to infinity, and its readings would overflow to inf and NaN.
_FLOOR = 0.01 * float(arrival(np.zeros(2), np.array([150.0, 0.0]), 3.0, 270.0)[1])


@dataclass(frozen=True, slots=True)
class Showcase:
    """When showcase incidents happen: ``first_s`` after the start, then every ``every_s``
    (simulated seconds), each lasting ``duration_s``."""

    first_s: float
    every_s: float
    duration_s: float

    @classmethod
    def parse(cls, spec: object) -> Showcase | None:
        """From the scenario's ``safety.showcase`` mapping (None when absent)."""
        if not isinstance(spec, dict):
            return None
        return cls(
            float(spec.get("first_s", 120.0)),
            max(float(spec.get("every_s", 1800.0)), 60.0),
            float(spec.get("duration_s", 900.0)),
        )


def _peaks(
    plan: SitePlan, kind: str, wind: Wind, start_ms: int, duration_s: float
) -> npt.NDArray[np.float64]:
    """``float64[F, n]``: each factory's plume's highest dilution at each ``kind`` sensor
    over the release, in the wind of each minute of it (per unit emission rate)."""
    t = start_ms + np.arange(0, int(duration_s * 1000) + 1, 60_000, dtype=np.int64)
    speed, direction = wind.at(t)
    hour = (t / 3_600_000.0 + 9.0) % 24.0
    stability = pasquill_class(speed, (hour >= 7.0) & (hour < 19.0))
    src = plan.factory_xy[:, None, None, :]
    dst = plan.sensor_xy[kind][None, :, None, :]
    _, dil = arrival(src, dst, speed[None, None, :], direction[None, None, :], stability)
    out: npt.NDArray[np.float64] = dil.max(axis=-1)
    return out


def showcase_incidents(
    showcase: Showcase,
    plans: Sequence[SitePlan],
    wind_of: Callable[[int, int], Wind],
    run_start_ms: int,
    day: int,
    seed: int,
) -> dict[int, list[Incident]]:
    """The showcase incidents starting on simulated ``day``, per site index.

    ``wind_of(site, day)`` is the site's wind field of that day.
    """
    out: dict[int, list[Incident]] = {}
    day_ms = 86_400_000
    lo, hi = day * day_ms, (day + 1) * day_ms
    first, every = showcase.first_s * 1000, showcase.every_s * 1000
    n0 = max(0, int(np.ceil((lo - first) / every)))
    n = n0
    while (offset := int(first + n * every)) < hi:
        type_, kind, metric = _TYPES[n % 2]
        start = run_start_ms + offset
        best: tuple[int, float, int, int, float] | None = None
        for s, plan in enumerate(plans):
            if not len(plan.sensors[kind]):
                continue
            peaks = _peaks(plan, kind, wind_of(s, day), start, showcase.duration_s)
            ranked = -np.sort(-peaks, axis=1)
            # Sensors a plume reaches within a tenth of its best one, then how well.
            reach = (ranked >= 0.1 * ranked[:, :1]) & (ranked >= _FLOOR)
            count = reach.sum(axis=1)
            f = int(np.lexsort((-ranked[:, 0], -count))[0])
            score = (int(count[f]), float(ranked[f, 0]))
            if ranked[f, 0] >= _FLOOR and (best is None or score > (best[2], best[1])):
                second = float(ranked[f, 1]) if ranked.shape[1] > 1 else 0.0
                best = (s, float(ranked[f, 0]), int(count[f]), f, second)
        if best is not None:
            s, top, _, f, second = best
            rng = np.random.default_rng([seed, 0x5C0, n])
            inc = draw_incident(plans[s], rng, type_, start, factory=f)
            # Emission rate: the second-best sensor at 3x its alarm (the best one more), or
            # a lone one at 4x.
            q = _ALARM[metric] * (3.0 / second if second > 0.1 * top else 4.0 / top)
            inc = replace(inc, metric=metric, magnitude=q, duration_s=showcase.duration_s,
                          release_xy=plans[s].factory_xy[f].copy())  # fmt: skip
            out.setdefault(s, []).append(inc)
        n += 1
    return out

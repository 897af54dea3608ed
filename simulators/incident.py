"""Labelled safety incidents at one site: a leak, an odour episode, a fire, an effluent spill.

An incident happens at one *source factory* and every label row it produces names it:

=====================  ====================================================================
``gas_leak``           a toxic or combustible gas escapes at the source (``metric`` of the
                       gas kind) for ``duration_s``; the plume reaches the detectors
                       downwind after ``along / wind speed`` seconds, diluted as a Gaussian
                       plume around the wind's (meandering) axis (``plume.py``), as wide
                       as the air's stability class at that instant (Pasquill's, from the
                       wind speed and the time of day: wide in light daytime winds,
                       narrow and concentrated in light night winds)
``odor_episode``       the same transport for odour (``ou``, with NH3 and H2S in a ratio
                       drawn per episode), at odour monitors, for an hour or more
``fire``               the source's smoke detector trips first, its heat rises 1-3 minutes
                       later towards 60-250 C, the flame detector trips when it passes 80 C
``effluent_excursion`` the source's effluent: pH falls (acid) or rises (alkaline), COD, SS
                       and turbidity multiply, for ``duration_s``
=====================  ====================================================================

Labels are ``series,start_ms,end_ms,type,source_factory``: one row per series the incident
reached (for the plume types: where its own contribution reached the ``DETECTABLE`` level),
from the first to the last reading it touched; ``controlcenter evaluate`` reads the first
four columns as usual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from controlcenter.dispersion import pasquill_class
from simulators.kinds import SAFETY_KINDS, SAFETY_METRICS
from simulators.plume import arrival
from simulators.safety import INTERVALS_S, SitePlan, Wind, background, rounded, wind_field

__all__ = [
    "DETECTABLE",
    "INCIDENT_KIND",
    "INCIDENT_TYPES",
    "Incident",
    "Run",
    "draw_incident",
    "inject",
    "simulate",
]

FloatArray = npt.NDArray[np.float64]
Times = npt.NDArray[np.int64]
Rng = np.random.Generator
Hits = npt.NDArray[np.bool_]
INCIDENT_TYPES = ("gas_leak", "odor_episode", "fire", "effluent_excursion")
#: The safety kind each incident type shows in.
INCIDENT_KIND: Mapping[str, str] = {
    "gas_leak": "gas", "odor_episode": "odor", "fire": "fire", "effluent_excursion": "water",
}  # fmt: skip
#: A plume reached a series where its own contribution is at least this (unit of the metric).
DETECTABLE: Mapping[str, float] = {
    "lel": 2.0, "h2s": 1.0, "nh3": 2.0, "co": 5.0, "cl2": 0.1, "hcl": 0.2, "ou": 5.0,
}  # fmt: skip
# The first alarm level of each leak metric (the registry's default rules): a leak is sized
# so the plume 150 m downwind on its axis in a 3 m/s wind reads 3-20 times this.
_ALARM = {"lel": 10.0, "h2s": 10.0, "nh3": 25.0, "co": 30.0, "cl2": 0.5, "hcl": 1.0, "ou": 20.0}
_REF = float(arrival(np.zeros(2), np.array([150.0, 0.0]), 3.0, 270.0)[1])
Label = tuple[str, int, int, str, str]


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident.

    Attributes:
        type: One of ``INCIDENT_TYPES``.
        factory: Index of the source factory in the plan.
        start_ms: When the release (or fire, or spill) begins.
        duration_s: How long it lasts.
        metric: The gas metric of a leak (``ou`` for odour, the main one otherwise).
        magnitude: Emission rate (plume types, metric unit x m^3/s), peak heat (fire, C), or
            the COD multiplier (effluent).
        release_xy: ``float64[2]`` where it escapes (near the factory's position).
    """

    type: str
    factory: int
    start_ms: int
    duration_s: float
    metric: str
    magnitude: float
    release_xy: FloatArray = field(repr=False)


@dataclass(frozen=True, slots=True)
class Run:
    """A simulated stretch of the site.

    Attributes:
        plan: The site.
        wind: The true wind.
        times: ``int64[T_k]`` reading instants per kind.
        values: ``float64[n_k, T_k, M_k]`` readings per kind.
        labels: Label rows.
        incidents: What happened.
    """

    plan: SitePlan
    wind: Wind
    times: Mapping[str, npt.NDArray[np.int64]]
    values: Mapping[str, FloatArray]
    labels: list[Label]
    incidents: tuple[Incident, ...]


def draw_incident(
    plan: SitePlan, rng: np.random.Generator, type_: str, start_ms: int, factory: int | None = None
) -> Incident:
    """A random incident of ``type_`` (at ``factory``, or at a random one)."""
    if type_ not in INCIDENT_TYPES:
        raise ValueError(f"unknown incident type {type_!r}; expected one of {INCIDENT_TYPES}")
    f = int(rng.integers(len(plan.factories))) if factory is None else factory
    xy = plan.factory_xy[f] + rng.normal(0.0, 10.0, 2)
    if type_ == "gas_leak":
        metric = str(rng.choice(("lel", "h2s", "nh3", "co", "cl2", "hcl")))
        q = _ALARM[metric] * float(rng.uniform(3.0, 20.0)) / _REF
        return Incident(type_, f, start_ms, float(rng.uniform(600, 2400)), metric, q, xy)
    if type_ == "odor_episode":
        q = _ALARM["ou"] * float(rng.uniform(3.0, 20.0)) / _REF
        return Incident(type_, f, start_ms, float(rng.uniform(3600, 3 * 3600)), "ou", q, xy)
    if type_ == "fire":
        return Incident(type_, f, start_ms, float(rng.uniform(900, 3600)), "heat",
                        float(rng.uniform(60.0, 250.0)), xy)  # fmt: skip
    return Incident(type_, f, start_ms, float(rng.uniform(1800, 4 * 3600)), "cod",
                    float(rng.uniform(3.0, 8.0)), xy)  # fmt: skip


def simulate(
    plan: SitePlan,
    start_ms: int,
    duration_s: float,
    incidents: Sequence[Incident],
    seed: int,
    *,
    wind_speed: float = 3.0,
    wind_dir: float = 270.0,
    stability: float | None = None,
) -> Run:
    """Readings of every safety sensor of ``plan`` with ``incidents`` in them, and labels.

    ``stability``: the Pasquill class of the air (0 = A .. 5 = F) throughout; None reads it
    at each instant from the wind speed and the time of day.
    """
    rng = np.random.default_rng([seed, 0x1C1])
    grid = start_ms + np.arange(0, int(duration_s * 1000) + 1, 10_000, dtype=np.int64)
    wind = wind_field(grid, rng, wind_speed, wind_dir)
    times, values = {}, {}
    for kind in SAFETY_KINDS:
        step = INTERVALS_S[kind] * 1000
        times[kind] = start_ms + np.arange(0, int(duration_s * 1000) + 1, step, dtype=np.int64)
        values[kind] = background(plan, kind, times[kind], wind, rng)
    labels: list[Label] = []
    for inc in incidents:
        labels += inject(plan, wind, inc, times, values, rng, stability)
    for kind in SAFETY_KINDS:
        rounded(kind, values[kind])
    labels.sort(key=lambda r: (r[1], r[0]))
    return Run(plan, wind, times, values, labels, tuple(incidents))


def inject(
    plan: SitePlan,
    wind: Wind,
    inc: Incident,
    times: Mapping[str, npt.NDArray[np.int64]],
    values: Mapping[str, FloatArray],
    rng: np.random.Generator,
    stability: float | None = None,
    *,
    params: np.random.Generator | None = None,
) -> list[Label]:
    """Add ``inc`` to the clean ``values`` read at ``times`` (per kind); its label rows.

    Only the incident's own kind (``INCIDENT_KIND``) is read from ``times`` and ``values``.
    ``stability``: the air's Pasquill class for a plume (None: from the wind and the hour).
    ``params``: where the incident's own constants come from (odour's NH3 and H2S ratios,
    the fire's heat lag, the effluent's pH); a stretch injected piece by piece passes a
    generator seeded per incident, so every piece has the same. None: from ``rng``.
    """
    fixed = rng if params is None else params
    if inc.type in ("gas_leak", "odor_episode"):
        kind = INCIDENT_KIND[inc.type]
        return _plume(plan, wind, inc, (kind, times[kind], values[kind]), (rng, fixed), stability)
    if inc.type == "fire":
        return _fire(plan, inc, times["fire"], values["fire"], fixed)
    return _effluent(plan, inc, times["water"], values["water"], fixed)


def _plume(
    plan: SitePlan,
    wind: Wind,
    inc: Incident,
    read: tuple[str, Times, FloatArray],
    rngs: tuple[Rng, Rng],
    fixed: float | None,
) -> list[Label]:
    kind, t, vals = read
    rng, params = rngs
    speed, direction = wind.at(t)
    hour = (t / 3_600_000.0 + 9.0) % 24.0  # local time (KST); the sun is up 7-19 h
    stability = pasquill_class(speed, (hour >= 7.0) & (hour < 19.0)) if fixed is None else fixed
    # [n, T]: delay and dilution with the wind of each instant (the plume follows it).
    xy = plan.sensor_xy[kind][:, None, :]
    delay, dil = arrival(inc.release_xy, xy, speed, direction, stability)
    since = (t[None, :] - inc.start_ms) / 1000.0 - np.nan_to_num(delay, nan=np.inf)
    envelope = np.clip(since / 60.0, 0.0, 1.0) * (since <= inc.duration_s)
    puffs = np.exp(rng.normal(0.0, 0.35, dil.shape))
    conc = inc.magnitude * dil * envelope * puffs
    metrics = SAFETY_METRICS[kind]
    if inc.type == "gas_leak":
        parts = {inc.metric: conc}
        if inc.metric == "lel":  # a combustible cloud displaces a little oxygen
            vals[:, :, metrics.index("o2")] -= 0.0021 * conc
    else:
        ratio = params.uniform(0.02, 0.1), params.uniform(0.0005, 0.004)
        parts = {"ou": conc, "nh3": conc * ratio[0], "h2s": conc * ratio[1]}
    # Reached: where the main metric's own contribution is detectable (all parts alike).
    hit = conc >= DETECTABLE[inc.metric]
    out: list[Label] = []
    for metric, c in parts.items():
        vals[:, :, metrics.index(metric)] += c
        out += _rows(plan, kind, metric, t, hit, inc)
    return out


def _fire(plan: SitePlan, inc: Incident, t: Times, vals: FloatArray, rng: Rng) -> list[Label]:
    rows = np.flatnonzero(plan.sensor_factory["fire"] == inc.factory)
    since = (t - inc.start_ms) / 1000.0
    burning = (since >= 0.0) & (since <= inc.duration_s)
    lag = float(rng.uniform(60.0, 180.0))
    rise = np.clip(since - lag, 0.0, None)
    heat = (inc.magnitude - 22.0) * (1.0 - np.exp(-rise / 240.0)) * burning
    out: list[Label] = []
    for r in rows:
        vals[r, :, 0] = np.maximum(vals[r, :, 0], burning)
        vals[r, :, 2] += heat
        vals[r, :, 1] = np.maximum(vals[r, :, 1], burning & (vals[r, :, 2] >= 80.0))
    for metric, j in (("smoke", 0), ("flame", 1), ("heat", 2)):
        hit = np.zeros((len(vals), len(t)), dtype=np.bool_)
        hit[rows] = (vals[rows, :, j] >= 1.0) if metric != "heat" else (heat[None, :] >= 5.0)
        out += _rows(plan, "fire", metric, t, hit, inc)
    return out


def _effluent(plan: SitePlan, inc: Incident, t: Times, vals: FloatArray, rng: Rng) -> list[Label]:
    rows = np.flatnonzero(plan.sensor_factory["water"] == inc.factory)
    since = (t - inc.start_ms) / 1000.0
    env = np.clip(np.minimum(since, inc.duration_s - since) / 600.0, 0.0, 1.0)
    target_ph = float(rng.choice((rng.uniform(3.0, 5.0), rng.uniform(9.5, 11.5))))
    out: list[Label] = []
    for r in rows:
        vals[r, :, 0] += (target_ph - vals[r, :, 0]) * env
        for j, factor in ((1, inc.magnitude), (2, inc.magnitude * 0.8), (3, inc.magnitude * 0.8)):
            vals[r, :, j] *= 1.0 + (factor - 1.0) * env
    hit = np.zeros((len(vals), len(t)), dtype=np.bool_)
    hit[rows] = env[None, :] > 0.0
    for metric in ("ph", "cod", "ss", "turbidity"):
        out += _rows(plan, "water", metric, t, hit, inc)
    return out


def _rows(
    plan: SitePlan, kind: str, metric: str, t: Times, hit: Hits, inc: Incident
) -> list[Label]:
    """One label row per sensor with any hit: its first to last hit reading."""
    out: list[Label] = []
    source = plan.factories[inc.factory]
    for i in np.flatnonzero(hit.any(axis=1)):
        idx = np.flatnonzero(hit[i])
        key = f"{plan.path(kind, int(i))}/{metric}"
        out.append((key, int(t[idx[0]]), int(t[idx[-1]]), inc.type, source))
    return out

"""Source attribution: which factory an episode seen by several sensors most likely came from.

Input: the sensors of one pollutant at a site (positions on the plan, metres, ``x`` east,
``y`` south), for each the onset time and the peak of the episode (NaN where it did not
alarm) and its alarm level, the wind measured by the site's weather stations, and the
candidate factories' positions. Output: the candidates ranked by posterior probability.

The score is an inverse Gaussian plume. For candidate ``f`` and a wind direction ``theta``,
a sensor at ``along`` metres downwind and ``cross`` metres off the axis (``x = max(along,
0) + 30 m``, the 30 m for the size of a plant), in air of Pasquill stability class ``c``
(``controlcenter.dispersion``: Briggs' widths ``sy``, ``sz``; the class of the measured
wind speed by day or by night as ``Wind.daytime`` says, else the two averaged):

* is swept by the meandering plume with probability ``p_in = exp(-z^2 / 2)``,
  ``z = (cross + 2 max(-along, 0)) / sqrt(sy^2 + (x tan 10 deg)^2 + (10 m)^2)``: the plume's
  own width, its meander over the release (10 degrees, a typical spread of the wind's
  direction over a quarter of an hour) and the release's scatter around the factory's
  marker; never upwind;
* when swept, its peak reads the plume's mean axis concentration ``Q / (pi u sy sz)`` of
  a ground-level release times a peak-to-mean factor of 2 (short readings of a
  fluctuating plume; the median on the tuning seeds was 2.1), residuals in ``ln`` scored
  with a Student-t (3 dof) of scale 0.5 (puffs, the moment the meander crosses the sensor);
* the source strength ``Q`` is not fitted but marginalised: a grid of 33 values of ``ln Q``
  under a normal prior on the axis concentration 150 m downwind (3 m/s, neutral air) in
  alarm levels, centred on 7.7 (the middle of the 3-20 alarm levels incidents are drawn
  with), sd 1.5 in ``ln`` (0.4 to 150 alarm levels at 95 %). So an alarm beside a factory
  that would need a tiny release to read what it read counts against that factory, and a
  distant one that would need a huge release against the distant one;
* sees the plume ``a = x / u`` seconds after the release: onsets are ``t0 + a`` for one
  release time ``t0`` (the median of ``onset - a``), residuals scored with a Student-t of
  scale ``180 s + 0.3 a`` (the meander decides when an edge sensor is first swept);
* if it stayed quiet, adds ``ln(1 - p_in * P(peak > alarm level | Q))`` inside the
  integral over ``Q``: a quiet sensor in the cone, close enough to have alarmed, is evidence
  against the candidate (bounded: one quiet sensor cannot veto), and it bounds ``Q``.

Where ``Observations.wind_dir`` gives the wind at a sensor's onset, that sensor's frame is
turned by the drift from the episode's wind (a long odour episode reaches its late sensors
in a wind that turned since). Alarmed sensors add ``ln p_in``, so sensors upwind or far
off the axis rule a candidate out. The measured direction is uncertain (stations,
meander): the likelihood is averaged over ``theta + k * 4 deg`` (``k = -4..4``, Gaussian
weights of 8 deg); with no wind measured, over 24 directions all round, with a 2 m/s
speed and a halved confidence. Everything is numpy over ``[candidates,
directions, classes, sizes, sensors]``, in blocks of candidates; a candidate whose upper
bound (geometry and onsets alone) is 40 nats below the best is not integrated. The
figures were chosen on simulated episodes (seeds 0-599 of ``bench/attribution.py`` for
the earlier model, 10000-12399 and 20000-21199 for the size prior and the peak-to-mean
factor) and measured on others (README, *Source attribution*).

``confidence`` is the top candidate's posterior probability (the benchmark shows how it is
calibrated), halved without wind.

>>> import numpy as np
>>> cands = np.array([[0.0, 0.0], [0.0, 400.0], [400.0, 0.0]])
>>> sensors = np.array([[300.0, 20.0], [600.0, -30.0], [300.0, 400.0], [-300.0, 0.0]])
>>> obs = Observations(sensors, np.array([100.0, 200.0, np.nan, np.nan]),
...                    np.array([40.0, 12.0, np.nan, np.nan]), np.full(4, 10.0))
>>> result = attribute(cands, obs, Wind(3.0, 270.0), ("a", "b", "c"))
>>> result.ranked[0].factory, result.confidence > 0.5
('a', True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controlcenter.dispersion import axis_dilution, pasquill_class, sigmas

__all__ = ["Attribution", "Candidate", "Observations", "Wind", "attribute", "nearest_first"]

F64 = npt.NDArray[np.float64]

_R0_M = 30.0
_WIDTH0_M = 10.0
_MEANDER = float(np.tan(np.deg2rad(10.0)))
_UPWIND = 2.0
_T_SCALE_S = 180.0
_M_SCALE = 0.5
_DIR_STEP_DEG = 4.0
_DIR_SD_DEG = 8.0
_CALM_SPEED = 2.0
_DOF = 3.0
_DRIFT = True
_PEAK_TO_MEAN = 2.0
_SIZE_MEAN = float(np.log(np.sqrt(3.0 * 20.0)))
_SIZE_SD = 1.5
_SIZE_GRID = np.linspace(np.log(0.05), np.log(2000.0), 33)
_REF_DILUTION = float(axis_dilution(150.0, 3.0, 3.0))
#: Nats below the likelihood of the best-bounded candidate beyond which one is not scored.
_PRUNE = 40.0
#: Candidates scored per block: bounds the ``[F, K, C, G, S]`` arrays on a large site.
_BLOCK = 16


@dataclass(frozen=True, slots=True)
class Observations:
    """The sensors of one pollutant during one episode.

    Attributes:
        xy: ``float64[S, 2]`` plan positions, metres (rows with NaN are ignored).
        onset_s: ``float64[S]`` onset times (any common origin), NaN where no alarm.
        peak: ``float64[S]`` peak values, NaN where no alarm.
        alarm: ``float64[S]`` alarm level of each sensor (same unit as ``peak``).
        wind_dir: ``float64[S]`` wind direction at each sensor's onset (NaN: unknown), or
            None; where known, that sensor is scored in the frame of the wind that carried
            the plume to it, turned from the episode's wind by the measured drift.
    """

    xy: F64
    onset_s: F64
    peak: F64
    alarm: F64
    wind_dir: F64 | None = None


@dataclass(frozen=True, slots=True)
class Wind:
    """The wind at the episode's onset (None: not measured), and whether the sun was up
    (None: unknown, both stability classes are averaged)."""

    speed_ms: float | None
    direction_deg: float | None
    daytime: bool | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate source: its id, posterior probability and log-likelihood."""

    factory: str
    probability: float
    log_likelihood: float


@dataclass(frozen=True, slots=True)
class Attribution:
    """Candidates best first, the confidence in the first, and how many sensors alarmed."""

    ranked: tuple[Candidate, ...]
    confidence: float
    sensors_alarmed: int

    def top(self, k: int = 3) -> list[dict[str, object]]:
        """The first ``k`` candidates as JSON objects."""
        return [
            {"factory": c.factory, "probability": round(c.probability, 4)} for c in self.ranked[:k]
        ]


def _robust(r: F64, scale: F64 | float) -> F64:
    """Student-t log-density of residuals ``r`` (up to a constant)."""
    z = r / scale
    out: F64 = -0.5 * (_DOF + 1.0) * np.log1p(z * z / _DOF) - np.log(scale)
    return out


def _log_cdf(z: F64) -> F64:
    """``ln Phi(z)`` by the logistic approximation ``Phi(z) ~ 1 / (1 + e^(-1.702 z))``."""
    out: F64 = -np.logaddexp(0.0, -1.702 * z)
    return out


def _directions(wind: Wind) -> tuple[F64, F64, float]:
    """Wind directions to average over, their log-weights, and the speed."""
    if wind.direction_deg is None or not np.isfinite(wind.direction_deg):
        dirs = np.arange(0.0, 360.0, 15.0)
        return dirs, np.full(len(dirs), -np.log(len(dirs))), _CALM_SPEED
    k = np.arange(-4, 5, dtype=np.float64)
    w = -0.5 * (k * _DIR_STEP_DEG / _DIR_SD_DEG) ** 2
    w -= np.log(np.exp(w).sum())
    speed = wind.speed_ms if wind.speed_ms is not None and np.isfinite(wind.speed_ms) else None
    return wind.direction_deg + k * _DIR_STEP_DEG, w, max(speed or _CALM_SPEED, 0.5)


def _classes(speed: float, daytime: bool | None) -> F64:
    """Stability classes to average over: the day's and the night's for ``speed``, or one."""
    if daytime is None:
        return np.unique(np.array([pasquill_class(speed, True), pasquill_class(speed, False)]))
    return np.atleast_1d(pasquill_class(speed, daytime))


def _size_grid(alarm: F64) -> tuple[F64, F64]:
    """``ln Q`` grid points (Q: emission rate, metric unit x m^3/s) and their log prior weights.

    The prior is on ``s = ln(Q / (alarm / REF))``, the release's mean concentration on the
    axis 150 m downwind in a 3 m/s neutral wind, in alarm levels (``REF``: that dilution):
    normal, centred on ``ln 7.7`` (the geometric middle of 3-20 alarm levels, the releases an
    incident is drawn from), sd 1.5 (a 95 % range of 0.4 to 150 alarm levels).
    """
    level = float(np.median(alarm)) if len(alarm) else 1.0
    ln_w = -0.5 * ((_SIZE_GRID - _SIZE_MEAN) / _SIZE_SD) ** 2
    ln_w -= np.log(np.exp(ln_w).sum())
    out: F64 = _SIZE_GRID + np.log(max(level, 1e-12) / _REF_DILUTION)
    return out, ln_w


def _log_likelihood(
    cands: F64,
    obs: Observations,
    dirs: F64,
    wind: tuple[float, bool | None],
    base: float | None,
    exact: bool = True,
) -> F64:
    """``float64[F, K]``: log-likelihood of the observations per candidate and direction
    (``exact=False``: an upper bound, without the magnitudes, which cannot add more than
    ``-ln(scale)`` per alarmed sensor, nor the quiet sensors, which only subtract)."""
    speed, daytime = wind
    drift = np.zeros(len(obs.xy))
    if obs.wind_dir is not None and base is not None and _DRIFT:
        turn = (np.asarray(obs.wind_dir, np.float64) - base + 180.0) % 360.0 - 180.0
        drift = np.where(np.isfinite(turn), turn, 0.0)
    rad = np.deg2rad(dirs[:, None] + drift[None, :])  # [K, S]
    ux, uy = -np.sin(rad), np.cos(rad)  # where the air goes, x east / y south
    # [F, K, 1, S]: geometry; the third axis is the stability class.
    dx = obs.xy[None, None, None, :, 0] - cands[:, None, None, None, 0]
    dy = obs.xy[None, None, None, :, 1] - cands[:, None, None, None, 1]
    along = dx * ux[None, :, None] + dy * uy[None, :, None]
    cross = np.abs(dx * uy[None, :, None] - dy * ux[None, :, None])
    x = np.maximum(along, 0.0) + _R0_M
    classes = _classes(speed, daytime)
    sy, sz = sigmas(x, classes[None, None, :, None])  # [F, K, C, S]
    # The plume's instantaneous width, its meander over the release and the positions'
    # own uncertainty (a release is not at the factory's marker, nor a sensor exactly where
    # the plan says) make the band a sensor is swept in.
    width = np.sqrt(sy * sy + (x * _MEANDER) ** 2 + _WIDTH0_M**2)
    lateral = cross + _UPWIND * np.maximum(-along, 0.0)
    ln_in = -0.5 * (lateral / width) ** 2  # log of p_in, the chance the plume sweeps it
    # Swept, a sensor's peak is the plume's mean axis concentration Q / (pi u sy sz) times
    # the peak-to-mean factor of short readings.
    ln_d = np.log(_PEAK_TO_MEAN / (np.pi * max(speed, 0.3) * sy * sz))
    hit = np.isfinite(obs.onset_s)
    # Timing: the plume arrives x / u after one release time for all, fitted robustly.
    a = np.broadcast_to(x / speed, ln_d.shape)
    lag = obs.onset_s[hit] - a[..., hit]
    t0 = np.median(lag, axis=-1, keepdims=True)
    ll = _robust(lag - t0, _T_SCALE_S + 0.3 * a[..., hit]).sum(axis=-1)
    ll = ll + np.broadcast_to(ln_in, ln_d.shape)[..., hit].sum(axis=-1)
    n_classes = float(np.log(ll.shape[-1]))
    if not exact:
        bound: F64 = _logsumexp(ll - hit.sum() * np.log(_M_SCALE)) - n_classes
        return bound
    # Magnitudes, marginalised over the source strength Q (a grid, last axis G): alarmed
    # sensors as values, quiet ones as censored (below their alarm level, or not swept).
    ln_q, ln_prior = _size_grid(obs.alarm)
    resid = np.log(np.maximum(obs.peak[hit], 1e-12)) - ln_d[..., None, hit] - ln_q[:, None]
    lq = ln_prior + _robust(resid, _M_SCALE).sum(axis=-1)  # [F, K, C, G]
    if (~hit).any():
        lq = lq + _quiet(ln_in, ln_d, ln_q, np.log(np.maximum(obs.alarm[~hit], 1e-12)), ~hit)
    ll = ll + _logsumexp(lq)
    # The classes are equally likely a priori: average them.
    out: F64 = _logsumexp(ll) - n_classes
    return out


def _quiet(ln_in: F64, ln_d: F64, ln_q: F64, level: F64, quiet: npt.NDArray[np.bool_]) -> F64:
    """``float64[F, K, C, G]``: the quiet sensors' ``sum ln(1 - p_in P(peak > alarm | Q))``.

    Only the (candidate, direction, class, sensor) cells where the plume could have raised
    the sensor to its alarm level with the largest ``Q`` of the grid are evaluated (on a
    large site most quiet sensors lie outside every candidate's cone).
    """
    shape = np.broadcast_shapes(ln_in.shape, ln_d.shape)
    lin = np.broadcast_to(ln_in, shape)[..., quiet]  # [F, K, C, Sq]
    ld = np.broadcast_to(ln_d, shape)[..., quiet] - level
    cells = np.flatnonzero((lin + np.minimum((ln_q[-1] + ld) * 1.702 / _M_SCALE, 0.0)) > -14.0)
    out = np.zeros((*shape[:-1], len(ln_q)))
    if not len(cells):
        return out
    # P(peak > alarm) by the logistic approximation of the normal CDF, cell by grid point.
    z = (ln_q[None, :] + ld.reshape(-1)[cells, None]) * (1.702 / _M_SCALE)
    p = np.exp(lin.reshape(-1)[cells, None]) / (1.0 + np.exp(-z))
    terms = np.log1p(-0.999 * p)  # [cells, G]
    owner = cells // lin.shape[-1]  # the (F, K, C) cell of each
    flat = (owner[:, None] * len(ln_q) + np.arange(len(ln_q))[None, :]).reshape(-1)
    out.reshape(-1)[:] = np.bincount(flat, terms.reshape(-1), out.size)
    return out


def _logsumexp(v: F64) -> F64:
    """``ln sum exp`` over the last axis."""
    top = v.max(axis=-1, keepdims=True)
    out: F64 = (top + np.log(np.exp(v - top).sum(axis=-1, keepdims=True)))[..., 0]
    return out


def _scores(
    cands: F64,
    obs: Observations,
    directions: tuple[F64, F64],
    wind: tuple[float, bool | None],
    base: float | None,
) -> F64:
    """``float64[F]``: each candidate's log-likelihood, the wind directions averaged.

    A candidate whose upper bound (the geometry and onsets alone) falls ``_PRUNE`` below
    the likelihood of the one with the best bound is not scored exactly: its posterior
    would be below ``e^-_PRUNE``; it keeps its bound, which still ranks it among such.
    """
    dirs, log_w = directions

    def score(block: F64, exact: bool) -> F64:
        ll = np.concatenate(
            [
                _log_likelihood(block[i : i + _BLOCK], obs, dirs, wind, base, exact)
                for i in range(0, len(block), _BLOCK)
            ]
        )
        return _logsumexp(ll + log_w[None, :])

    per = score(cands, False)
    first = int(np.argmax(per))
    floor = float(score(cands[first : first + 1], True)[0]) - _PRUNE
    close = np.flatnonzero(per >= floor)
    per[close] = score(cands[close], True)
    return per


def attribute(candidates: F64, obs: Observations, wind: Wind, ids: Sequence[str]) -> Attribution:
    """Rank ``candidates`` (``float64[F, 2]`` plan positions, named ``ids``) as the source.

    Candidates or sensors without a position are left out; with no candidate or no sensor
    that alarmed the result is empty (confidence 0). Never raises on missing data.
    """
    cands = np.asarray(candidates, dtype=np.float64).reshape(-1, 2)
    keep_c = np.isfinite(cands).all(axis=1)
    xy = np.asarray(obs.xy, dtype=np.float64).reshape(-1, 2)
    keep_s = np.isfinite(xy).all(axis=1)
    onset = np.asarray(obs.onset_s, dtype=np.float64)[keep_s]
    peak = np.asarray(obs.peak, dtype=np.float64)[keep_s]
    hit = np.isfinite(onset)
    peak = np.where(hit & ~np.isfinite(peak), np.asarray(obs.alarm, np.float64)[keep_s], peak)
    turns = None if obs.wind_dir is None else np.asarray(obs.wind_dir, np.float64)[keep_s]
    clean = Observations(xy[keep_s], onset, peak, np.asarray(obs.alarm, np.float64)[keep_s], turns)
    n_hit = int(hit.sum())
    if not keep_c.any() or n_hit == 0:
        return Attribution((), 0.0, n_hit)
    names = [ids[i] for i in np.flatnonzero(keep_c).tolist()]
    dirs, log_w, speed = _directions(wind)
    base = wind.direction_deg if wind.direction_deg is not None else None
    if base is not None and not np.isfinite(base):
        base = None
    per = _scores(cands[keep_c], clean, (dirs, log_w), (speed, wind.daytime), base)
    post = np.exp(per - per.max())
    post /= post.sum()
    order = np.argsort(-post, kind="stable")
    ranked = tuple(Candidate(names[i], float(post[i]), float(per[i])) for i in order)
    confidence = float(post[order[0]])
    if wind.direction_deg is None or not np.isfinite(wind.direction_deg):
        confidence *= 0.5
    return Attribution(ranked, round(confidence, 4), n_hit)


def nearest_first(candidates: F64, obs: Observations, ids: Sequence[str]) -> list[str]:
    """Baseline: candidates by distance to the first sensor that alarmed (nearest first)."""
    onset = np.where(np.isfinite(obs.onset_s), obs.onset_s, np.inf)
    if not np.isfinite(onset).any():
        return []
    first = obs.xy[int(np.argmin(onset))]
    dist = np.hypot(*(np.asarray(candidates) - first).T)
    dist = np.where(np.isfinite(dist), dist, np.inf)
    return [ids[i] for i in np.argsort(dist, kind="stable")]

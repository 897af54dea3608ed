"""One-reading-at-a-time specification of calibration, episodes and the relation detector.

Used by :class:`~.reference.ReferenceEngine` (series and sensors share the calibration and
episode steps); the engine's vectorised versions are ``_calibrate.py``, ``_episode.py`` and
``_relation.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from controlcenter.anomaly._calibrate import TAIL_CAP, TAIL_FLOOR
from controlcenter.anomaly._relation import RESIDUAL_CLIP
from controlcenter.anomaly._relation_store import MAX_SLOTS

if TYPE_CHECKING:
    from controlcenter.anomaly._config import EngineConfig

__all__ = ["Judged", "SensorRef", "fold", "judge", "relation_step"]


class Judged(Protocol):
    """Calibration and episode state (a series' or a sensor's)."""

    cal_mean: float
    cal_var: float
    cal_blocks: int
    cal_bn: float
    cal_bsum: float
    cal_bsumsq: float
    cal_hi: float
    cal_tail: float
    cal_bmax: float
    cal_ltail: float
    cal_lbmax: float
    ep_on: bool
    ep_below: int
    ep_peak: float
    ep_start: int


def fold(st: Judged, cfg: EngineConfig) -> None:
    """Fold the calibration block into the distribution (at a refresh)."""
    if st.cal_bn <= 0:
        return
    d = st.cal_bsum / st.cal_bn  # block sums are of g - mean
    bv = max(st.cal_bsumsq / st.cal_bn - d * d, 0.0)
    w = max(cfg.cal_beta, 1.0 / (st.cal_blocks + 1.0))
    if st.cal_blocks == 0:
        st.cal_mean, st.cal_var = st.cal_mean + d, bv
    else:
        st.cal_mean, st.cal_var = (
            st.cal_mean + w * d,
            (1.0 - w) * st.cal_var + w * bv + w * (1.0 - w) * d * d,
        )
    if st.cal_blocks >= cfg.cal_tail_after:
        # The tail level: geometric mean of the blocks' largest z (the engine's formula).
        wt = max(cfg.cal_beta, 1.0 / (st.cal_blocks - cfg.cal_tail_after + 1.0))
        st.cal_tail = _stepped(st.cal_tail, st.cal_bmax, wt, cfg.cal_tail_start)
    st.cal_bmax = 0.0
    # The long tail (the engine's ``_fold_long``): maxima over cal_long_span blocks.
    u = st.cal_blocks - cfg.cal_long_after
    due = u >= 0 and (u + 1) % cfg.cal_long_span == 0
    if due and st.cal_lbmax > 0:
        wt = max(cfg.cal_beta * cfg.cal_long_span, 1.0 / ((u + 1) // cfg.cal_long_span))
        st.cal_ltail = _stepped(st.cal_ltail, st.cal_lbmax, wt, cfg.cal_tail_start)
    if due or u < 0:
        st.cal_lbmax = 0.0
    st.cal_blocks += 1
    st.cal_bn = st.cal_bsum = st.cal_bsumsq = 0.0
    st.cal_hi = st.cal_mean + cfg.cal_wins * math.sqrt(st.cal_var + cfg.cal_floor**2)


def _stepped(level: float, bmax: float, wt: float, start: float) -> float:
    """A tail level after learning a block maximum (the engine's ``_calibrate._stepped``)."""
    b = max(bmax, TAIL_FLOOR)
    if level > 0:
        return level * float(np.power(min(b, TAIL_CAP * level) / level, wt))
    return min(b, start)


def judge(
    st: Judged,
    cfg: EngineConfig,
    t: int,
    e: float,
    valid: bool,
    inv_cal_z: float,
    damp: float = 1.0,
    least: float = 0.0,
    long: bool = False,
) -> tuple[float, bool]:
    """Calibrated, episode-judged severity of evidence ``e`` (capped by the caller), and
    whether it opened or grew an episode (an event); the severity is divided by ``damp``
    after calibration, before episodes, and is at least ``least``; ``long``: the reading
    learns the long tail (its profile's ``long_tail``)."""
    g = math.log1p(e)
    s = 0.0
    if valid:
        c = 0.0
        z = (g - st.cal_mean) / math.sqrt(st.cal_var + cfg.cal_floor**2)
        if st.cal_blocks >= cfg.cal_min_blocks:
            # cal_z spreads, or cal_tail_k times the usual block maximum where higher.
            level = max(st.cal_tail, st.cal_ltail)
            bar = max(1.0, (cfg.cal_tail_k * level) * inv_cal_z)
            c = max(z, 0.0) * inv_cal_z / bar
        elif cfg.cal_warmup > 0:
            c = e * (1.0 / cfg.cal_warmup)  # as the engine (from e, times the inverse)
        s = max((min(e, c) if inv_cal_z > 0 else e) / damp, least)
        gl = min(g, st.cal_hi) - st.cal_mean
        st.cal_bn += 1.0
        st.cal_bsum += gl
        st.cal_bsumsq += gl * gl
        if st.cal_blocks >= cfg.cal_tail_after:
            st.cal_bmax = max(st.cal_bmax, z)
        if long and st.cal_blocks >= cfg.cal_long_after:
            st.cal_lbmax = max(st.cal_lbmax, z)
    low = s < cfg.off_level
    st.ep_below = min(st.ep_below + 1, cfg.off_k + 1) if low else 0
    if st.ep_on:
        x = s / (cfg.growth * max(st.ep_peak, 1.0))
        st.ep_peak = max(st.ep_peak, s)
        if low and st.ep_below == cfg.off_k:
            st.ep_on, st.ep_peak = False, 0.0
        return x, x >= 1.0
    if s >= 1.0:
        st.ep_on, st.ep_peak, st.ep_start = True, s, t
        return s, True
    return s, False


def _zeros() -> npt.NDArray[np.float64]:
    return np.zeros(MAX_SLOTS)


@dataclass
class SensorRef:
    """One sensor's relation state (see ``_relation.py``)."""

    row: int
    slots: list[int] = field(default_factory=list)  # series id of each slot
    count: int = 0
    pend_t: int = -(2**63)
    pend_mask: int = 0
    pend_e: float = 0.0
    pend_u: bool = False
    pend_r: npt.NDArray[np.float64] = field(default_factory=_zeros)
    pend_x: npt.NDArray[np.float64] = field(default_factory=_zeros)
    z: npt.NDArray[np.float64] = field(default_factory=_zeros)
    mean: npt.NDArray[np.float64] = field(default_factory=_zeros)
    cov: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((MAX_SLOTS,) * 2))
    inv: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((MAX_SLOTS,) * 2))
    has_inv: bool = False
    cal_mean: float = 0.0
    cal_var: float = 0.0
    cal_blocks: int = 0
    cal_bn: float = 0.0
    cal_bsum: float = 0.0
    cal_bsumsq: float = 0.0
    cal_hi: float = math.inf
    cal_tail: float = 0.0
    cal_bmax: float = 0.0
    cal_ltail: float = 0.0
    cal_lbmax: float = 0.0
    ep_on: bool = False
    ep_below: int = 0
    ep_peak: float = 0.0
    ep_start: int = 0

    def reset(self) -> None:
        """Forget what was learnt (the membership changed)."""
        slots, row = self.slots, self.row
        self.__init__(row)  # type: ignore[misc]
        self.slots = slots


def _inverse(cov: npt.NDArray[np.float64], d: int, ridge: float) -> npt.NDArray[np.float64]:
    out = np.zeros((MAX_SLOTS, MAX_SLOTS))
    c = cov[:d, :d]
    reg = c + np.diag(np.diag(c) * ridge + 1e-12)
    out[:d, :d] = np.linalg.inv(reg)
    return out


def relation_step(
    sen: SensorRef,
    cfg: EngineConfig,
    t: int,
    slot: int,
    reading: tuple[float, float, float, bool],
) -> tuple[float, int, bool] | None:
    """Add one valid reading of the sensor's ``slot`` (``(residual, value, own evidence,
    unsure)``); when it completes the vector of time ``t``, score that vector:
    ``(severity, slot that contributes most, event)``."""
    r, x, own, unsure = reading
    if t < sen.pend_t:
        return None
    if t > sen.pend_t:
        sen.pend_t, sen.pend_mask, sen.pend_e, sen.pend_u = t, 0, 0.0, False
        sen.pend_r, sen.pend_x = _zeros(), _zeros()
    sen.pend_e = max(sen.pend_e, own)
    sen.pend_u = sen.pend_u or unsure
    sen.pend_r[slot] = min(max(r, -RESIDUAL_CLIP), RESIDUAL_CLIP)
    sen.pend_x[slot] = x
    sen.pend_mask |= 1 << slot
    d = len(sen.slots)
    if d < 2 or sen.pend_mask != (1 << d) - 1:
        return None
    k = sen.count
    if k > 0 and (k + sen.row % cfg.refresh) % cfg.refresh == 0:
        sen.inv, sen.has_inv = _inverse(sen.cov, d, cfg.relation_ridge), True
        fold(sen, cfg)
    lam = cfg.relation_lambda
    sen.z = (1.0 - lam) * sen.z + lam * sen.pend_r
    alpha = max(1.0 / (k + 1.0), 1.0 / cfg.relation_memory)
    dev = sen.z - sen.mean
    sen.mean = (1.0 - alpha) * sen.mean + alpha * sen.z
    sen.cov = (1.0 - alpha) * sen.cov + (1.0 - alpha) * alpha * np.outer(dev, dev)
    sen.count += 1
    warm = sen.has_inv and k >= cfg.min_history and sen.pend_e < 1.0
    pdev = sen.inv @ dev
    cz = [
        abs(pdev[j]) / math.sqrt(sen.inv[j, j]) if sen.inv[j, j] > 0 else 0.0
        for j in range(MAX_SLOTS)
    ]
    top = int(np.argmax(cz))
    e = min(cz[top] / cfg.relation_z, 1e6) if warm else 0.0
    damp = cfg.unsure_scale if sen.pend_u else 1.0  # calibration learns e as it is
    sev, event = judge(sen, cfg, t, e, warm, 1.0 / cfg.relation_cal_z, damp)
    return sev, top, event

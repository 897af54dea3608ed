"""Pollution episodes of a site and the factory each most likely came from.

An *episode* is a run of alerts of one pollutant at one site whose openings follow each
other by at most ``GAP`` (30 minutes). Pollutants: each toxic or combustible gas
(``gas.h2s``, ``gas.lel``, ...; oxygen is not one), odour (every ``odor`` metric
together) and particulate matter (``air.pm``: ``pm10`` and ``pm25``). Per sensor the
episode keeps its first opening (the onset) and its largest peak as a multiple of the
alarm level (the kind's first set point, else the value that opened the alert), so metrics
of one pollutant compare. Sensors of that pollutant which did not alarm count too: a quiet
sensor downwind of a candidate is evidence against it. A sensor that did not alarm but where
the anomaly engine saw a statistical rise (``robust_z``, ``ewma_z`` or ``shift`` events)
reaching ``EVENT_MIN_RATIO`` (a fifth) of its alarm level, from ``GAP`` before the onset to
``GAP`` after the last alert, joins the episode too (``via: "event"``: reached, below alarm).

With the positions of the site's factories and sensors (plan metres, else WGS84 projected
to local metres) and the wind its weather stations measured over the 10 minutes before the
onset (and, given the complex's time zone, whether the sun was up: the air's stability),
:func:`controlcenter.attribution.attribute` ranks every factory of the site as the source.
Without positions or wind an episode is still listed, with an empty or a less confident
ranking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt

from controlcenter.attribution import Observations, Wind, attribute
from controlcenter.dispersion import daytime
from controlcenter.geo import local_metres
from controlcenter.kinds import Registry
from controlcenter.store.episodes import (
    AlertRow,
    EventRow,
    alert_opened,
    engine_events,
    pollutant_alerts,
    wind_at,
)
from controlcenter.store.positions import SitePositions, site_positions

__all__ = [
    "GAP",
    "KINDS",
    "Episode",
    "alert_episode",
    "group_alerts",
    "pollutant",
    "site_episode",
    "site_episodes",
]

#: Kinds whose alerts can make an episode.
KINDS = ("gas", "odor", "air")
#: Largest gap between the openings of two alerts of one episode.
GAP = timedelta(minutes=30)
#: Most alerts read per request, engine events per episode.
MAX_ALERTS = 5000
#: Sensors reached this long after an episode's onset are scored in the wind of their onset.
DRIFT_AFTER = timedelta(minutes=5)
MAX_TURNS = 12
#: How far before an alert's opening its episode is looked for (``alert_episode``).
ALERT_LOOKBACK = timedelta(hours=6)
MAX_EVENTS = 2000
#: An engine event joins an episode when its value reached this share of the alarm level.
EVENT_MIN_RATIO = 0.2
F64 = npt.NDArray[np.float64]


def pollutant(kind: str, metric: str) -> str | None:
    """The pollutant an alert of ``kind.metric`` is about, or None.

    >>> pollutant("gas", "nh3"), pollutant("odor", "h2s"), pollutant("air", "pm25")
    ('gas.nh3', 'odor', 'air.pm')
    >>> pollutant("gas", "o2") is None, pollutant("air", "temp") is None
    (True, True)
    """
    if kind == "odor":
        return "odor"
    if kind == "gas" and metric != "o2":
        return f"gas.{metric}"
    if kind == "air" and metric in ("pm10", "pm25"):
        return "air.pm"
    return None


@dataclass(frozen=True, slots=True)
class Episode:
    """One episode: its pollutant and its alerts (oldest first)."""

    pollutant: str
    alerts: tuple[AlertRow, ...]

    @property
    def onset(self) -> datetime:
        """When the first alert opened."""
        return self.alerts[0].opened_at

    @property
    def end(self) -> datetime | None:
        """When the last alert resolved; None while any is open."""
        ends = [a.resolved_at for a in self.alerts]
        return None if any(e is None for e in ends) else max(e for e in ends if e is not None)


def group_alerts(alerts: Sequence[AlertRow], gap: timedelta = GAP) -> list[Episode]:
    """Alerts (oldest first) grouped into episodes per pollutant, newest episode first."""
    open_: dict[str, list[AlertRow]] = {}
    done: list[Episode] = []
    for a in alerts:
        key = pollutant(a.kind, a.metric)
        if key is None:
            continue
        run = open_.get(key)
        if run and a.opened_at - run[-1].opened_at > gap:
            done.append(Episode(key, tuple(run)))
            run = None
        if run is None:
            open_[key] = run = []
        run.append(a)
    done.extend(Episode(k, tuple(v)) for k, v in open_.items())
    return sorted(done, key=lambda e: (e.onset, e.alerts[0].alert_id), reverse=True)


def _alarm_level(registry: Registry, kind: str, metric: str) -> float | None:
    """The first ``above`` set point of ``kind.metric`` in the registry, or None."""
    spec = registry.kind(kind)
    for op, points in (spec.set_points() if spec else {}).get(metric, []):
        if op == "above" and points and points[0] > 0:
            return points[0]
    return None


def _reached(
    ep: Episode, registry: Registry, events: Sequence[EventRow]
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Per sensor: the first onset and the largest peak (times the alarm level) of the
    episode's alerts, and of the engine's events at sensors that did not alarm."""
    reached: dict[tuple[str, str, str], dict[str, Any]] = {}
    for a in ep.alerts:
        level = _alarm_level(registry, a.kind, a.metric)
        level = level or (a.value if a.value is not None and a.value > 0 else None)
        top = a.peak_value if a.peak_value is not None else a.value
        ratio = top / level if top is not None and level else 1.0
        doc = reached.setdefault(
            (a.factory, a.kind, a.sensor),
            {"factory": a.factory, "kind": a.kind, "sensor": a.sensor, "onset": a.opened_at,
             "peak_ratio": ratio, "via": "alert"},
        )  # fmt: skip
        doc["peak_ratio"] = max(doc["peak_ratio"], ratio)
    for e in events:
        key = (e.factory, e.kind, e.sensor)
        level = _alarm_level(registry, e.kind, e.metric)
        if key in reached or pollutant(e.kind, e.metric) != ep.pollutant or not level:
            continue
        # A rise the engine saw below the alarm level (a fall or noise is not a plume).
        if e.value >= EVENT_MIN_RATIO * level:
            doc = {"factory": e.factory, "kind": e.kind, "sensor": e.sensor}
            reached[key] = doc | {"onset": e.started_at, "peak_ratio": e.value / level}
            reached[key]["via"] = "event"
    return reached


def _frame(pos: SitePositions) -> tuple[dict[str, tuple[float, float]], Any]:
    """Factory positions in metres, and a function giving a sensor's (or None)."""
    plan = sum(f.plan_x is not None and f.plan_y is not None for f in pos.factories)
    geo = [f for f in pos.factories if f.lat is not None and f.lon is not None]
    if plan >= len(geo):

        def sensor_plan(s: Any) -> tuple[float, float] | None:
            return pos.sensor_xy(s)

        facts = {
            f.factory: (f.plan_x, f.plan_y)
            for f in pos.factories
            if f.plan_x is not None and f.plan_y is not None
        }
        return facts, sensor_plan
    lat0 = float(np.mean([f.lat for f in geo]))
    lon0 = float(np.mean([f.lon for f in geo]))

    def metres(lat: float, lon: float) -> tuple[float, float]:
        east, north = local_metres(lat, lon, lat0, lon0)
        return float(east), -float(north)

    def sensor_geo(s: Any) -> tuple[float, float] | None:
        p = pos.sensor_geo(s)
        return metres(*p) if p else None

    return {f.factory: metres(f.lat, f.lon) for f in geo if f.lat and f.lon}, sensor_geo


def _observations(
    ep: Episode,
    reached: dict[tuple[str, str, str], dict[str, Any]],
    pos: SitePositions,
    sensor_xy: Any,
) -> tuple[Observations, list[dict[str, Any]]]:
    """The pollutant's sensors (reached ones with onset and peak) and the reached list."""
    kinds = {k for (_, k, _) in reached}
    xy: list[tuple[float, float]] = []
    onset: list[float] = []
    peak: list[float] = []
    seen = set()
    for s in pos.sensors:
        key = (s.factory, s.kind, s.sensor)
        if s.kind not in kinds:
            continue
        seen.add(key)
        p = sensor_xy(s)
        xy.append(p if p else (np.nan, np.nan))
        hit = reached.get(key)
        onset.append((hit["onset"] - ep.onset).total_seconds() if hit else np.nan)
        peak.append(hit["peak_ratio"] if hit else np.nan)
    for key, doc in reached.items():
        if key not in seen:  # alerted, but not in the catalog's positions: no position
            xy.append((np.nan, np.nan))
            onset.append((doc["onset"] - ep.onset).total_seconds())
            peak.append(doc["peak_ratio"])
    n = len(xy)
    obs = Observations(
        np.asarray(xy, np.float64).reshape(n, 2),
        np.asarray(onset, np.float64),
        np.asarray(peak, np.float64),
        np.ones(n),
    )
    return obs, sorted(reached.values(), key=lambda d: d["onset"])


async def _with_drift(
    pool: asyncpg.Pool, site: str, onset: datetime, obs: Observations
) -> Observations:
    """``obs`` with the wind direction at the onsets of sensors reached ``DRIFT_AFTER`` or
    more after the episode's onset (the 5 minutes before each; at most ``MAX_TURNS``
    distinct minutes, later ones keep the episode's wind): a long odour episode reaches its
    last sensors with a wind turned from the first one's."""
    turns = np.full(len(obs.onset_s), np.nan)
    minutes: dict[int, float] = {}
    for i, t in enumerate(obs.onset_s.tolist()):
        if not np.isfinite(t) or t < DRIFT_AFTER.total_seconds():
            continue
        m = int(t // 60)
        if m not in minutes and len(minutes) < MAX_TURNS:
            w = await wind_at(pool, site, onset + timedelta(minutes=m + 1), timedelta(minutes=5))
            minutes[m] = np.nan if w.direction_deg is None else w.direction_deg
        turns[i] = minutes.get(m, np.nan)
    return replace(obs, wind_dir=turns)


async def site_episode(
    pool: asyncpg.Pool,
    registry: Registry,
    site: str,
    episode_id: int,
    *,
    time_zone: str | None = None,
) -> dict[str, Any] | None:
    """Episode ``episode_id`` of ``site`` (the id of its first alert) as ``site_episodes``
    shows it; None when the site, the alert or an episode beginning with it does not exist.

    The alerts are read from ``GAP`` before that alert's opening: an alert of the same
    pollutant in that window would have made it join an earlier episode.
    """
    opened = await alert_opened(pool, site, KINDS, episode_id)
    if opened is None:
        return None
    found = await site_episodes(
        pool, registry, site, opened - GAP, only=episode_id, time_zone=time_zone
    )
    return found[0] if found else None


async def alert_episode(
    pool: asyncpg.Pool, registry: Registry, alert: dict[str, Any], *, time_zone: str | None = None
) -> dict[str, Any] | None:
    """The episode ``alert`` (an alert's API object) belongs to, in brief: ``{id,
    pollutant, source_factory, confidence, candidates}``; None for an alert of no
    pollutant. Alerts are read from ``ALERT_LOOKBACK`` before its opening (an episode that
    began earlier is seen from there on)."""
    if alert.get("kind") not in KINDS or alert.get("factory") is None:
        return None
    if pollutant(str(alert["kind"]), str(alert.get("metric") or "")) is None:
        return None
    since = alert["opened_at"] - ALERT_LOOKBACK
    found = await site_episodes(
        pool, registry, alert["site"], since, containing=alert["alert_id"], time_zone=time_zone
    )
    if not found:
        return None
    keys = ("id", "pollutant", "source_factory", "confidence", "candidates")
    return {k: found[0][k] for k in keys}


async def site_episodes(
    pool: asyncpg.Pool,
    registry: Registry,
    site: str,
    since: datetime,
    limit: int = 50,
    *,
    only: int | None = None,
    containing: int | None = None,
    time_zone: str | None = None,
) -> list[dict[str, Any]] | None:
    """The episodes of ``site`` still active or begun since ``since``, newest first, each
    with its attributed source (only the one whose first alert is ``only``, or the one
    holding alert ``containing``, if given); None when the site does not exist.

    Each: ``{id, pollutant, kind, onset, end, active, source_factory, confidence,
    candidates: [{factory, probability}] (top 3), sensors_reached: [{factory, kind,
    sensor, onset, peak_ratio, via: alert|event}], wind: {speed_ms, direction_deg} | null}``.
    ``time_zone`` (the complex's, an IANA name) tells day from night at the onset, so the
    air's stability class; None averages the day's and the night's.
    """
    pos = await site_positions(pool, site, kinds=KINDS)
    if pos is None:
        return None
    alerts = await pollutant_alerts(pool, site, KINDS, since, MAX_ALERTS)
    factories, sensor_xy = _frame(pos)
    names = list(factories)
    cands = np.asarray([factories[n] for n in names], np.float64).reshape(-1, 2)
    out = []
    groups = group_alerts(alerts)
    if only is not None:
        groups = [ep for ep in groups if ep.alerts[0].alert_id == only]
    if containing is not None:
        groups = [ep for ep in groups if any(a.alert_id == containing for a in ep.alerts)]
    for ep in groups[:limit]:
        last = ep.alerts[-1].opened_at
        events = await engine_events(pool, site, KINDS, ep.onset - GAP, last + GAP, MAX_EVENTS)
        obs, reached = _observations(ep, _reached(ep, registry, events), pos, sensor_xy)
        w = await wind_at(pool, site, ep.onset)
        sun = None if time_zone is None else daytime(ep.onset, time_zone)
        wind = Wind(w.speed_ms, w.direction_deg, sun)
        if w.direction_deg is not None:
            obs = await _with_drift(pool, site, ep.onset, obs)
        # Up to tens of ms on a large site: off the event loop (STYLE: CPU work over ~2 ms).
        result = await asyncio.to_thread(attribute, cands, obs, wind, names)
        top = result.top(3)
        out.append(
            {
                "id": ep.alerts[0].alert_id,
                "pollutant": ep.pollutant,
                "kind": ep.pollutant.split(".")[0],
                "onset": ep.onset,
                "end": ep.end,
                "active": ep.end is None,
                "source_factory": top[0]["factory"] if top else None,
                "confidence": result.confidence,
                "candidates": top,
                "sensors_reached": reached,
                "wind": None
                if w.direction_deg is None
                else {
                    "speed_ms": round(w.speed_ms or 0.0, 2),
                    "direction_deg": round(w.direction_deg, 1),
                },
            }
        )
    return out

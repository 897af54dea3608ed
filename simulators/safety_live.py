"""The safety and environment sensors of a scenario in the live run, with labelled incidents.

The scenario's ``safety`` section equips a share of each site's factories with gas, fire,
odour and effluent sensors and gives each site weather stations (``safety.site_plans``, on
the places ``placement.py`` gives the factories). ``SafetyFeed`` generates their readings
per site and kind in blocks of ``BLOCK_STEPS`` sampling steps, each continuing the slow
processes of the block before (``safety.background``'s ``carry``), and a wind per site that
continues across midnight, so no reading jumps at an hour, a day or a block boundary and the
readings do not depend on how (or by which shard) a run asks for them; only the blocks a run
reaches are generated. It injects incidents
(``incident.py``: leak, odour episode, fire, effluent excursion) drawn per site and day at
the rates of ``safety.incidents_per_day`` (scaled by ``--anomaly-scale``), and the
scenario's ``safety.showcase`` incidents (``showcase.py``: a leak or odour episode the
sensors surely see, a couple of minutes after the start and then periodically; none with
``--anomaly-scale 0``). Each incident's
label rows name its source factory. ``SafetyCursor`` publishes one kind in groups of
``batch`` steps, paced by ``live.run_live`` like the complex's own kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np
import numpy.typing as npt

from simulators.anomaly import Anomaly
from simulators.incident import INCIDENT_KIND, INCIDENT_TYPES, Incident, draw_incident, inject
from simulators.kinds import SAFETY_KINDS, SAFETY_METRICS
from simulators.layout import Layout
from simulators.payload import Message, PayloadEncoder
from simulators.placement import place
from simulators.safety import (
    INTERVALS_S,
    SitePlan,
    Wind,
    background,
    rounded,
    site_plans,
    wind_track,
)
from simulators.showcase import Showcase, showcase_incidents

__all__ = ["BLOCK_STEPS", "IncidentLabel", "SafetyCursor", "SafetyFeed", "safety_intervals_ms"]

FloatArray = npt.NDArray[np.float64]
Times = npt.NDArray[np.int64]
IncidentLabel = tuple[str, int, int, str, str]
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_TAIL_MS = 3_600_000  # a plume still arrives this long after its release ends
#: Steps of one kind generated together (``SafetyFeed._block``), as ``engine.py``'s frames.
BLOCK_STEPS = 64
# The slow processes' state is kept at every 64th block, to generate an old block again.
_CHECKPOINT_BLOCKS = 64
_KEPT_CHECKPOINTS = 16 * _CHECKPOINT_BLOCKS
_WIND_FIELDS = tuple(f.name for f in fields(Wind))


def safety_intervals_ms(layout: Layout) -> dict[str, int]:
    """Sampling interval per safety kind: the scenario's ``intervals_s`` or the registry's."""
    given = layout.scenario.data.get("intervals_s") or {}
    return {k: max(1, round(float(given.get(k, INTERVALS_S[k])) * 1000)) for k in SAFETY_KINDS}


@dataclass(slots=True)
class _Track:
    """The blocks of one kind at one site: the next to generate, the slow processes' state
    before it, the state before every ``_CHECKPOINT_BLOCKS``-th block, the newest blocks."""

    next: int = 0
    carry: dict[str, FloatArray] = field(default_factory=dict)
    checkpoints: dict[int, dict[str, FloatArray]] = field(default_factory=dict)
    blocks: dict[int, FloatArray] = field(default_factory=dict)


class SafetyFeed:
    """Readings and incident labels of the safety sensors of the factories ``in_shard``.

    Args:
        layout: The complex.
        start_ms: First simulated instant (step 0 of every kind).
        in_shard: ``bool[f]`` which of the layout's factories this run publishes.
    """

    def __init__(self, layout: Layout, start_ms: int, in_shard: npt.NDArray[np.bool_]) -> None:
        scenario = layout.scenario
        self.start_ms = start_ms
        self.seed = scenario.seed
        self.plans: tuple[SitePlan, ...] = site_plans(layout, place(layout))
        self.intervals = safety_intervals_ms(layout)
        spec = dict(scenario.data.get("safety") or {})
        scale = float(scenario.data.get("anomaly_scale", 1.0))
        rates = dict(spec.get("incidents_per_day") or {})
        self._rates = {t: float(rates.get(t, 0.0)) * scale for t in INCIDENT_TYPES}
        wind = dict(spec.get("wind") or {})
        low, high = (float(v) for v in wind.get("speed", (1.5, 5.0)))
        self._speed = low, high
        self._dir = float(wind.get("dir", 270.0)), float(wind.get("spread_deg", 60.0))
        self._showcase = Showcase.parse(spec.get("showcase")) if scale > 0 else None
        self._shown: dict[int, dict[int, list[Incident]]] = {}
        index = {f: i for i, f in enumerate(layout.factory_ids)}
        self._gateway = [np.array([index[f] for f in p.factories], np.intp) for p in self.plans]
        # Rows of each plan's sensors of each kind that this shard publishes.
        self._rows = [
            {
                k: np.flatnonzero(in_shard[self._gateway[s][p.sensor_factory[k]]])
                for k in SAFETY_KINDS
            }
            for s, p in enumerate(self.plans)
        ]
        self._shard_ids = {layout.factory_ids[i] for i in np.flatnonzero(in_shard)}
        self.kinds = tuple(k for k in SAFETY_KINDS if any(len(rows[k]) for rows in self._rows))
        self._tracks: dict[tuple[int, str], _Track] = {}
        self._winds: dict[tuple[int, int], Wind] = {}
        # Gust and meander at each site's midnights (day 0's: none, a fresh start).
        self._wind_state: dict[tuple[int, int], FloatArray] = {}
        self._incidents: dict[tuple[int, int], list[Incident]] = {}
        self._labels: dict[tuple[int, int, int], dict[str, list[int]]] = {}
        self._label_type: dict[tuple[int, int, int], tuple[str, str, int]] = {}
        self._emitted: set[tuple[int, int, int]] = set()

    def sensors(self, kind: str) -> int:
        """Sensors of ``kind`` this shard publishes."""
        return sum(len(rows[kind]) for rows in self._rows)

    def incidents(self, site: int, day: int) -> list[Incident]:
        """The incidents of plan ``site`` on simulated day ``day`` (from the run's start)."""
        key = (site, day)
        if key not in self._incidents:
            rng = np.random.default_rng([self.seed, 0x1C3, site, day])
            plan, t0 = self.plans[site], self.start_ms + day * _DAY_MS
            out = []
            for type_ in INCIDENT_TYPES:
                for _ in range(int(rng.poisson(self._rates[type_]))):
                    start = t0 + int(rng.integers(0, _DAY_MS))
                    out.append(draw_incident(plan, rng, type_, start))
            if self._showcase is not None:
                if day not in self._shown:  # every site's at once: the best site is chosen
                    self._shown = {
                        day: showcase_incidents(
                            self._showcase, self.plans, self._wind, self.start_ms, day, self.seed
                        )
                    }
                out += self._shown[day].get(site, [])
            self._incidents[key] = out
        return self._incidents[key]

    def _wind(self, site: int, day: int) -> Wind:
        """The site's wind on simulated ``day``: every 10 s, continued from the day before
        (gusts and meander carry their state; the mean speed and direction move from
        this day's towards the next day's over the day), so it never jumps at midnight."""
        for d in range(day + 1):  # the days before first, for the state they end with
            if (site, d) in self._winds or (site, d + 1) in self._wind_state:
                continue
            rng = np.random.default_rng([self.seed, 0x3D, site, d])
            t0 = self.start_ms + d * _DAY_MS
            grid = t0 + np.arange(0, _DAY_MS, 10_000, dtype=np.int64)
            w = (grid - t0) / _DAY_MS
            w = w * w * (3.0 - 2.0 * w)  # smooth: no kink at midnight either
            # The day's means come first from the day's stream (the next day's from its).
            s0, d0 = self._wind_mean(rng)
            s1, d1 = self._wind_mean(np.random.default_rng([self.seed, 0x3D, site, d + 1]))
            state = self._wind_state.get((site, d))
            wind, end = wind_track(grid, rng, s0 + (s1 - s0) * w, d0 + (d1 - d0) * w, state)
            self._wind_state[(site, d + 1)] = end
            self._winds[(site, d)] = wind
        if (site, day) not in self._winds:  # dropped as old: again from the state it began with
            del self._wind_state[(site, day + 1)]
            return self._wind(site, day)
        for old in [k for k in self._winds if k[0] == site and k[1] < day - 2]:
            del self._winds[old]
        return self._winds[(site, day)]

    def _wind_mean(self, rng: np.random.Generator) -> tuple[float, float]:
        """A day's mean wind speed and direction (its value at the day's midnight)."""
        speed = float(rng.uniform(self._speed[0], self._speed[1]))
        return speed, self._dir[0] + float(rng.uniform(-1.0, 1.0)) * self._dir[1]

    def _wind_over(self, site: int, t0: int, t1: int) -> Wind:
        """The site's wind from ``t0`` to ``t1`` (one day's field, or two joined)."""
        first, last = ((t - self.start_ms) // _DAY_MS for t in (t0, t1))
        days = [self._wind(site, d) for d in range(first, last + 1)]
        if len(days) == 1:
            return days[0]
        return Wind(*(np.concatenate([getattr(w, f) for w in days]) for f in _WIND_FIELDS))

    def _block(self, site: int, kind: str, b: int) -> FloatArray:
        """Block ``b`` (steps ``[b * BLOCK_STEPS, (b + 1) * BLOCK_STEPS)``) of every sensor
        of ``kind`` at plan ``site``, incidents in, rounded: ``float64[n, BLOCK_STEPS, M]``.

        Blocks are generated in order, each continuing the slow processes of the one before,
        so the readings do not depend on how a run asks for them (hours, batches)."""
        track = self._tracks.setdefault((site, kind), _Track())
        if b in track.blocks:
            return track.blocks[b]
        if b < track.next:  # asked again for a block no longer kept: from a checkpoint
            track.next = max(c for c in track.checkpoints if c <= b)
            track.carry = {k: v.copy() for k, v in track.checkpoints[track.next].items()}
        while track.next <= b:
            i = track.next
            if i % _CHECKPOINT_BLOCKS == 0:
                track.checkpoints[i] = {k: v.copy() for k, v in track.carry.items()}
                # A forever run keeps the first and the last few (older: from block 0).
                for old in [c for c in track.checkpoints if 0 < c < i - _KEPT_CHECKPOINTS]:
                    del track.checkpoints[old]
            track.blocks[i] = self._generate(site, kind, i, track.carry)
            track.next += 1
            for old in [x for x in track.blocks if x < i - 2]:
                del track.blocks[old]
        return track.blocks[b]

    def _generate(self, site: int, kind: str, b: int, carry: dict[str, FloatArray]) -> FloatArray:
        plan, dt = self.plans[site], self.intervals[kind]
        seq = np.arange(b * BLOCK_STEPS, (b + 1) * BLOCK_STEPS, dtype=np.int64)
        times = self.start_ms + seq * dt
        lo, hi = int(times[0]), int(times[-1])
        wind = self._wind_over(site, lo, hi)
        code = SAFETY_KINDS.index(kind)
        rng = np.random.default_rng([self.seed, 0x5B0, site, code, b])
        values = {kind: background(plan, kind, times, wind, rng, carry)}
        first = (lo - self.start_ms) // _DAY_MS
        for d in range(max(first - 1, 0), (hi - self.start_ms) // _DAY_MS + 1):
            for n, inc in enumerate(self.incidents(site, d)):
                ends = inc.start_ms + inc.duration_s * 1000 + _TAIL_MS
                if INCIDENT_KIND[inc.type] != kind or inc.start_ms > hi or ends < lo:
                    continue
                noise = np.random.default_rng([self.seed, 0x1C4, site, d, n, b])
                params = np.random.default_rng([self.seed, 0x1C5, site, d, n])
                rows = inject(plan, wind, inc, {kind: times}, values, noise, params=params)
                self._note((site, d, n), inc, rows)
        return rounded(kind, values[kind])

    def _note(self, key: tuple[int, int, int], inc: Incident, rows: list[IncidentLabel]) -> None:
        if key in self._emitted:
            return  # an hour generated again (dropped while another kind still needed it)
        spans = self._labels.setdefault(key, {})
        ends = inc.start_ms + int(inc.duration_s * 1000) + _TAIL_MS
        self._label_type[key] = (inc.type, self.plans[key[0]].factories[inc.factory], ends)
        for series, start, end, _, _ in rows:
            if series.split("/")[1] not in self._shard_ids:
                continue
            span = spans.setdefault(series, [start, end])
            span[0], span[1] = min(span[0], start), max(span[1], end)

    def take_labels(self, until_ms: int | None) -> list[IncidentLabel]:
        """Label rows of the incidents whose plumes ended (an hour after the release) an
        hour before ``until_ms`` (all with None), each series once per incident."""
        out: list[IncidentLabel] = []
        for key, spans in list(self._labels.items()):
            type_, source, ends = self._label_type[key]
            if until_ms is not None and ends > until_ms - _HOUR_MS:
                continue
            out += [(s, a, b, type_, source) for s, (a, b) in spans.items()]
            del self._labels[key]
            self._emitted.add(key)
        return sorted(out, key=lambda r: (r[1], r[0]))

    def readings(
        self, kind: str, k0: int, k1: int
    ) -> list[tuple[int, str, Times, list[int], list[dict[str, float]]]]:
        """Steps ``[k0, k1)`` of every published sensor of ``kind``: ``(gateway factory,
        path, times, seq, values)`` per sensor."""
        dt = self.intervals[kind]
        seq = np.arange(k0, k1, dtype=np.int64)
        metrics = SAFETY_METRICS[kind]
        out = []
        for s, plan in enumerate(self.plans):
            rows = self._rows[s][kind]
            if not len(rows):
                continue
            vals = np.empty((len(rows), len(seq), len(metrics)))
            for b in range(k0 // BLOCK_STEPS, -(-k1 // BLOCK_STEPS)):
                lo, hi = max(k0, b * BLOCK_STEPS), min(k1, (b + 1) * BLOCK_STEPS)
                block = self._block(s, kind, b)
                vals[:, lo - k0 : hi - k0] = block[
                    rows, lo - b * BLOCK_STEPS : hi - b * BLOCK_STEPS
                ]
            times = self.start_ms + seq * dt
            for i, r in enumerate(rows.tolist()):
                gateway = int(self._gateway[s][plan.sensor_factory[kind][r]])
                values = [dict(zip(metrics, v, strict=True)) for v in vals[i].tolist()]
                out.append((gateway, plan.path(kind, r), times, seq.tolist(), values))
        return out


class SafetyCursor:
    """The next group of ``width`` steps of one safety kind (the live run's cursor).

    ``outages(t0, t1)`` lists the gateway-offline anomalies meeting ``[t0, t1]``: a
    gateway that is offline sends nothing from its safety sensors either.
    """

    def __init__(
        self,
        feed: SafetyFeed,
        kind: str,
        width: int,
        outages: Callable[[int, int], list[Anomaly]],
    ) -> None:
        self.feed, self.kind, self.width = feed, kind, width
        self.dt = feed.intervals[kind]
        self.pos = 0
        self._outages = outages

    @property
    def due_ms(self) -> int:
        """Simulated time at which every reading of the next group exists."""
        return self.feed.start_ms + (self.pos + self.width) * self.dt

    def messages(self, encoder: PayloadEncoder, remaining: int | None) -> list[Message]:
        """The next group's messages (at most ``remaining`` readings)."""
        k0, self.pos = self.pos, self.pos + self.width
        t0 = self.feed.start_ms + k0 * self.dt
        down = self._outages(t0, t0 + self.width * self.dt)
        out: list[Message] = []
        for gateway, path, times, seq, values in self.feed.readings(self.kind, k0, self.pos):
            topic = f"{encoder.root}/v1/{path}"
            off = [a for a in down if a.factory == gateway]
            if off:
                keep = [
                    i for i, t in enumerate(times.tolist())
                    if not any(a.start_ms <= t <= a.end_ms for a in off)
                ]  # fmt: skip
                times, seq, values = times[keep], [seq[i] for i in keep], [values[i] for i in keep]
            for m in encoder.sensor_messages(gateway, topic, times, seq, values):
                if remaining is not None and remaining < m.readings:
                    return out
                out.append(m)
                remaining = None if remaining is None else remaining - m.readings
        return out

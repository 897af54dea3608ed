"""The live run: frames published as their simulated time comes, paced against the wall clock.

Simulated time runs ``speed`` times faster than the wall clock from ``sim.start_ms``. A
group of ``batch`` sampling steps of a kind is published when its last step is due, so a
gateway batch holds readings its gateway could have buffered by then. If the broker or the
encoder cannot keep up, the run falls behind and publishes as fast as it can (the summary
reports the rate actually offered). Gateway-offline anomalies drop and restore connections
as their windows open and close; labels are appended to ``labels_path`` as anomalies start.
"""

from __future__ import annotations

import csv
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simulators.anomaly import Anomaly
from simulators.engine import Simulation
from simulators.frame import Frame
from simulators.incident_files import LABEL_HEADER
from simulators.kinds import Kind
from simulators.payload import Message, PayloadEncoder
from simulators.publisher import GatewayPool
from simulators.safety_live import SafetyCursor

__all__ = ["LIVE_HEADER", "RunOptions", "RunStats", "incident_labels_path", "run_live"]

LIVE_HEADER = ("series", "start_ms", "end_ms", "type")


def incident_labels_path(labels: Path | None) -> Path | None:
    """Where a live run writes its safety incidents' labels (with their source factory):
    beside ``labels``, ``labels-incidents.csv`` for ``labels.csv``."""
    return None if labels is None else labels.with_name(f"{labels.stem}-incidents.csv")


logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a live run is paced and when it stops.

    Attributes:
        speed: Simulated seconds per wall second; 0 publishes as fast as possible.
        duration_s: Stop after this many wall seconds (None: no limit).
        count: Stop after this many readings (None: no limit).
        labels_path: Append labels here (CSV, header written when the file is new).
        report_every_s: Log progress at INFO this often.
        clock_ms: The simulated instant at the first wall second (default: the simulation's
            start); later than the start, the first readings are published at once.
    """

    speed: float = 1.0
    duration_s: float | None = None
    count: int | None = None
    labels_path: Path | None = None
    report_every_s: float = 10.0
    clock_ms: int | None = None


@dataclass(slots=True)
class RunStats:
    """What a live run published.

    Attributes:
        readings: Readings published (one reading = one sensor at one timestamp).
        values: Metric values inside those readings.
        messages: MQTT messages published.
        bytes: Payload bytes.
        seconds: Wall seconds from the first publish to the end of the final flush.
        lost: Messages paho could not deliver.
        labels: Label rows written.
        incident_labels: Label rows of safety incidents written (``incident_labels_path``).
        sim_end_ms: Simulated time reached.
        offline: Gateway-offline anomalies in progress, by id (the run's own bookkeeping).
    """

    readings: int = 0
    values: int = 0
    messages: int = 0
    bytes: int = 0
    seconds: float = 0.0
    lost: int = 0
    labels: int = 0
    incident_labels: int = 0
    sim_end_ms: int = 0
    offline: dict[int, Anomaly] = field(default_factory=dict)

    @property
    def readings_per_s(self) -> float:
        """Readings offered per wall second."""
        return self.readings / self.seconds if self.seconds > 0 else 0.0


class _Cursor:
    """The next group of steps of one kind."""

    def __init__(self, sim: Simulation, kind: Kind, width: int) -> None:
        self.sim, self.kind, self.width = sim, kind, width
        self.dt = sim.interval_ms(kind)
        self.frame: Frame = sim.next_frame(kind)
        self.pos = 0

    @property
    def due_ms(self) -> int:
        """Simulated time at which every reading of the next group exists."""
        last = int(self.frame.seq[min(self.pos + self.width, len(self.frame.seq)) - 1])
        return self.sim.start_ms + (last + 1) * self.dt

    def take(self) -> Frame:
        group = self.frame.slice_steps(self.pos, self.pos + self.width)
        self.pos += self.width
        if self.pos >= len(self.frame.seq):
            self.frame, self.pos = self.sim.next_frame(self.kind), 0
        return group

    def messages(self, encoder: PayloadEncoder, remaining: int | None) -> list[Message]:
        """The next group's messages (at most ``remaining`` readings)."""
        return encoder.messages(self.take(), remaining)


def run_live(
    sim: Simulation,
    encoder: PayloadEncoder,
    pool: GatewayPool,
    options: RunOptions,
    stop: threading.Event,
) -> RunStats:
    """Publish the simulation until ``stop`` is set, the duration ends or the count is reached.

    Args:
        sim: The simulation (its start is the first simulated instant).
        encoder: Builds the messages.
        pool: Open gateway connections.
        options: Pacing and stop conditions.
        stop: Set from a signal handler or another thread to end the run cleanly.
    """
    stats = RunStats()
    cursors: list[_Cursor | SafetyCursor] = [
        _Cursor(sim, kind, encoder.batch) for kind in sim.kinds
    ]
    if sim.safety is not None:
        cursors += [
            SafetyCursor(sim.safety, k, encoder.batch, sim.gateway_events) for k in sim.safety.kinds
        ]
    label_writer = _LabelFile(options.labels_path, LIVE_HEADER)
    incident_writer = _LabelFile(incident_labels_path(options.labels_path), LABEL_HEADER)
    clock0 = sim.start_ms if options.clock_ms is None else options.clock_ms
    wall0 = time.monotonic()
    next_report = wall0 + options.report_every_s
    serviced = wall0
    ahead_warned = False
    try:
        while not stop.is_set():
            now = time.monotonic()
            if options.duration_s is not None and now - wall0 >= options.duration_s:
                break
            cursor = min(cursors, key=lambda c: c.due_ms)
            due = cursor.due_ms
            if options.speed > 0:
                wait = wall0 + (due - clock0) / 1000.0 / options.speed - now
                if wait > 0:
                    pool.service(min(wait, 0.25))
                    continue
            if now - serviced > 0.5:
                pool.service(0.0)
                serviced = now
            # Gateways come back before the group (it may hold readings after their window)
            # and go down after it (it holds their last readings before the window).
            _gateways_online(pool, stats, due)
            remaining = None if options.count is None else options.count - stats.readings
            deadline = None if options.duration_s is None else wall0 + options.duration_s
            for i, message in enumerate(cursor.messages(encoder, remaining)):
                # A group of a large complex takes seconds: stop within it when asked to.
                if i % 1000 == 999 and (
                    stop.is_set() or (deadline is not None and time.monotonic() > deadline)
                ):
                    break
                if pool.publish(message):
                    stats.readings += message.readings
            _gateways_offline(sim, pool, stats, due)
            stats.sim_end_ms = due
            if not ahead_warned and due > time.time() * 1000 + 240_000:
                ahead_warned = True
                logger.warning(
                    "simulated time is now ahead of the wall clock: a service rejects "
                    "readings more than a few minutes in its future (see --start)"
                )
            stats.labels += label_writer.write(sim.take_labels(due))
            if sim.safety is not None:
                stats.incident_labels += incident_writer.write(sim.safety.take_labels(due))
            if options.count is not None and stats.readings >= options.count:
                break
            if now >= next_report:
                logger.info(
                    "%d readings, %.0f/s, simulated %s",
                    stats.readings,
                    stats.readings / max(now - wall0, 1e-9),
                    time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(due / 1000)),
                )
                next_report = now + options.report_every_s
        pool.flush()
        if sim.safety is not None:
            stats.incident_labels += incident_writer.write(sim.safety.take_labels(None))
    finally:
        label_writer.close()
        incident_writer.close()
    stats.seconds = time.monotonic() - wall0
    stats.messages, stats.bytes, stats.lost = pool.messages, pool.bytes, pool.lost
    return stats


def _gateways_offline(sim: Simulation, pool: GatewayPool, stats: RunStats, now_ms: int) -> None:
    """Take down the gateways whose offline window has begun by simulated ``now_ms``."""
    for a in sim.gateway_events(now_ms, now_ms):
        if a.id not in stats.offline:
            stats.offline[a.id] = a
            pool.go_offline(a.factory)


def _gateways_online(pool: GatewayPool, stats: RunStats, now_ms: int) -> None:
    """Bring back the gateways whose offline window ended before simulated ``now_ms``."""
    for key, a in list(stats.offline.items()):
        if a.end_ms < now_ms:
            del stats.offline[key]
            if not any(b.factory == a.factory for b in stats.offline.values()):
                pool.go_online(a.factory)


class _LabelFile:
    """Appends label rows to a CSV file as they come (nothing when no path is given)."""

    def __init__(self, path: Path | None, header: Sequence[str]) -> None:
        self._fh = None
        if path is not None:
            new = not path.exists() or path.stat().st_size == 0
            self._fh = path.open("a", newline="", encoding="utf-8")
            self._writer = csv.writer(self._fh, lineterminator="\n")
            if new:
                self._writer.writerow(header)

    def write(self, rows: Sequence[Sequence[object]]) -> int:
        if self._fh is None or not rows:
            return len(rows)
        self._writer.writerows(rows)
        self._fh.flush()
        return len(rows)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()

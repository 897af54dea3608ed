"""The simulation: clean streams plus injected anomalies, restricted to one shard.

``Simulation`` owns the layout, one stream and one injector per kind, and the planner. It
generates every sensor of the complex and keeps the rows of its shard, so shards of one
scenario produce exactly the data of the whole run split by factory (generation costs far
less than publishing, so the duplicated work does not matter).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from simulators.anomaly import Anomaly, AnomalyPlanner, Injector, Label
from simulators.frame import Frame
from simulators.kinds import Kind
from simulators.layout import Layout, build_layout
from simulators.safety_live import SafetyFeed
from simulators.scenario import Scenario
from simulators.signal import KindStream, make_stream

__all__ = ["Simulation", "parse_shard"]


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` to ``(i, n)``.

    >>> parse_shard("1/4")
    (1, 4)
    """
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError as exc:
        raise ValueError(f"shard must look like i/n, not {text!r}") from exc
    if not 0 <= index < count:
        raise ValueError(f"shard {text!r}: need 0 <= i < n")
    return index, count


class Simulation:
    """Frames of every kind with anomalies injected, for the factories of one shard.

    Args:
        scenario: The resolved scenario.
        start_ms: Start of simulated time, epoch milliseconds.
        shard: ``(index, count)``: keep factories whose number modulo count is index.
        epoch_steps: Sampling steps per frame.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        start_ms: int,
        shard: tuple[int, int] = (0, 1),
        epoch_steps: int = 64,
    ) -> None:
        self.scenario = scenario
        self.layout: Layout = build_layout(scenario)
        self.start_ms = start_ms
        self.shard = shard
        self.planner = AnomalyPlanner(self.layout, start_ms)
        self.factories = self.layout.shard_factories(*shard)
        in_shard = np.zeros(self.layout.n_factories, dtype=np.bool_)
        in_shard[self.factories] = True
        self._in_shard = in_shard
        self.kinds = tuple(k for k in Kind if len(self.layout.tables[k]))
        self.rows: dict[Kind, npt.NDArray[np.intp]] = {}
        self._streams: dict[Kind, KindStream] = {}
        self._injectors: dict[Kind, Injector] = {}
        for kind in self.kinds:
            table = self.layout.tables[kind]
            self.rows[kind] = np.flatnonzero(in_shard[table.factory])
            stream = make_stream(self.layout, kind, start_ms, epoch_steps)
            self._streams[kind] = stream
            self._injectors[kind] = Injector(self.layout, self.planner, kind, stream.scale())
        self._seen: dict[int, Anomaly] = {}
        # Ids already labelled; an anomaly spanning many frames is seen again and again.
        self._labelled: set[int] = set()
        self._gateway_plan: dict[int, list[Anomaly]] = {}
        #: The safety sensors of the scenario's ``safety`` section (None without one).
        self.safety = (
            SafetyFeed(self.layout, start_ms, in_shard) if scenario.data.get("safety") else None
        )

    def interval_ms(self, kind: Kind) -> int:
        """Sampling interval of ``kind``."""
        return self.layout.tables[kind].interval_ms

    def next_frame(self, kind: Kind) -> Frame:
        """The next frame of ``kind`` for this shard, anomalies injected."""
        frame = self._streams[kind].next_frame()
        for a in self._injectors[kind].apply(frame):
            if a.id not in self._labelled:
                self._seen.setdefault(a.id, a)
        return frame.take(self.rows[kind])

    def frames(self, kind: Kind) -> Iterator[Frame]:
        """Frames of ``kind`` forever."""
        while True:
            yield self.next_frame(kind)

    def in_shard(self, a: Anomaly) -> bool:
        """Whether an anomaly concerns this shard (complex-wide events concern every shard)."""
        return a.factory < 0 or bool(self._in_shard[a.factory])

    def take_labels(self, until_ms: int, end_ms: int | None = None) -> list[Label]:
        """Labels of the anomalies seen so far that start at or before ``until_ms``.

        Each anomaly is returned once; ``end_ms`` clips label ends (the end of a run).
        """
        due = sorted(
            (a for a in self._seen.values() if a.start_ms <= until_ms),
            key=lambda a: (a.start_ms, a.id),
        )
        rows: list[Label] = []
        for a in due:
            del self._seen[a.id]
            self._labelled.add(a.id)
            if not self.in_shard(a):
                continue
            for series, start, end, kind in a.labels(self.layout):
                rows.append((series, start, end if end_ms is None else min(end, end_ms), kind))
        return rows

    def gateway_events(self, t0: int, t1: int) -> list[Anomaly]:
        """gateway_offline anomalies of this shard that meet ``[t0, t1]``."""
        planner = self.planner
        longest = int(planner.duration_s("gateway_offline")[1] * 1000)
        first = max(0, (t0 - longest - self.start_ms) // planner.period_ms)
        last = (t1 - self.start_ms) // planner.period_ms
        out: list[Anomaly] = []
        for period in range(first, last + 1):
            if period not in self._gateway_plan:
                self._gateway_plan[period] = [
                    a
                    for a in planner.plan(period)
                    if a.type == "gateway_offline" and self.in_shard(a)
                ]
            out.extend(a for a in self._gateway_plan[period] if a.start_ms <= t1 and a.end_ms >= t0)
        return out

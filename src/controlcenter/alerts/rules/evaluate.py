"""Vectorised rule evaluation over scored batches: hysteresis and durations for every rule at once.

The cells, slots and tables are compiled by :class:`~controlcenter.alerts.rules._tables.RuleTables`
(see there). Per batch:

1. expand readings into (reading, slot, cell) pairs with ``np.repeat`` and one gather;
2. one comparison finds the pairs above their raise threshold ("hits");
3. only cells that were hit or are already in a non-default state ("hot") go further: their
   pairs, plus detector events, are sorted by (cell, time) and the hysteresis, combination,
   duration and open/closed state machines run as segment-wise forward fills.

No Python loop over readings, rules or series on this path; a quiet batch costs a dozen
numpy calls over the pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from controlcenter.alerts.rules._tables import NO_DETECTOR, RuleTables
from controlcenter.alerts.rules._vector import ffill, segments, shift
from controlcenter.alerts.rules.changes import Changes
from controlcenter.anomaly import Events
from controlcenter.domain import Batch

__all__ = ["Evaluator"]

_I64 = npt.NDArray[np.int64]
_F64 = npt.NDArray[np.float64]
_B = npt.NDArray[np.bool_]


class Evaluator(RuleTables):
    """Evaluates every per-series and per-sensor rule over batches and anomaly events.

    Call :meth:`set_rules`, then :meth:`refresh` whenever the catalog grew, then
    :meth:`evaluate` per scored batch. Gateway rules are not evaluated here.

    >>> from controlcenter.alerts import Rule
    >>> from controlcenter.domain import SensorKey, SeriesKey
    >>> keys = {0: SeriesKey(SensorKey("s", "f", "air", "a1"), "pm10")}
    >>> ev = Evaluator()
    >>> ev.set_rules([Rule.model_validate({"id": 1, "name": "pm10",
    ...     "conditions": [{"metric": "pm10", "raise_at": 80, "clear_at": 70}]})])
    >>> ev.refresh(keys.get, 0)
    True
    >>> b = Batch.from_lists([0, 0, 0, 0], [1, 2, 3, 4], [85, 79, 81, 60])
    >>> ch = ev.evaluate(b, Events.empty())
    >>> ch.opened.tolist(), ch.time.tolist()  # one open (79 is in the band), one close
    ([True, False], [1, 4])
    """

    def evaluate(self, batch: Batch, events: Events) -> Changes:
        """Run every rule over ``batch`` (readings) and ``events`` (detector firings)."""
        ix = self.index
        if self._ref_version != ix.version:
            self._thresholds()
        crow = self._candidates(batch)
        if len(crow):
            # Capacity rows are candidates, and so is every row of their car parks.
            cap = crow[self._is_cap[np.minimum(batch.series[crow], len(self._is_cap) - 1)]]
            if len(cap):
                capb = batch.take(cap)  # the latest last per series: (series, time) order
                capb = capb if batch.by_series else capb.sorted_by_time()
                self._capacity_changed(ix.observe_capacity(capb.series, capb.value))
        row, slot, cell = self._reads.expand(batch.series[crow])
        row = crow[row]
        value = batch.value[row]
        sv = value * self.slot_sign[slot]
        ref = self._refs(batch.series[row], slot) if self._has_ref else np.ones(len(slot))
        hit = sv > self.slot_sraise[slot] * ref
        erow, eslot, ecell = self._events.expand(events.series)
        ekeep = self.slot_detector[eslot] == events.detector[erow]
        if not len(crow) and not ekeep.any():
            return Changes.empty()
        mark = self.hot.copy()
        mark[cell[hit]] = True
        mark[ecell[ekeep]] = True
        sel = mark[cell]
        # Readings that keep an open single-condition alert on change nothing but its peak:
        # cells that only have such readings skip the state machine.
        open_single = self.active & self.comb & self._cell_single  # per cell: one gather
        stay = sel & hit & open_single[cell]
        busy = np.zeros(self.n_cells, np.bool_)
        busy[cell[sel & ~stay]] = True
        busy[ecell[ekeep]] = True
        quiet = stay & ~busy[cell]
        steady = self._steady(
            cell[quiet], batch.time[row[quiet]], value[quiet], slot[quiet], ref[quiet]
        )
        sel &= ~quiet
        if not sel.any() and not ekeep.any():
            return steady
        e_slot = eslot[ekeep]
        k = len(e_slot)
        off = ~(sv[sel] >= self.slot_sclear[slot[sel]] * ref[sel])
        cols = (
            np.concatenate([cell[sel], ecell[ekeep]]),
            np.concatenate([batch.time[row[sel]], events.time[erow[ekeep]]]),
            np.concatenate([value[sel], events.value[erow[ekeep]]]),
            np.concatenate([hit[sel], np.ones(k, np.bool_)]),
            np.concatenate([off, np.zeros(k, np.bool_)]),
            np.concatenate([slot[sel], e_slot]),
            np.concatenate([ref[sel], np.ones(k)]),
            np.concatenate([batch.series[row[sel]], events.series[erow[ekeep]]]),
        )
        prio = np.concatenate([np.zeros(int(sel.sum()), np.int8), np.ones(k, np.int8)])
        order = np.lexsort((prio, cols[1], cols[0]))
        return self._machine(*(c[order] for c in cols)).merged(steady)

    def _candidates(self, batch: Batch) -> npt.NDArray[np.intp]:
        """Rows that may change a cell: past a series' lowest threshold, or of a series
        with a cell in progress; widened to every reading of their sensors."""
        s = batch.series.astype(np.intp)  # once: np.take with intp is the cheapest gather
        top = len(self._gate_up) - 1
        if len(s) and int(s.max()) > top:  # not refreshed: clip, no gate
            np.minimum(s, top, out=s)
        v = batch.value
        cand = np.take(self._gate_up, s) < v
        cand |= np.take(self._gate_down, s) > v
        if cand.any():
            # Later readings in the batch may clear what the first ones raised: every
            # reading of a candidate's series, and of its sensor when the series feeds a
            # per-sensor rule (whose conditions join the sensor's metrics).
            by_sensor = cand & np.take(self._sensor_wide, s)
            wide = np.zeros(len(self._gate_up), np.bool_)
            wide[s[cand]] = True
            cand = np.take(wide, s)
            if by_sensor.any():
                sensor = np.take(self._sensor_of, s)
                sensors = np.zeros(self._n_sensors + 1, np.bool_)
                sensors[sensor[by_sensor]] = True
                cand |= np.take(sensors, sensor)
        return np.flatnonzero(cand)

    def _steady(
        self, cell: _I64, t: _I64, v: _F64, slot: npt.NDArray[np.int32], ref: _F64
    ) -> Changes:
        """Peaks and latest values of open alerts whose readings only keep them on."""
        if not len(cell):
            return Changes.empty()
        rule = self.rule_of_cell[cell]
        self._peaks(
            cell, v, slot, ref, rule, np.ones(len(cell), np.bool_), np.zeros(len(cell), np.bool_)
        )
        order = np.lexsort((t, cell))
        c = cell[order]
        last = np.ones(len(c), np.bool_)
        last[:-1] = c[1:] != c[:-1]
        cells = c[last]
        r = self.rule_of_cell[cells]
        e = np.empty(0, np.int64)
        return Changes(
            e,
            e,
            np.empty(0),
            np.empty(0, np.bool_),
            cells.astype(np.int64),
            self.peak[cells] * self.rule_sign[r],
            self.level[cells],
            t[order][last],
            v[order][last],
        )

    def _refs(self, series: npt.NDArray[np.int32], slot: npt.NDArray[np.int32]) -> _F64:
        kind = self.slot_ref[slot]
        ref = np.ones(len(slot))
        for code, column in ((1, self.index.contract_kw), (2, self.index.capacity)):
            m = kind == code
            if m.any():
                ref[m] = column[series[m]]
        return ref

    def _machine(
        self,
        cell: _I64,
        t: _I64,
        v: _F64,
        on: _B,
        off: _B,
        slot: npt.NDArray[np.int32],
        ref: _F64,
        series: npt.NDArray[np.int32],
    ) -> Changes:
        """Rows in (cell, time) order -> the cells' new state and the transitions."""
        det = self.slot_detector[slot] != NO_DETECTOR
        if det.any():
            self._detector_rows(cell, on, off, slot, series, det)
        rule = self.rule_of_cell[cell]
        comb, states = self._combined(cell, on, off, slot, rule)
        # settle: only the last row of each (cell, time) group counts
        last = np.ones(len(cell), np.bool_)
        last[:-1] = (cell[1:] != cell[:-1]) | (t[1:] != t[:-1])
        cell, t, v, slot, ref = cell[last], t[last], v[last], slot[last], ref[last]
        rule, comb = rule[last], comb[last]
        states = [s[last] for s in states]
        new, start = segments(cell)
        act, on_start, off_start = self._durations(cell, t, comb, rule, new, start)
        prev_act = shift(act, new, self.active[cell])
        opens = act & ~prev_act
        closes = ~act & prev_act
        end = np.ones(len(cell), np.bool_)
        end[:-1] = new[1:]
        ce = cell[end]
        self._write_back(ce, comb[end], on_start[end], off_start[end], act[end], states, end)
        self._peaks(cell, v, slot, ref, rule, act, opens)
        trans = opens | closes
        order = np.argsort(t[trans], kind="stable")
        on_now = self.active[ce]
        act_cells = ce[on_now]
        r_act = self.rule_of_cell[act_cells]
        return Changes(
            cell[trans][order].astype(np.int64),
            t[trans][order],
            v[trans][order],
            opens[trans][order],
            act_cells.astype(np.int64),
            self.peak[act_cells] * self.rule_sign[r_act],
            self.level[act_cells],
            t[end][on_now],
            v[end][on_now],
        )

    def _combined(
        self, cell: _I64, on: _B, off: _B, slot: npt.NDArray[np.int32], rule: Any
    ) -> tuple[_B, list[_B]]:
        """Each condition's hysteresis state per row, and the rule's combination of them."""
        _new, start = segments(cell)
        cond = self.slot_cond[slot]
        nconds = self.rule_nconds[rule]
        maxn = int(nconds.max())
        if maxn == 1:  # the common case: one condition, no combination
            only = ffill(start, on | off, on, self.cond_on[cell, 0])
            return only, [only]
        maxc = int(cond.max()) + 1
        states = [
            ffill(start, (cond == k) & (on | off), on, self.cond_on[cell, k]) for k in range(maxc)
        ]
        any_on = np.zeros(len(cell), np.bool_)
        all_on = np.ones(len(cell), np.bool_)
        for k in range(maxn):
            valid = k < nconds
            st = states[k] if k < maxc else self.cond_on[cell, k]
            any_on |= st & valid
            all_on &= st | ~valid
        return np.where(self.rule_all[rule], all_on, any_on), states

    def _durations(
        self, cell: _I64, t: _I64, comb: _B, rule: Any, new: _B, start: _I64
    ) -> tuple[_B, _I64, _I64]:
        """When each on/off run started, and whether the cell is active after each row."""
        prev = shift(comb, new, self.comb[cell])
        on_start = ffill(start, comb & ~prev, t, self.on_since[cell])
        off_start = ffill(start, ~comb & prev, t, self.off_since[cell])
        raise_ok = comb & (t - on_start >= self.rule_raise_us[rule])
        clear_ok = ~comb & (t - off_start >= self.rule_clear_us[rule])
        act = ffill(start, raise_ok | clear_ok, raise_ok, self.active[cell])
        return act, on_start, off_start

    def _write_back(
        self,
        ce: _I64,
        comb: _B,
        on_start: _I64,
        off_start: _I64,
        act: _B,
        states: list[_B],
        end: _B,
    ) -> None:
        """Store each touched cell's final state (``ce``: the cells, one per segment end)."""
        self.comb[ce] = comb
        self.on_since[ce] = on_start
        self.off_since[ce] = off_start
        self.active[ce] = act
        for k, st in enumerate(states):
            self.cond_on[ce, k] = st[end]
        hot = self.comb[ce] | self.active[ce] | self.cond_on[ce].any(axis=1)
        flip = hot != self.hot[ce]
        if flip.any():  # the gates change only with the hot set
            self.hot[ce] = hot
            self._hot_changed(ce[flip & hot], ce[flip & ~hot])

    def _detector_rows(
        self,
        cell: _I64,
        on: _B,
        off: _B,
        slot: npt.NDArray[np.int32],
        series: npt.NDArray[np.int32],
        det: _B,
    ) -> None:
        """Turn detector rows into the cell's state: on while any of its series is held.

        Each series' own state is on from a firing until one of its readings arrives
        without one; the cell counts its series that are on. Rows are in (cell, time)
        order and are rewritten in place. A loop over the few detector slots present.
        """
        idx = np.flatnonzero(det)
        size = self.index.size + 1
        for sl in np.unique(slot[idx]).tolist():
            rows = idx[slot[idx] == sl]
            r, k = int(self.slot_rule[sl]), int(self.slot_cond[sl])
            key = (self.rules[r].id or 0, k)
            held = self._det.get(key)
            if held is None or len(held) < size:
                grown = np.zeros(max(size, 1024), np.bool_)
                if held is not None:
                    grown[: len(held)] = held
                held = self._det[key] = grown
            ser = series[rows]
            o = np.argsort(ser, kind="stable")  # per series, still in time order
            so = ser[o]
            new, start = segments(so.astype(np.int64))
            prior = held[so]
            st = ffill(start, np.ones(len(o), np.bool_), on[rows][o], prior)
            delta_o = st.astype(np.int32) - shift(st, new, prior).astype(np.int32)
            end = np.ones(len(o), np.bool_)
            end[:-1] = new[1:]
            held[so[end]] = st[end]
            delta = np.empty(len(o), np.int32)
            delta[o] = delta_o
            c = cell[rows]
            cnew, cstart = segments(c)
            cs = np.cumsum(delta)
            count = self.det_count[c, k] + cs - (cs - delta)[cstart]  # segmented cumsum
            cend = np.ones(len(c), np.bool_)
            cend[:-1] = cnew[1:]
            self.det_count[c[cend], k] = count[cend]
            on[rows] = count > 0
            off[rows] = count <= 0

    def _peaks(
        self,
        cell: _I64,
        v: _F64,
        slot: npt.NDArray[np.int32],
        ref: _F64,
        rule: Any,
        act: _B,
        opens: _B,
    ) -> None:
        oc = cell[opens]
        self.peak[oc] = self.rule_sign[rule[opens]] * v[opens]
        self.level[oc] = 0
        m = act & (self.slot_cond[slot] == 0) & self.rule_metric0[rule]
        if not m.any():
            return
        sv = self.slot_sign[slot[m]] * v[m]
        np.maximum.at(self.peak, cell[m], sv)
        steps = self.rule_steps[rule[m]] * ref[m][:, None]
        lvl = (sv[:, None] > steps).sum(axis=1).astype(np.int8)
        np.maximum.at(self.level, cell[m], lvl)

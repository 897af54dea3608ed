"""The compiled side of rule evaluation: cells, slots and the tables that map series to them.

Every (rule, subject) pair is a *cell* (a subject is a series, or a sensor for per-sensor
rules); cells of one rule are contiguous. Every (rule, condition) is a *slot*. A CSR table
maps each series id to the (slot, cell) pairs it feeds, rebuilt when rules or the catalog
change; per-series candidate gates (the lowest raise threshold of the series' rules, opened
wide while one of its cells is in progress) let quiet readings skip the per-rule path.
:class:`RuleTables` holds all of it and the cells' state; the evaluation itself is in
``evaluate.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from controlcenter.alerts.rules._index import CatalogIndex
from controlcenter.alerts.rules._vector import Csr
from controlcenter.alerts.rules.changes import Subject
from controlcenter.alerts.rules.rule import Rule, Severity
from controlcenter.anomaly import DETECTOR_NAMES
from controlcenter.domain import US_PER_S, SensorKey, SeriesKey
from controlcenter.store.columns import CatalogColumns

__all__ = ["NO_DETECTOR", "RuleTables"]

logger = logging.getLogger(__name__)

#: ``slot_detector`` of a slot that is a metric threshold, not a detector condition.
NO_DETECTOR = 255
_MAX_CONDS = 8
_MAX_STEPS = 4
_REF = {None: 0, "contract_kw": 1, "capacity": 2}
_I64 = npt.NDArray[np.int64]
_B = npt.NDArray[np.bool_]
#: a compiled rule's definition, subjects and first cell
_Old = tuple[str, npt.NDArray[np.int64], int]


class _Build:
    """What :meth:`RuleTables._compile` gathers rule by rule: cells, subjects and pairs."""

    def __init__(self) -> None:
        self.reads: tuple[list[_I64], list[_I64], list[_I64]] = ([], [], [])
        self.events: tuple[list[_I64], list[_I64], list[_I64]] = ([], [], [])
        self.subjects: dict[int, tuple[str, _I64]] = {}
        self.bases = [0]
        self.locals: list[_I64] = []
        self.slot = 0
        self.sensor_series: list[_I64] = []  # series feeding per-sensor rules

    def add(self, ids: _I64, cells: _I64, *, detector: bool) -> None:
        """The next slot's (series, slot, cell) pairs; detector slots also see events."""
        for dest in (self.reads, self.events) if detector else (self.reads,):
            dest[0].append(ids)
            dest[1].append(np.full(len(ids), self.slot, np.int64))
            dest[2].append(cells)
        self.slot += 1

    @staticmethod
    def pairs(parts: tuple[list[_I64], list[_I64], list[_I64]]) -> list[_I64]:
        return [np.concatenate(p) if p else np.empty(0, np.int64) for p in parts]


class RuleTables:
    """Compiled rules and the state of every cell (see the module docstring).

    :class:`~controlcenter.alerts.rules.evaluate.Evaluator` adds the per-batch evaluation.
    """

    def __init__(self, columns: CatalogColumns | None = None) -> None:
        self.index = CatalogIndex(columns)
        self.rules: list[Rule] = []
        self._subjects: dict[int, tuple[str, npt.NDArray[np.int64]]] = {}
        self._base = np.zeros(1, np.int64)
        self._by_id: dict[int, int] = {}
        self._locals: list[npt.NDArray[np.int64]] = []
        #: per (rule id, condition index) of a detector condition: the detector's state per
        #: series (a per-sensor cell is on while any of its series is).
        self._det: dict[tuple[int, int], _B] = {}
        self._alloc(0)
        self._compile_tables()
        self._reads = Csr(0, *(np.empty(0, np.int64),) * 3)
        self._events = Csr(0, *(np.empty(0, np.int64),) * 3)
        self._prefilter(0, *(np.empty(0, np.int64),) * 3)

    # -- state ----------------------------------------------------------------------------

    def _alloc(self, n: int) -> None:
        self.n_cells = n
        self.cond_on = np.zeros((n, _MAX_CONDS), np.bool_)
        self.comb = np.zeros(n, np.bool_)
        self.active = np.zeros(n, np.bool_)
        self.hot = np.zeros(n, np.bool_)
        self.on_since = np.zeros(n, np.int64)
        self.off_since = np.zeros(n, np.int64)
        self.peak = np.full(n, -np.inf)
        self.level = np.zeros(n, np.int8)
        #: detector conditions: how many series of the cell the detector currently holds
        self.det_count = np.zeros((n, _MAX_CONDS), np.int32)
        self.rule_of_cell = np.zeros(n, np.int32)

    _STATE = (
        "cond_on",
        "comb",
        "active",
        "hot",
        "on_since",
        "off_since",
        "peak",
        "level",
        "det_count",
    )

    def set_rules(self, rules: Sequence[Rule]) -> None:
        """Replace the rules (enabled per-series/per-sensor ones are kept), keeping state.

        A rule whose definition did not change keeps its cells' state; a changed one
        starts afresh.
        """
        self.rules = [r for r in rules if r.enabled and not r.is_gateway and r.id is not None]
        self._compile()

    def refresh(self, key_of: Callable[[int], SeriesKey | None], max_id: int) -> bool:
        """Learn series up to ``max_id`` from the catalog; True when the tables were rebuilt."""
        if self.index.update(key_of, max_id) == 0 and max_id < self.index.size:
            return False
        self._compile()
        return True

    # -- compile --------------------------------------------------------------------------

    def _scope_mask(self, rule: Rule) -> _B:
        ix, sc = self.index, rule.scope
        n = ix.size
        m: _B = ix.site[:n] >= 0
        if sc.site is not None:
            m &= ix.site[:n] == ix.site_code(sc.site)
        if sc.factory is not None and sc.site is not None:
            m &= ix.factory[:n] == ix.factory_code(sc.site, sc.factory)
        if sc.kind is not None:
            m &= ix.kind[:n] == ix.columns.kind_code(sc.kind)
        if sc.sensor is not None and sc.factory is not None and sc.kind is not None:
            key = SensorKey(sc.site or "", sc.factory, sc.kind, sc.sensor)
            m &= ix.sensor[:n] == ix.sensor_code(key)
        return m

    def _compile(self) -> None:
        """Rebuild cells, slots and tables for the current rules and catalog, carrying the
        state of every rule whose definition did not change."""
        n = self.index.size
        old = {
            rid: (definition, subj, int(self._base[self._by_id[rid]]))
            for rid, (definition, subj) in self._subjects.items()
            if rid in self._by_id
        }
        old_state = {name: getattr(self, name) for name in self._STATE}
        build = _Build()
        for rule in self.rules:
            if rule.id is not None:  # set_rules keeps stored rules only
                self._compile_rule(rule, rule.id, old.get(rule.id), build)
        self._alloc(build.bases[-1])
        self._base = np.asarray(build.bases, np.int64)
        self._by_id = {rule.id: r for r, rule in enumerate(self.rules) if rule.id is not None}
        self._locals = build.locals
        for r in range(len(self.rules)):
            self.rule_of_cell[build.bases[r] : build.bases[r + 1]] = r
        self._carry_state(old, old_state, build.subjects)
        self._subjects = build.subjects
        cat, ecat = build.pairs(build.reads), build.pairs(build.events)
        self._reads = Csr(n, *cat)
        self._events = Csr(n, *ecat)
        self._compile_tables()
        self._cell_single = self.rule_nconds[self.rule_of_cell] == 1  # one condition
        self._sensor_wide = np.zeros(n + 1, np.bool_)
        if build.sensor_series:
            self._sensor_wide[np.concatenate(build.sensor_series)] = True
        self._prefilter(n, *cat)
        logger.info(
            "alert rules compiled: %d rules, %d cells, %d slots",
            len(self.rules),
            build.bases[-1],
            build.slot,
        )

    def _compile_rule(self, rule: Rule, rule_id: int, prev: _Old | None, build: _Build) -> None:
        """Add one rule's cells (its subjects: kept ones first) and its slots' pairs."""
        ix = self.index
        n = ix.size
        definition = rule.model_dump_json(exclude={"id", "name", "description"})
        scope = self._scope_mask(rule)
        glob = np.arange(n, dtype=np.int64) if rule.per == "series" else ix.sensor[:n]
        glob = glob.astype(np.int64)
        masks = []
        for c in rule.conditions:
            mc = scope.copy()
            if c.metric is not None:
                mc &= ix.metric[:n] == ix.metric_code(c.metric)
            masks.append(mc)
        anym = np.logical_or.reduce(masks) if masks else scope
        if rule.per != "series":
            build.sensor_series.append(np.flatnonzero(anym))
        kept = prev[1] if prev is not None and prev[0] == definition else np.empty(0, np.int64)
        found = np.unique(glob[anym])
        subj = np.concatenate([kept, found[~np.isin(found, kept)]])
        build.subjects[rule_id] = (definition, subj)
        local = np.full(int(glob.max(initial=0)) + 1, -1, np.int64)
        local[subj] = np.arange(len(subj))
        build.locals.append(local)
        base = build.bases[-1]
        for c, mc in zip(rule.conditions, masks, strict=True):
            ids = np.flatnonzero(mc)
            build.add(ids, base + local[glob[ids]], detector=c.detector is not None)
        build.bases.append(base + len(subj))

    def _carry_state(
        self,
        old: dict[int, _Old],
        old_state: dict[str, npt.NDArray[np.generic]],
        subjects: dict[int, tuple[str, _I64]],
    ) -> None:
        """Copy the state of unchanged rules' cells (kept subjects come first) and forget
        the detector state of rules that changed or went away."""
        for rid, (definition, _subj) in subjects.items():
            prev = old.get(rid)
            if prev is None or prev[0] != definition or not len(prev[1]):
                continue
            k, src, dst = len(prev[1]), prev[2], int(self._base[self._by_id[rid]])
            for name in self._STATE:
                getattr(self, name)[dst : dst + k] = old_state[name][src : src + k]
        for key in list(self._det):
            prev = old.get(key[0])
            if prev is None or key[0] not in subjects or subjects[key[0]][0] != prev[0]:
                del self._det[key]

    def _prefilter(self, n: int, series: _I64, slot: _I64, cell: _I64) -> None:
        """Per series, the lowest "above" and highest "below" raise threshold of its slots.

        A reading that passes neither (and whose series has no hot cell) cannot change any
        cell, so only the few readings that do are expanded into pairs.
        """
        self._abs_up = np.full(n + 1, np.inf)
        self._abs_down = np.full(n + 1, -np.inf)
        self._cap_factor = np.full(n + 1, np.nan)
        self._kw_factor = np.full(n + 1, np.nan)
        if len(slot):
            raise_at = self.slot_sign[slot] * self.slot_sraise[slot]
            ref = self.slot_ref[slot]
            above = self.slot_sign[slot] > 0
            thr = ~np.isnan(raise_at)
            m = thr & above & (ref == 0)
            np.minimum.at(self._abs_up, series[m], raise_at[m])
            m = thr & ~above
            # relative "below" conditions: every reading of the series is a candidate
            np.maximum.at(self._abs_down, series[m], np.where(ref[m] > 0, np.inf, raise_at[m]))
            for code, out in ((1, self._kw_factor), (2, self._cap_factor)):
                m = thr & above & (ref == code)
                np.fmin.at(out, series[m], raise_at[m])
        order = np.argsort(cell, kind="stable")
        self._cell_series = series[order]
        self._cell_ptr = np.zeros(self.n_cells + 1, np.int64)
        np.cumsum(np.bincount(cell, minlength=self.n_cells)[: self.n_cells], out=self._cell_ptr[1:])
        self._hot_series = np.zeros(n + 1, np.bool_)
        self._hot_cells = np.zeros(n + 1, np.int64)  # hot cells per series
        self._is_cap = np.append(self.index.capacity_partner[:n] >= 0, False)
        self._sensor_of = np.append(self.index.sensor[:n], -1)
        self._n_sensors = len(self.index.sensor_keys)  # -1 (no sensor) is the pad at the end
        self._thresholds()
        self._update_hot_series()

    def _thresholds(self) -> None:
        """Every series' candidate gates (after a compile or a contract change)."""
        ix = self.index
        n = len(self._abs_up) - 1
        rel = np.fmin(
            self._cap_factor[:n] * ix.capacity[:n], self._kw_factor[:n] * ix.contract_kw[:n]
        )
        self._up = np.append(np.fmin(self._abs_up[:n], rel), np.inf)
        # Capacity readings are always looked at (they move their car park's threshold).
        self._up[self._is_cap] = -np.inf
        self._gate_up = np.where(self._hot_series, -np.inf, self._up)
        self._gate_down = np.where(self._hot_series, np.inf, self._abs_down)
        self._ref_version = ix.version

    def _capacity_changed(self, ids: npt.NDArray[np.int32]) -> None:
        """Update the gates of occupancy series whose car park reported a capacity."""
        ix = self.index
        rel = np.fmin(
            self._cap_factor[ids] * ix.capacity[ids], self._kw_factor[ids] * ix.contract_kw[ids]
        )
        self._up[ids] = np.fmin(self._abs_up[ids], rel)
        self._gate_up[ids] = np.where(self._hot_series[ids], -np.inf, self._up[ids])

    def _series_of(self, cells: _I64) -> _I64:
        start, stop = self._cell_ptr[cells], self._cell_ptr[cells + 1]
        cnt = stop - start
        offs = np.repeat(start - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))
        out: _I64 = self._cell_series[offs]
        return out

    def _update_hot_series(self) -> None:
        """Series with a cell in progress always pass the gates (they may clear)."""
        cells = np.flatnonzero(self.hot)
        series = self._series_of(cells) if len(cells) else np.empty(0, np.int64)
        self._hot_cells = np.bincount(series, minlength=len(self._hot_series))
        self._hot_series = self._hot_cells > 0
        self._gate_up = np.where(self._hot_series, -np.inf, self._up)
        self._gate_down = np.where(self._hot_series, np.inf, self._abs_down)

    def _hot_changed(self, now_hot: _I64, now_cold: _I64) -> None:
        """Incremental :meth:`_update_hot_series` for cells that turned hot or cold."""
        on, off = self._series_of(now_hot), self._series_of(now_cold)
        np.add.at(self._hot_cells, on, 1)
        np.add.at(self._hot_cells, off, -1)
        touched = np.concatenate([on, off])
        hot = self._hot_cells[touched] > 0
        self._hot_series[touched] = hot
        self._gate_up[touched] = np.where(hot, -np.inf, self._up[touched])
        self._gate_down[touched] = np.where(hot, np.inf, self._abs_down[touched])

    def _compile_tables(self) -> None:
        slots = [
            (r, k, c) for r, rule in enumerate(self.rules) for k, c in enumerate(rule.conditions)
        ]
        self.slot_rule = np.asarray([s[0] for s in slots], np.int32)
        self.slot_cond = np.asarray([s[1] for s in slots], np.int8)
        self.slot_sign = np.asarray([1.0 if s[2].op == "above" else -1.0 for s in slots])
        self.slot_sraise = np.asarray(
            [
                np.nan if s[2].raise_at is None else self.slot_sign[i] * s[2].raise_at
                for i, s in enumerate(slots)
            ]
        )
        self.slot_sclear = np.asarray(
            [
                np.nan if s[2].raise_at is None else self.slot_sign[i] * s[2].clear
                for i, s in enumerate(slots)
            ]
        )
        self.slot_ref = np.asarray([_REF[s[2].relative_to] for s in slots], np.int8)
        self.slot_detector = np.asarray(
            [DETECTOR_NAMES.index(s[2].detector) if s[2].detector else NO_DETECTOR for s in slots],
            np.uint8,
        )
        self._has_ref = bool((self.slot_ref > 0).any())
        rules = self.rules
        self.rule_sign = np.asarray([1.0 if r.conditions[0].op == "above" else -1.0 for r in rules])
        self.rule_metric0 = np.asarray([r.conditions[0].raise_at is not None for r in rules])
        self.rule_nconds = np.asarray([len(r.conditions) for r in rules], np.int8)
        self.rule_all = np.asarray([r.match == "all" for r in rules], np.bool_)
        self.rule_raise_us = np.asarray(
            [round(r.raise_after_s * US_PER_S) for r in rules], np.int64
        )
        self.rule_clear_us = np.asarray(
            [round(r.clear_after_s * US_PER_S) for r in rules], np.int64
        )
        steps = np.full((len(rules), _MAX_STEPS), np.nan)
        for i, r in enumerate(rules):
            for j, st in enumerate(r.steps[:_MAX_STEPS]):
                steps[i, j] = self.rule_sign[i] * st.at
        self.rule_steps = steps

    # -- lookups --------------------------------------------------------------------------

    def cell_of(self, rule_id: int, series_id: int | None, sensor: SensorKey) -> int | None:
        """The cell of a rule and a subject (its series, or its sensor), if in scope."""
        r = self._by_id.get(rule_id)
        if r is None:
            return None
        if self.rules[r].per == "series":
            glob = -1 if series_id is None else series_id
        else:
            glob = self.index.sensor_code(sensor)
        local = self._locals[r]
        if glob < 0 or glob >= len(local) or local[glob] < 0:
            return None
        return int(self._base[r] + local[glob])

    def subject(self, cell: int) -> Subject:
        """What ``cell`` watches."""
        r = int(self.rule_of_cell[cell])
        rule = self.rules[r]
        glob = int(self._subjects[rule.id or 0][1][cell - int(self._base[r])])
        if rule.per == "series":
            key = self.index.keys[glob]
            if key is None:
                raise KeyError(f"series {glob} is not in the catalog")
            return Subject(rule, key.sensor, glob, key.metric)
        return Subject(rule, self.index.sensor_keys[glob], None, None)

    def restore(
        self,
        cells: npt.ArrayLike,
        opened_us: npt.ArrayLike,
        peak: npt.ArrayLike,
        level: npt.ArrayLike,
    ) -> None:
        """Mark distinct ``cells`` active (open alerts loaded from the database), at once.

        One call for all of them: a restart restores thousands of alerts, and recomputing
        every series' gates for each one stalled the event loop (4,000 alerts over 20,400
        series: 1.2 s, growing with their product).
        """
        c = np.asarray(cells, np.int64).reshape(-1)
        if c.size == 0:
            return
        r = self.rule_of_cell[c].astype(np.int64)
        newly_hot = c[~self.hot[c]]
        self.active[c] = self.comb[c] = self.hot[c] = True
        nconds = self.rule_nconds[r].astype(np.int64)
        self.cond_on[c] |= np.arange(self.cond_on.shape[1]) < nconds[:, None]
        self.on_since[c] = np.asarray(opened_us, np.int64)
        self.peak[c] = self.rule_sign[r] * np.asarray(peak, np.float64)
        self.level[c] = np.asarray(level)
        self._hot_changed(newly_hot, np.empty(0, np.int64))

    def severity(self, cell: int, level: int) -> Severity:
        """The severity of ``cell``'s rule at step ``level`` (0: the base severity)."""
        rule = self.rules[int(self.rule_of_cell[cell])]
        if level <= 0 or not rule.steps:
            return rule.base_severity
        return Severity.parse(rule.steps[min(level, len(rule.steps)) - 1].severity)

    # -- evaluation -----------------------------------------------------------------------

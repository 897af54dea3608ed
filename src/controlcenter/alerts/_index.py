"""The catalog as numpy columns indexed by dense series id, for vectorised rule scopes.

Codes (site, factory, sensor, metric) become small integers so that a rule's scope is a
handful of array comparisons. Sensors get a dense index of their own (alerts per sensor).
Grows append-only as the catalog learns new series; only new ids are visited.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from controlcenter.domain import SensorKey, SeriesKey

__all__ = ["CatalogIndex"]


def _grow(a: npt.NDArray[np.generic], size: int, fill: object) -> npt.NDArray[np.generic]:
    out = np.full(size, fill, dtype=a.dtype)
    out[: len(a)] = a
    return out


class CatalogIndex:
    """Per-series columns: site, factory, kind, sensor and metric codes, and references.

    >>> from controlcenter.domain import SensorKey, SeriesKey
    >>> keys = {0: SeriesKey(SensorKey("s1", "f1", "air", "a"), "pm10")}
    >>> ix = CatalogIndex()
    >>> ix.update(keys.get, 0)
    1
    >>> int(ix.kind[0]), ix.metric_code("pm10") == int(ix.metric[0])
    (0, True)
    """

    def __init__(self) -> None:
        self.size = 0  #: series ids below this were visited
        self.version = 0  #: bumped whenever a reference (contract, capacity) changes
        self.site = np.full(0, -1, np.int32)
        self.factory = np.full(0, -1, np.int32)
        self.kind = np.full(0, -1, np.int16)
        self.sensor = np.full(0, -1, np.int32)
        self.metric = np.full(0, -1, np.int16)
        #: contract_kw of the series' factory (NaN when unknown)
        self.contract_kw = np.full(0, np.nan)
        #: latest capacity of the series' car park (occupied series; NaN when unknown)
        self.capacity = np.full(0, np.nan)
        #: for a capacity series, the occupied series of the same sensor (else -1)
        self.capacity_partner = np.full(0, -1, np.int32)
        self._sites: dict[str, int] = {}
        self._factories: dict[tuple[str, str], int] = {}
        self._sensors: dict[SensorKey, int] = {}
        self._metrics: dict[str, int] = {}
        self._kinds: dict[str, int] = {}
        self._parking: dict[SeriesKey, int] = {}
        self.sensor_keys: list[SensorKey] = []
        self.factory_keys: list[tuple[str, str]] = []
        self.keys: list[SeriesKey | None] = []

    def site_code(self, code: str) -> int:
        """The integer of a site code (-2, matching nothing, when unseen)."""
        return self._sites.get(code, -2)

    def factory_code(self, site: str, factory: str) -> int:
        """The integer of a factory (-2 when unseen)."""
        return self._factories.get((site, factory), -2)

    def sensor_code(self, key: SensorKey) -> int:
        """The dense index of a sensor (-2 when unseen)."""
        return self._sensors.get(key, -2)

    def kind_code(self, kind: str) -> int:
        """The integer of a kind (-2 when unseen)."""
        return self._kinds.get(kind, -2)

    def metric_code(self, metric: str) -> int:
        """The integer of a metric name (-2 when unseen)."""
        return self._metrics.get(metric, -2)

    def update(self, key_of: Callable[[int], SeriesKey | None], max_id: int) -> int:
        """Visit series ids up to ``max_id``; returns how many new ones were added."""
        top = max_id + 1
        if top <= self.size:
            return 0
        self._resize(top)
        added = 0
        for sid in range(self.size, top):
            key = key_of(sid)
            self.keys.append(key)
            if key is None:
                continue
            added += 1
            self._add(sid, key)
        self.size = top
        self.version += 1
        return added

    def _add(self, sid: int, key: SeriesKey) -> None:
        sk = key.sensor
        self.site[sid] = self._sites.setdefault(sk.site, len(self._sites))
        fkey = (sk.site, sk.factory)
        if fkey not in self._factories:
            self._factories[fkey] = len(self.factory_keys)
            self.factory_keys.append(fkey)
        self.factory[sid] = self._factories[fkey]
        self.kind[sid] = self._kinds.setdefault(sk.kind, len(self._kinds))
        if sk not in self._sensors:
            self._sensors[sk] = len(self.sensor_keys)
            self.sensor_keys.append(sk)
        self.sensor[sid] = self._sensors[sk]
        self.metric[sid] = self._metrics.setdefault(key.metric, len(self._metrics))
        if key.metric in ("capacity", "occupied"):
            other = "occupied" if key.metric == "capacity" else "capacity"
            self._parking[key] = sid
            partner = self._parking.get(SeriesKey(sk, other))
            if partner is not None:
                cap_id, occ_id = (sid, partner) if key.metric == "capacity" else (partner, sid)
                self.capacity_partner[cap_id] = occ_id

    def _resize(self, top: int) -> None:
        if top <= len(self.site):
            return
        size = max(top, 2 * len(self.site), 1024)
        self.site = _grow(self.site, size, -1)  # type: ignore[assignment]
        self.factory = _grow(self.factory, size, -1)  # type: ignore[assignment]
        self.kind = _grow(self.kind, size, -1)  # type: ignore[assignment]
        self.sensor = _grow(self.sensor, size, -1)  # type: ignore[assignment]
        self.metric = _grow(self.metric, size, -1)  # type: ignore[assignment]
        self.contract_kw = _grow(self.contract_kw, size, np.nan)
        self.capacity = _grow(self.capacity, size, np.nan)
        self.capacity_partner = _grow(self.capacity_partner, size, -1)  # type: ignore[assignment]

    def set_contracts(self, contracts: dict[tuple[str, str], float]) -> None:
        """Set each factory's contracted kW (``{(site, factory): kw}``) on its series."""
        per_factory = np.full(len(self.factory_keys) + 1, np.nan)
        for fkey, kw in contracts.items():
            code = self._factories.get(fkey)
            if code is not None:
                per_factory[code] = kw
        n = self.size
        self.contract_kw[:n] = per_factory[self.factory[:n]]  # -1 picks the NaN pad
        self.version += 1

    def observe_capacity(
        self, series: npt.NDArray[np.int32], value: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int32]:
        """Record capacity readings (rows in time order) on their occupied series.

        Returns the occupied series ids whose capacity was set.
        """
        inside = series < self.size
        partner = np.full(len(series), -1, np.int32)
        partner[inside] = self.capacity_partner[series[inside]]
        hit = partner >= 0
        # Fancy assignment keeps the last of repeated indices: the latest reading.
        self.capacity[partner[hit]] = value[hit]
        return partner[hit]

"""The alert tables' view of the catalog: its columns, plus the references rules compare
against (each factory's contracted power, each car park's latest capacity).

The code columns (site, factory, kind, sensor, metric) and the parking mapping are the
catalog's one columnar view (:mod:`controlcenter.store.columns`), read here, never
rebuilt; :attr:`CatalogIndex.size` is the part of it the compiled tables cover.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from controlcenter.domain import SensorKey, SeriesKey
from controlcenter.store.columns import CatalogColumns

__all__ = ["CatalogIndex"]


def _grow(a: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.float64]:
    out = np.full(size, np.nan)
    out[: len(a)] = a
    return out


class CatalogIndex:
    """Per-series columns (the catalog's) and references (contract, capacity).

    >>> from controlcenter.domain import SensorKey, SeriesKey
    >>> keys = {0: SeriesKey(SensorKey("s1", "f1", "air", "a"), "pm10")}
    >>> ix = CatalogIndex()
    >>> ix.update(keys.get, 0)
    1
    >>> int(ix.kind[0]), ix.metric_code("pm10") == int(ix.metric[0])
    (0, True)
    """

    def __init__(self, columns: CatalogColumns | None = None) -> None:
        #: the catalog's columns (a catalog's ``columns``; its own when none is given)
        self.columns = columns if columns is not None else CatalogColumns()
        self.size = 0  #: series ids below this are covered
        self.version = 0  #: bumped whenever coverage or a reference (contract, capacity) changes
        #: contract_kw of the series' factory (NaN when unknown)
        self.contract_kw = np.full(0, np.nan)
        #: latest capacity of the series' car park (occupied series; NaN when unknown)
        self.capacity = np.full(0, np.nan)

    @property
    def site(self) -> npt.NDArray[np.int32]:
        """Site code per series id (-1: unknown id)."""
        return self.columns.site

    @property
    def factory(self) -> npt.NDArray[np.int32]:
        """Factory code per series id."""
        return self.columns.factory

    @property
    def kind(self) -> npt.NDArray[np.int16]:
        """Kind code per series id."""
        return self.columns.kind

    @property
    def sensor(self) -> npt.NDArray[np.int32]:
        """Sensor index per series id."""
        return self.columns.sensor

    @property
    def metric(self) -> npt.NDArray[np.int32]:
        """Metric code per series id."""
        return self.columns.metric

    @property
    def capacity_partner(self) -> npt.NDArray[np.int32]:
        """For a capacity series, the occupied series of the same car park (else -1)."""
        return self.columns.capacity_partner

    @property
    def keys(self) -> list[SeriesKey | None]:
        """The key per series id."""
        return self.columns.keys

    @property
    def sensor_keys(self) -> list[SensorKey]:
        """The sensor of each sensor index."""
        return self.columns.sensor_keys

    @property
    def factory_keys(self) -> list[tuple[str, str]]:
        """The (site, factory) of each factory code."""
        return self.columns.factory_keys

    def site_code(self, code: str) -> int:
        """The integer of a site code (-2, matching nothing, when unseen)."""
        return self.columns.site_code(code)

    def factory_code(self, site: str, factory: str) -> int:
        """The integer of a factory (-2 when unseen)."""
        return self.columns.factory_code(site, factory)

    def sensor_code(self, key: SensorKey) -> int:
        """The dense index of a sensor (-2 when unseen)."""
        return self.columns.sensor_code(key)

    def metric_code(self, metric: str) -> int:
        """The integer of a metric name (-2 when unseen)."""
        return self.columns.metric_code(metric)

    def update(self, key_of: Callable[[int], SeriesKey | None], max_id: int) -> int:
        """Cover series ids up to ``max_id``; returns how many known ones were added."""
        top = max_id + 1
        if top <= self.size:
            return 0
        self.columns.sync(key_of, max_id)  # a no-op for a catalog's own columns
        self.columns.reserve(top)
        if top > len(self.contract_kw):
            size = max(top, 2 * len(self.contract_kw), 1024)
            self.contract_kw = _grow(self.contract_kw, size)
            self.capacity = _grow(self.capacity, size)
        added = int(self.columns.valid[self.size : top].sum())
        self.size = top
        self.version += 1
        return added

    def set_contracts(self, contracts: dict[tuple[str, str], float]) -> None:
        """Set each factory's contracted kW (``{(site, factory): kw}``) on its series."""
        per_factory = np.full(len(self.factory_keys) + 1, np.nan)
        for (site, factory), kw in contracts.items():
            code = self.columns.factory_code(site, factory)
            if code >= 0:
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
        inside = series < min(self.size, len(self.capacity_partner))
        partner = np.full(len(series), -1, np.int32)
        partner[inside] = self.capacity_partner[series[inside]]
        hit = (partner >= 0) & (partner < self.size)
        # Fancy assignment keeps the last of repeated indices: the latest reading.
        self.capacity[partner[hit]] = value[hit]
        return partner[hit]

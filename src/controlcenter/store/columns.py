"""The catalog as numpy columns indexed by dense series id: the one columnar view.

Codes (site, factory, sensor, metric) become small integers, so that selecting the series
of a site (the API) or a rule's scope (alerts) is a handful of array comparisons. The
:class:`~controlcenter.store.Catalog` owns it and adds every series it learns
(``catalog.columns``); the API's series index and the alert tables read it. Ids never
seen are invalid (every code column holds -1 there); lookups of unseen codes answer -2,
which matches nothing.

Parking: a car park's ``capacity`` series names its ``occupied`` series
(:attr:`CatalogColumns.capacity_partner`), the one mapping every stage uses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from controlcenter.domain import SensorKey, SeriesKey

__all__ = ["CatalogColumns"]


def _grow(a: npt.NDArray[np.generic], size: int, fill: object) -> npt.NDArray[np.generic]:
    out = np.full(size, fill, dtype=a.dtype)
    out[: len(a)] = a
    return out


class CatalogColumns:
    """Per-series columns: site, factory, kind, sensor and metric codes.

    >>> cols = CatalogColumns()
    >>> cols.add(3, SeriesKey(SensorKey("s1", "f1", "parking", "p"), "capacity"))
    >>> cols.add(4, SeriesKey(SensorKey("s1", "f1", "parking", "p"), "occupied"))
    >>> cols.size, int(cols.capacity_partner[3]), cols.site_code("s1"), cols.site_code("x")
    (5, 4, 0, -2)
    """

    def __init__(self) -> None:
        self.size = 0  #: one past the largest series id added
        self.version = 0  #: bumped on every added series
        self.valid = np.zeros(0, np.bool_)
        self.site = np.full(0, -1, np.int32)
        self.factory = np.full(0, -1, np.int32)
        self.kind = np.full(0, -1, np.int16)
        self.sensor = np.full(0, -1, np.int32)
        self.metric = np.full(0, -1, np.int32)
        #: for a car park's capacity series, its occupied series (else -1)
        self.capacity_partner = np.full(0, -1, np.int32)
        #: the key of each series id below :attr:`size` (None for a hole)
        self.keys: list[SeriesKey | None] = []
        self.factory_keys: list[tuple[str, str]] = []
        self.sensor_keys: list[SensorKey] = []
        self._sites: dict[str, int] = {}
        self._factories: dict[tuple[str, str], int] = {}
        self._sensors: dict[SensorKey, int] = {}
        self._metrics: dict[str, int] = {}
        self._kinds: dict[str, int] = {}  # kinds are data (the registry): codes as met
        self._parking: dict[SeriesKey, int] = {}
        # The codes of factories and sensors by their own code alone (selections without
        # a site name them so).
        self._by_short: dict[str, dict[str, list[int]]] = {"factory": {}, "sensor": {}}

    def site_code(self, code: str) -> int:
        """The integer of a site code (-2, matching nothing, when unseen)."""
        return self._sites.get(code, -2)

    def factory_code(self, site: str, factory: str) -> int:
        """The integer of a factory (-2 when unseen)."""
        return self._factories.get((site, factory), -2)

    def factory_codes(self, factory: str) -> list[int]:
        """The integers of every factory with this code, on any site."""
        return self._by_short["factory"].get(factory, [])

    def sensor_code(self, key: SensorKey) -> int:
        """The dense index of a sensor (-2 when unseen)."""
        return self._sensors.get(key, -2)

    def sensor_codes(self, sensor: str) -> list[int]:
        """The indices of every sensor with this code, anywhere."""
        return self._by_short["sensor"].get(sensor, [])

    def kind_code(self, kind: str) -> int:
        """The integer of a sensor kind (-2 when unseen)."""
        return self._kinds.get(kind, -2)

    def metric_code(self, metric: str) -> int:
        """The integer of a metric name (-2 when unseen)."""
        return self._metrics.get(metric, -2)

    def sync(self, key_of: Callable[[int], SeriesKey | None], max_id: int) -> int:
        """Add the series up to ``max_id`` that ``key_of`` knows and the columns do not
        (for columns not owned by a catalog); returns how many were added."""
        added = 0
        known = np.flatnonzero(~self.valid[: min(self.size, max_id + 1)]).tolist()
        for sid in known + list(range(self.size, max_id + 1)):
            key = key_of(sid)
            if key is not None:
                self.add(sid, key)
                added += 1
        return added

    def add(self, sid: int, key: SeriesKey) -> None:
        """Record series ``sid`` (the catalog calls it for every series it learns)."""
        self.reserve(sid + 1)
        self.size = max(self.size, sid + 1)
        if self.valid[sid]:
            return
        sk = key.sensor
        self.valid[sid] = True
        self.keys[sid] = key
        self.site[sid] = self._sites.setdefault(sk.site, len(self._sites))
        fkey = (sk.site, sk.factory)
        if fkey not in self._factories:
            self._factories[fkey] = len(self.factory_keys)
            self.factory_keys.append(fkey)
            self._by_short["factory"].setdefault(sk.factory, []).append(self._factories[fkey])
        self.factory[sid] = self._factories[fkey]
        self.kind[sid] = self._kinds.setdefault(sk.kind, len(self._kinds))
        if sk not in self._sensors:
            self._sensors[sk] = len(self.sensor_keys)
            self.sensor_keys.append(sk)
            self._by_short["sensor"].setdefault(sk.sensor, []).append(self._sensors[sk])
        self.sensor[sid] = self._sensors[sk]
        self.metric[sid] = self._metrics.setdefault(key.metric, len(self._metrics))
        if sk.kind == "parking" and key.metric in ("capacity", "occupied"):
            other = "occupied" if key.metric == "capacity" else "capacity"
            self._parking[key] = sid
            partner = self._parking.get(SeriesKey(sk, other))
            if partner is not None:
                cap_id, occ_id = (sid, partner) if key.metric == "capacity" else (partner, sid)
                self.capacity_partner[cap_id] = occ_id
        self.version += 1

    def reserve(self, top: int) -> None:
        """Make room for series ids below ``top`` (readers that cover a range of ids)."""
        if top > len(self.keys):
            self.keys.extend([None] * (top - len(self.keys)))
        if top <= len(self.valid):
            return
        size = max(top, 2 * len(self.valid), 1024)
        self.valid = _grow(self.valid, size, False)  # type: ignore[assignment]
        self.site = _grow(self.site, size, -1)  # type: ignore[assignment]
        self.factory = _grow(self.factory, size, -1)  # type: ignore[assignment]
        self.kind = _grow(self.kind, size, -1)  # type: ignore[assignment]
        self.sensor = _grow(self.sensor, size, -1)  # type: ignore[assignment]
        self.metric = _grow(self.metric, size, -1)  # type: ignore[assignment]
        self.capacity_partner = _grow(self.capacity_partner, size, -1)  # type: ignore[assignment]

"""Selections of series, answered in memory from the catalog with numpy masks.

A :class:`Selection` names series by site, factory, kind, sensor, metric or id; the
:class:`SeriesIndex` keeps one small integer column per attribute, indexed by series id, so
that selecting 10,000 series of a site is a few vectorised comparisons, not a query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from controlcenter.api.auth import Principal
from controlcenter.domain import SeriesKey
from controlcenter.kinds import KIND_PATTERN
from controlcenter.store import Catalog

__all__ = ["Selection", "SeriesId", "SeriesIndex"]

SeriesId = Annotated[int, Field(ge=0, le=2**31 - 1)]
_CODE_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"


class Selection(BaseModel):
    """Which series: every given filter must match (``series`` lists ids).

    >>> Selection(site="namdong", kind="air", metric="pm25").kind
    'air'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str | None = Field(None, pattern=_CODE_PATTERN, examples=["namdong"])
    factory: str | None = Field(None, pattern=_CODE_PATTERN, examples=["f001"])
    kind: str | None = Field(None, pattern=KIND_PATTERN, examples=["gas"])
    sensor: str | None = Field(None, pattern=_CODE_PATTERN, examples=["aq1"])
    metric: str | None = Field(None, pattern=r"^[a-z0-9_]{1,32}$", examples=["pm25"])
    series: tuple[SeriesId, ...] | None = Field(None, max_length=1_000, examples=[[1, 2, 3]])

    def within(self, who: Principal) -> Selection | None:
        """This selection narrowed to what ``who`` may see; None when it names another factory."""
        if who.factory is None:
            return self
        if (self.site is not None and self.site != who.site) or (
            self.factory is not None and self.factory != who.factory
        ):
            return None
        return self.model_copy(update={"site": who.site, "factory": who.factory})


class SeriesIndex:
    """Per-series attribute columns, synchronised from the catalog.

    >>> import asyncio
    >>> idx = SeriesIndex(Catalog(None))  # type: ignore[arg-type]
    >>> idx.select(Selection(site="x")).tolist()
    []
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.version = 0
        self._size = 0
        self._valid = np.zeros(0, np.bool_)
        self._site = np.zeros(0, np.int32)
        self._factory = np.zeros(0, np.int32)
        self._kind = np.zeros(0, np.int16)
        self._sensor = np.zeros(0, np.int32)
        self._metric = np.zeros(0, np.int32)
        self._codes: dict[str, dict[object, int]] = {
            "site": {},
            "factory": {},
            "sensor": {},
            "metric": {},
            "kind": {},
        }
        self._by_short: dict[str, dict[str, list[int]]] = {"factory": {}, "sensor": {}}
        self._synced = 0

    @property
    def size(self) -> int:
        """One past the largest indexed series id."""
        return self._size

    def key(self, series_id: int) -> SeriesKey | None:
        """The key of a series id, or None."""
        return self.catalog.key_of(series_id)

    def sync(self, upto: int | None = None) -> bool:
        """Index what the catalog learnt since the last call; True when something was added.

        ``upto`` (a series id seen in a batch) skips the work when nothing can be new.
        """
        if len(self.catalog) == self._synced and (upto is None or upto < self._size):
            return False
        self._synced = len(self.catalog)
        hi = self.catalog.max_series_id + 1
        self._grow(hi)
        added = 0
        for sid in np.flatnonzero(~self._valid[:hi]).tolist():
            key = self.catalog.key_of(sid)
            if key is not None:
                self._put(sid, key)
                added += 1
        self._size = max(self._size, hi)
        if added:
            self.version += 1
        return added > 0

    def select(self, sel: Selection, *, limit: int | None = None) -> npt.NDArray[np.int32]:
        """The ids of the indexed series that ``sel`` matches, ascending."""
        mask = self._valid.copy()
        codes = self._codes
        if sel.site is not None:
            mask &= self._site == codes["site"].get(sel.site, -1)
        if sel.factory is not None:
            if sel.site is not None:
                fid = codes["factory"].get((sel.site, sel.factory), -1)
                mask &= self._factory == fid
            else:
                mask &= np.isin(self._factory, self._by_short["factory"].get(sel.factory, []))
        if sel.kind is not None:
            mask &= self._kind == codes["kind"].get(sel.kind, -1)
        if sel.sensor is not None:
            mask &= np.isin(self._sensor, self._by_short["sensor"].get(sel.sensor, []))
        if sel.metric is not None:
            mask &= self._metric == codes["metric"].get(sel.metric, -1)
        if sel.series is not None:
            ids = np.asarray(sel.series, dtype=np.int64)
            ids = ids[(ids >= 0) & (ids < len(mask))]
            keep = np.zeros(len(mask), np.bool_)
            keep[ids] = True
            mask &= keep
        out = np.flatnonzero(mask).astype(np.int32)
        return out if limit is None else out[:limit]

    def factories_of(self, ids: Sequence[int] | npt.NDArray[np.int32]) -> set[tuple[str, str]]:
        """The (site, factory) pairs the given series belong to."""
        out: set[tuple[str, str]] = set()
        for sid in ids:
            key = self.catalog.key_of(int(sid))
            if key is not None:
                out.add((key.sensor.site, key.sensor.factory))
        return out

    def _grow(self, n: int) -> None:
        if n <= len(self._valid):
            return
        cap = max(n, 2 * len(self._valid), 1024)
        for name in ("_valid", "_site", "_factory", "_kind", "_sensor", "_metric"):
            old = getattr(self, name)
            new = np.full(cap, -1 if old.dtype != np.bool_ else False, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def _put(self, sid: int, key: SeriesKey) -> None:
        s = key.sensor
        self._valid[sid] = True
        self._site[sid] = self._code("site", s.site)
        self._factory[sid] = self._code("factory", (s.site, s.factory), s.factory)
        self._kind[sid] = self._code("kind", s.kind)
        sensor = (s.site, s.factory, s.kind, s.sensor)
        self._sensor[sid] = self._code("sensor", sensor, s.sensor)
        self._metric[sid] = self._code("metric", key.metric)

    def _code(self, column: str, value: object, short: str | None = None) -> int:
        table = self._codes[column]
        code = table.get(value)
        if code is None:
            code = table[value] = len(table)
            if short is not None:
                # The codes of factories and sensors alone, for selections without a site.
                self._by_short[column].setdefault(short, []).append(code)
        return code

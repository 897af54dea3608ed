"""Selections of series, answered in memory from the catalog with numpy masks.

A :class:`Selection` names series by site, factory, kind, sensor, metric or id; the
:class:`SeriesIndex` answers it from the catalog's columnar view
(:mod:`controlcenter.store.columns`), so that selecting 10,000 series of a site is a few
vectorised comparisons, not a query.
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
        if who.outside(self.site, self.factory):
            return None
        return self.model_copy(update={"site": who.site, "factory": who.factory})


class SeriesIndex:
    """Selections over the catalog's columnar view (``catalog.columns``).

    >>> import asyncio
    >>> idx = SeriesIndex(Catalog(None))  # type: ignore[arg-type]
    >>> idx.select(Selection(site="x")).tolist()
    []
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.version = 0  #: bumped by :meth:`sync` when the catalog learnt series
        self._seen = 0

    @property
    def size(self) -> int:
        """One past the largest known series id."""
        return self.catalog.columns.size

    def key(self, series_id: int) -> SeriesKey | None:
        """The key of a series id, or None."""
        return self.catalog.key_of(series_id)

    def sync(self, upto: int | None = None) -> bool:
        """True (and :attr:`version` bumped) when the catalog learnt series since the last
        call. ``upto`` (a series id seen in a batch) is accepted for the callers' sake."""
        seen = self.catalog.columns.version
        if seen == self._seen:
            return False
        self._seen = seen
        self.version += 1
        return True

    def select(self, sel: Selection, *, limit: int | None = None) -> npt.NDArray[np.int32]:
        """The ids of the known series that ``sel`` matches, ascending."""
        cols = self.catalog.columns
        mask = cols.valid.copy()
        if sel.site is not None:
            mask &= cols.site == cols.site_code(sel.site)
        if sel.factory is not None:
            if sel.site is not None:
                mask &= cols.factory == cols.factory_code(sel.site, sel.factory)
            else:
                mask &= np.isin(cols.factory, cols.factory_codes(sel.factory))
        if sel.kind is not None:
            mask &= cols.kind == cols.kind_code(sel.kind)
        if sel.sensor is not None:
            mask &= np.isin(cols.sensor, cols.sensor_codes(sel.sensor))
        if sel.metric is not None:
            mask &= cols.metric == cols.metric_code(sel.metric)
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

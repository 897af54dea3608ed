"""The garbage collector's policy: frozen start-up objects, scheduled full collections."""

from __future__ import annotations

import asyncio
import gc
import weakref

from controlcenter.config import RuntimeSettings
from controlcenter.gcpolicy import gc_policy
from controlcenter.metrics import PROCESS_GC_FULL_SECONDS


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # only a collection can free these
    return weakref.ref(a)


def _full_collections() -> float:
    return next(
        s.value for m in PROCESS_GC_FULL_SECONDS.collect() for s in m.samples
        if s.name.endswith("_count")
    )  # fmt: skip


async def test_gc_policy_freezes_start_up_objects_and_defers_full_collections():
    before = gc.get_threshold()
    async with gc_policy(RuntimeSettings(gc_young_threshold=5_000, gc_full_interval_s=3600)):
        young, _, full = gc.get_threshold()
        assert young == 5_000
        assert full > 10**9  # never reached: full collections only when scheduled
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_scheduled_full_collection_frees_cycles_and_is_measured():
    counted = _full_collections()
    async with gc_policy(RuntimeSettings(gc_full_interval_s=0.05)):
        ref = _cycle()
        for _ in range(100):
            if ref() is None:
                break
            await asyncio.sleep(0.02)
        assert ref() is None, "the scheduled collection did not free a reference cycle"
    assert _full_collections() > counted


async def test_gc_policy_can_be_switched_off():
    before = gc.get_threshold()
    async with gc_policy(RuntimeSettings(gc_tuned=False)):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0

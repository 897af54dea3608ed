"""The garbage collector's policy for a service that must answer within milliseconds.

CPython's automatic full collection (generation 2) scans every tracked object while the
event loop waits. With 1,000 websocket clients the service holds about 350,000 of them, and
at 2,000 MQTT messages/s enough objects (batches waiting 100 ms for their commit, frames
queued for clients) outlive the young generations that a full collection ran every ~2 s,
each stopping the loop for 220-300 ms: most of the live feed's p99 latency
(measured with ``bench/live.py``). So, while :func:`gc_policy` is entered:

- what exists when it starts (modules, compiled models, settings) is frozen
  (``gc.freeze``): no collection scans it again;
- young collections stay automatic, at ``runtime.gc_young_threshold`` allocations;
- full collections are not automatic: one runs every ``runtime.gc_full_interval_s``
  (60 s) and its pause is exported as ``controlcenter_process_gc_full_seconds``.

Reference counting still frees almost everything at once; only garbage in reference
cycles that reached the old generation waits for the next scheduled collection.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator

from controlcenter.config import RuntimeSettings
from controlcenter.metrics import PROCESS_GC_FULL_SECONDS

__all__ = ["gc_policy"]

logger = logging.getLogger(__name__)

#: A generation-2 threshold that is never reached: full collections only when scheduled.
_NEVER = 2**31 - 1
#: Young collections between two middle-generation ones (CPython's default is 10).
_MIDDLE_THRESHOLD = 50


@contextlib.asynccontextmanager
async def gc_policy(cfg: RuntimeSettings) -> AsyncIterator[None]:
    """Apply the policy until the block ends, then restore CPython's own.

    >>> import asyncio, gc
    >>> async def demo():
    ...     async with gc_policy(RuntimeSettings(gc_full_interval_s=60)):
    ...         return gc.get_threshold()[2] > 1_000_000, gc.get_freeze_count() > 0
    >>> asyncio.run(demo())
    (True, True)
    """
    if not cfg.gc_tuned:
        yield
        return
    before = gc.get_threshold()
    gc.collect()  # start-up garbage, before the survivors are frozen
    gc.freeze()
    gc.set_threshold(cfg.gc_young_threshold, _MIDDLE_THRESHOLD, _NEVER)
    frozen, every = gc.get_freeze_count(), cfg.gc_full_interval_s
    logger.debug("gc: %d objects frozen; full collections every %.0f s", frozen, every)
    # Owned by this context: cancelled and awaited in the finally below.
    collector = asyncio.create_task(_collect_every(cfg.gc_full_interval_s), name="gc")
    try:
        yield
    finally:
        collector.cancel()
        gc.set_threshold(*before)
        gc.unfreeze()
        await asyncio.wait([collector])


async def _collect_every(interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        start = time.perf_counter()
        found = gc.collect()
        pause = time.perf_counter() - start
        PROCESS_GC_FULL_SECONDS.observe(pause)
        logger.debug("gc: full collection freed %d objects in %.1f ms", found, pause * 1000)

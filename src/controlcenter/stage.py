"""The one protocol of a running stage, and the waits stages share.

Every stage of the service (the pipeline, scoring, alerts, the pager, the sensor-kind
refresh, the report schedule, the API's parts) runs as ``await stage.run(stop)``: it works
until ``stop`` is set, then finishes what it already accepted and returns. The composer
(:func:`controlcenter.service.run_service`) stops them in the order data flows: each
stage's ``stop`` is set once the stage feeding it has returned, so nothing accepted is
lost on a clean shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, Protocol

__all__ = ["Stage", "all_set", "any_set", "sleep_or_stop"]


class Stage(Protocol):
    """A stage of the service: ``run(stop)`` works until ``stop``, drains, returns."""

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, finish the accepted work, then return."""


async def sleep_or_stop(stop: asyncio.Event, delay_s: float) -> bool:
    """Wait ``delay_s``, or less if ``stop`` is set meanwhile; True when it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay_s):
            await stop.wait()
    return stop.is_set()


async def all_set(stop: asyncio.Event, *events: asyncio.Event) -> bool:
    """Wait until every one of ``events`` is set, or ``stop`` is; True for the former.

    >>> async def demo():
    ...     a, b, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
    ...     asyncio.get_running_loop().call_soon(a.set)
    ...     asyncio.get_running_loop().call_soon(b.set)
    ...     return await all_set(stop, a, b)
    >>> asyncio.run(demo())
    True
    """

    async def every() -> None:
        for e in events:
            await e.wait()

    await _first_of(stop.wait(), every())
    return all(e.is_set() for e in events)


async def any_set(*events: asyncio.Event) -> None:
    """Wait until one of ``events`` is set."""
    await _first_of(*(e.wait() for e in events))


async def _first_of(*waits: Coroutine[Any, Any, Any]) -> None:
    """Run ``waits`` until the first returns; cancel and reap the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

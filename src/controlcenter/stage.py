"""The one protocol of a running stage, and the waits stages share.

Every stage of the service (the pipeline, scoring, alerts, the pager, the sensor-kind
refresh, the report schedule, the API's parts) runs as ``await stage.run(stop)``: it works
until ``stop`` is set, then finishes what it already accepted and returns. The composer
(:func:`controlcenter.service.run_service`) stops them in the order data flows: each
stage's ``stop`` is set once the stage feeding it has returned, so nothing accepted is
lost on a clean shutdown.

A stage's helper tasks follow the same protocol: each runs as ``run(stop)`` (or a loop
that ends when its ``stop`` is set) and is stopped, never cancelled, by its stage. A helper
that empties a queue takes it from an :class:`Inbox`: ``await inbox.next(stop)`` gives the
next item, or None once ``stop`` is set and nothing is left.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Inbox", "Stage", "all_set", "any_set", "sleep_or_stop"]

_T = TypeVar("_T")


class Stage(Protocol):
    """A stage of the service: ``run(stop)`` works until ``stop``, drains, returns."""

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, finish the accepted work, then return."""


class Inbox(Generic[_T]):
    """A bounded queue that a stage's helper empties until it is stopped.

    Full-queue policy: :meth:`put` waits for room (backpressure to the producer).

    >>> async def demo():
    ...     inbox, stop = Inbox[int](2), asyncio.Event()
    ...     await inbox.put(1)
    ...     stop.set()
    ...     return [await inbox.next(stop), await inbox.next(stop)]
    >>> asyncio.run(demo())
    [1, None]
    """

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[_T] = asyncio.Queue(maxsize)
        self._arrived = asyncio.Event()

    def qsize(self) -> int:
        """Items waiting."""
        return self._queue.qsize()

    async def put(self, item: _T) -> None:
        """Queue ``item``; waits while the inbox is full."""
        await self._queue.put(item)
        self._arrived.set()

    async def next(self, stop: asyncio.Event) -> _T | None:
        """The next item, or None once ``stop`` is set and the inbox is empty (what was
        put before ``stop`` is still handed out). Call :meth:`task_done` after each item."""
        while self._queue.empty():
            if stop.is_set():
                return None
            self._arrived.clear()
            await any_set(self._arrived, stop)
        return self._queue.get_nowait()

    def take_all(self) -> list[_T]:
        """Everything waiting, in order (at shutdown, to record it); each counts as done."""
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
            self._queue.task_done()
        return items

    def task_done(self) -> None:
        """An item from :meth:`next` has been handled."""
        self._queue.task_done()

    async def join(self) -> None:
        """Wait until every item put has been handled."""
        await self._queue.join()


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

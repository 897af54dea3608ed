"""Failure limits: at most N failures per window for each key (a client address, a key id).

The generic cell rate algorithm (GCRA) keeps one float per key, its *theoretical arrival
time*: each failure pushes it ``window / limit`` seconds further, never from earlier than
now. A key may fail ``limit`` times in a burst, then once more every ``window / limit``
seconds; while it has no room left, :meth:`FailureLimiter.retry_after` says how long to
wait. Nothing is counted for successes, and nothing runs in the background.

Memory is bounded: beyond ``max_keys`` keys the entries that no longer limit anything go
first, then the longest-quiet ones (an attacker who sprays addresses can push an old
entry out early; each address still gets at most ``limit`` failures per window).
"""

from __future__ import annotations

import time
from collections import OrderedDict

__all__ = ["FailureLimiter"]


class FailureLimiter:
    """``limit`` failures per ``window_s`` per key, in O(1) time and one float per key.

    >>> lim = FailureLimiter(limit=2, window_s=10.0)
    >>> lim.fail("a", now=0.0); lim.fail("a", now=0.0)
    >>> lim.retry_after("a", now=0.0), lim.retry_after("b", now=0.0)
    (5.0, 0.0)
    >>> lim.retry_after("a", now=5.0)
    0.0
    """

    def __init__(self, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        if limit < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("need limit >= 1, window_s > 0 and max_keys >= 1")
        self._interval = window_s / limit
        self._slack = window_s - self._interval  # how far ahead of now a key may run
        self._max_keys = max_keys
        self._tat: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tat)

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until ``key`` may fail once more; 0.0 when it may now."""
        tat = self._tat.get(key)
        if tat is None:
            return 0.0
        now = time.monotonic() if now is None else now
        return max(0.0, tat - now - self._slack)

    def fail(self, key: str, now: float | None = None) -> None:
        """Count one failure of ``key``."""
        now = time.monotonic() if now is None else now
        self._tat[key] = max(self._tat.pop(key, now), now) + self._interval
        if len(self._tat) > self._max_keys:
            self._evict(now)

    def _evict(self, now: float) -> None:
        # Down to 90% at once, so that the scan costs O(1) per failure on average: entries
        # whose time has passed limit nothing and go first, then the longest-quiet ones.
        for k in [k for k, tat in self._tat.items() if tat <= now]:
            del self._tat[k]
        target = self._max_keys * 9 // 10
        while len(self._tat) > target:
            self._tat.popitem(last=False)

"""Capped exponential backoff with jitter, for reconnects and retries."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays that double from ``initial_s`` up to ``max_s``, each jittered to 50-100 %.

    >>> b = Backoff(1.0, 4.0, rng=random.Random(0))
    >>> [round(b.next(), 2) for _ in range(4)]
    [0.92, 1.76, 2.84, 2.52]
    """

    def __init__(self, initial_s: float, max_s: float, *, rng: random.Random | None = None) -> None:
        self._initial = initial_s
        self._max = max_s
        self._attempt = 0
        # Jitter only spreads reconnect storms; it needs no cryptographic randomness.
        self._rng = rng or random.Random()  # noqa: S311

    def next(self) -> float:
        """The next delay in seconds."""
        delay = min(self._max, self._initial * (2.0**self._attempt))
        self._attempt += 1
        return delay * (0.5 + 0.5 * self._rng.random())

    def reset(self) -> None:
        """Start again from ``initial_s`` (after a success)."""
        self._attempt = 0

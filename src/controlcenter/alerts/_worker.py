"""The lifecycle worker: evaluated transitions into the alert book, and what a shutdown
leaves into the backlog.

Queue and its full-queue policy: ``stage.Inbox(alerts.queue_max_changes)`` of evaluated
batches' transitions; :meth:`LifecycleWorker.put` is awaited, so a stalled database slows
scoring (and then ingest) rather than losing a transition.

Shutdown (``run(stop)``): once ``stop`` is set the worker goes on applying what is queued
until the queue is empty or ``alerts.shutdown_timeout_s`` has passed; a transition still
being stored at that moment is interrupted. What is left (the rest of the batch in hand, the
queued batches) is written to ``alert_backlog`` within as long again, and the next start
replays it (:meth:`LifecycleWorker.replay`) before evaluating anything new. Applying a
transition twice changes nothing (the book skips what it already knows), so the one that
was interrupted is simply replayed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from controlcenter.alerts.rules import Rule, Severity
from controlcenter.alerts.storage import AlertBacklog, AlertBook
from controlcenter.config import AlertSettings
from controlcenter.errors import StorageError
from controlcenter.stage import Inbox

__all__ = ["LifecycleWorker", "Transition", "Work"]

logger = logging.getLogger(__name__)

#: (rule id, subject, peak, value, time µs, severity) of an active alert.
Update = tuple[int, str, float, float, int, Severity]


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert to open (``opened``) or resolve, as evaluation found it."""

    rule: Rule
    subject: str
    where: dict[str, Any]
    at_us: int
    value: float
    opened: bool
    severity: Severity

    def encoded(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule.id,
            "subject": self.subject,
            "where": self.where,
            "at_us": self.at_us,
            "value": _number(self.value),
            "opened": self.opened,
            "severity": self.severity.label,
        }


@dataclass(frozen=True, slots=True)
class Work:
    """One evaluated batch's transitions, then its updates of active alerts."""

    transitions: list[Transition]
    updates: list[Update]

    def encoded(self) -> dict[str, Any]:
        """The JSON document of the backlog."""
        return {
            "transitions": [t.encoded() for t in self.transitions],
            "updates": [
                [r, s, _number(p), _number(v), t, sev.label] for r, s, p, v, t, sev in self.updates
            ],
        }

    @classmethod
    def decoded(cls, doc: dict[str, Any], rules: dict[int, Rule]) -> Work:
        """The work of a backlog document; transitions of rules deleted since are dropped."""
        transitions = [
            Transition(
                rules[t["rule_id"]],
                t["subject"],
                t["where"],
                t["at_us"],
                float(t["value"]),
                t["opened"],
                Severity.parse(t["severity"]),
            )
            for t in doc["transitions"]
            if t["rule_id"] in rules
        ]
        updates = [
            (r, s, float(p), float(v), t, Severity.parse(sev))
            for r, s, p, v, t, sev in doc["updates"]
        ]
        return cls(transitions, updates)


def _number(x: float) -> float | str:
    """``x`` for JSON: PostgreSQL's jsonb has no NaN or infinity ("nan", "inf": ``float``
    reads them back)."""
    return x if math.isfinite(x) else str(x)


class LifecycleWorker:
    """Applies evaluated transitions to the book; ``run(stop)`` (see the module docstring).

    Args:
        book: the alert book.
        backlog: where a shutdown leaves what it could not apply.
        settings: ``queue_max_changes``, retry backoff, ``shutdown_timeout_s``.
        retrying: runs a step until it succeeds, retrying transient database errors.
    """

    def __init__(
        self,
        book: AlertBook,
        backlog: AlertBacklog,
        settings: AlertSettings,
        retrying: Callable[[Callable[[], Awaitable[None]], str], Awaitable[None]],
    ) -> None:
        self._book = book
        self._backlog = backlog
        self._cfg = settings
        self._retrying = retrying
        self._inbox: Inbox[Work] = Inbox(settings.queue_max_changes)
        self._in_hand = 0
        # Bounds each step once stop is set (rescheduled to the shutdown deadline).
        self._timeout: asyncio.Timeout | None = None
        self._deadline: float | None = None

    @property
    def pending(self) -> int:
        """Evaluated batches not yet applied (queued, or being applied)."""
        return self._inbox.qsize() + self._in_hand

    async def put(self, work: Work) -> None:
        """Queue ``work`` (waits while the queue is full)."""
        await self._inbox.put(work)

    async def replay(self) -> int:
        """Apply what the last shutdown left in the backlog; returns the batches applied."""
        done = await self._backlog.replay(
            lambda doc: self._apply(Work.decoded(doc, self._book.rules))
        )
        if done:
            logger.info("alerts: %d evaluated batch(es) left by the last run applied", done)
        return done

    async def _apply(self, work: Work) -> None:
        """Apply ``work`` to the book (safe to repeat)."""
        for tr in work.transitions:
            await self._one(tr)
        if work.updates:
            await self._book.touch(work.updates)

    async def _one(self, tr: Transition) -> None:
        if tr.opened:
            await self._book.open(tr.rule, tr.subject, tr.where, tr.at_us, tr.value, tr.severity)
        else:
            await self._book.close(tr.rule.id or 0, tr.subject, tr.at_us, tr.value)

    async def run(self, stop: asyncio.Event) -> None:
        """Apply queued work until ``stop``; then drain within the shutdown budget and
        record what is left in the backlog.

        Raises:
            StorageError: what was left could not be recorded (the database is away).
        """
        async with asyncio.TaskGroup() as tg:
            # Ends by itself once stop is set: it only arms the shutdown deadline.
            tg.create_task(self._arm(stop), name="alerts shutdown deadline")
            left = await self._drain(stop)
        if left:
            await self._record(left)

    async def _arm(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._deadline = asyncio.get_running_loop().time() + self._cfg.shutdown_timeout_s
        if self._timeout is not None:
            self._timeout.reschedule(self._deadline)

    async def _drain(self, stop: asyncio.Event) -> list[Work]:
        """Apply work until stop and an empty queue (returns []), or until the deadline
        (returns what is left, the interrupted batch first)."""
        while (work := await self._inbox.next(stop)) is not None:
            self._in_hand = 1
            try:
                rest = await self._bounded(work)
            finally:
                self._in_hand = 0
                self._inbox.task_done()
            if rest is not None:
                return [rest, *self._inbox.take_all()]
        return []

    async def _bounded(self, work: Work) -> Work | None:
        """Apply ``work``; past the deadline, return what of it is left (None: all done)."""
        for i, tr in enumerate(work.transitions):
            if not await self._step(functools.partial(self._one, tr)):
                return Work(work.transitions[i:], work.updates)
        if work.updates and not await self._step(lambda: self._book.touch(work.updates)):
            return Work([], work.updates)
        return None

    async def _step(self, step: Callable[[], Awaitable[None]]) -> bool:
        """Run ``step`` (retrying transient errors) within the deadline; False when out of
        time (the step may or may not have been stored: replaying it is harmless)."""
        loop = asyncio.get_running_loop()
        if self._deadline is not None and loop.time() >= self._deadline:
            return False
        try:
            async with asyncio.timeout_at(self._deadline) as self._timeout:
                await self._retrying(step, "storing transitions")
        except TimeoutError:
            if self._timeout is None or not self._timeout.expired():
                raise  # not the shutdown deadline's
            return False
        except StorageError:
            # Retrying cannot fix it (a constraint, a bad value): log it and go on.
            logger.exception("alert transition not stored (database error)")
        finally:
            self._timeout = None
        return True

    async def _record(self, left: list[Work]) -> None:
        n = sum(len(w.transitions) + len(w.updates) for w in left)
        try:
            async with asyncio.timeout(self._cfg.shutdown_timeout_s):
                await self._backlog.save([w.encoded() for w in left])
        except (StorageError, TimeoutError) as exc:
            raise StorageError(f"{n} alert transition(s) and update(s) lost: {exc}") from exc
        logger.warning(
            "alerts: out of time at shutdown; %d transition(s) and update(s) of %d batch(es)"
            " recorded in alert_backlog for the next start",
            n,
            len(left),
        )

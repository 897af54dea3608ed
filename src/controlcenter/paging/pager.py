"""The pager: alert transitions -> pages to the people on call -> channels, never lost.

Flow and queues (with their full-queue policies):

1. ``offer(note)`` (called by the alert service after storm grouping, so one page stands
   for a complex-wide event) appends to a bounded intake deque (``queue_max_jobs``); it
   never blocks. Full: the oldest transition is dropped, counted and logged.
2. The planner turns an opened, escalated or severity transition into durable rows of
   ``page_pending`` (alert, person, due now); an acknowledged or resolved one deletes the
   alert's rows, so repeats stop.
3. The dispatcher claims due rows (``FOR UPDATE SKIP LOCKED`` with a lease, so several
   workers share them), never more than the send queue has room for. It groups them per
   person, rule and site (one page each), holds non-critical pages in a person's quiet
   hours until they end, and schedules the next repeat (``page_repeat_s`` of the rule) or
   deletes the row. A provider outage fills the send queue; due pages then wait in the
   database and are sent later: evaluation and ingest never wait.
4. Senders (``senders`` tasks) deliver each page on each of the person's channels,
   retrying with capped backoff; every attempt, failure and retry is a row of
   ``page_deliveries``, and metrics count them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from controlcenter.alerts import AlertRepository, Notification
from controlcenter.backoff import Backoff
from controlcenter.config import Settings
from controlcenter.errors import AlertDeliveryError, StorageError
from controlcenter.metrics import (
    PAGING_DELIVERIES,
    PAGING_DROPPED,
    PAGING_PAGES,
    PAGING_QUEUE,
    PAGING_SEND_SECONDS,
)
from controlcenter.paging.channel import Channel, PageRejectedError, build_channels
from controlcenter.paging.link import sign
from controlcenter.paging.message import Page
from controlcenter.paging.model import CHANNELS, Contact
from controlcenter.paging.oncall import Rota
from controlcenter.paging.repository import PagingRepository, Pending
from controlcenter.paging.rota import Quiet

__all__ = ["Pager"]

logger = logging.getLogger(__name__)

_PAGED = frozenset({"opened", "escalated", "severity"})
_STOPS = frozenset({"acknowledged", "resolved"})
_SEV = {"info": 1, "warning": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class _Send:
    page: Page
    contact: Contact
    channel: str


def _alerts_of(note: Notification) -> list[dict[str, Any]]:
    if note.payload.get("type") == "alert_group":
        return list(note.payload.get("members") or [])
    return [note.payload["alert"]] if "alert" in note.payload else []


class Pager:
    """Routes alert transitions to the people on call (see the module docstring).

    Args:
        settings: service settings (``paging``, ``smtp``, ``time_zone``).
        pool: database pool.
        clock: wall-clock seconds (injectable for tests: quiet hours, repeats).
        channels: channels by name (default: built from the settings in :meth:`run`).
    """

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        clock: Callable[[], float] = time.time,
        channels: dict[str, Channel] | None = None,
    ) -> None:
        self.cfg = settings.paging
        self.settings = settings
        self.repo = PagingRepository(pool)
        self._alerts = AlertRepository(pool)
        self.tz = ZoneInfo(settings.time_zone)
        self.clock = clock
        self.channels = channels
        self._intake: deque[Notification] = deque()
        self._sends: asyncio.Queue[_Send] = asyncio.Queue(self.cfg.queue_max_jobs)
        self._wake = asyncio.Event()
        self._repeat: dict[int, float | None] = {}
        self._busy = 0
        self._quiet = asyncio.Event()  # set when work ends with nothing left (see idle)

    # -- intake ---------------------------------------------------------------------------

    def offer(self, note: Notification) -> None:
        """Take one (possibly grouped) transition; never blocks."""
        if note.transition not in _PAGED and note.transition not in _STOPS:
            return
        if len(self._intake) >= self.cfg.queue_max_jobs:
            lost = self._intake.popleft()
            PAGING_DROPPED.inc()
            logger.warning("pager intake full: dropped a %s transition", lost.transition)
        self._intake.append(note)
        self._wake.set()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=self.tz)

    async def plan_intake(self) -> None:
        """Turn every waiting transition into pending pages (or forget pages)."""
        if not self._intake:
            return
        rota = await Rota.load(self.repo, self.tz, self._now())
        await self._load_repeats()
        while self._intake:
            note = self._intake[0]
            await self._plan(note, rota)
            self._intake.popleft()  # only once stored: a database error retries it

    async def _plan(self, note: Notification, rota: Rota) -> None:
        alerts = [a for a in _alerts_of(note) if a.get("alert_id") is not None]
        if note.transition in _STOPS:
            await self.repo.forget([a["alert_id"] for a in alerts])
            return
        now = self._now()
        rows = []
        for a in alerts:
            if a.get("state", "open") != "open":
                continue
            level = int(a.get("escalation_level") or 0)
            people = rota.recipients(a["site"], a.get("factory"), a["severity"], level, now)
            repeat = self._repeat.get(a.get("rule_id") or 0)
            rows += [(a["alert_id"], c.id, note.transition, now, repeat) for c in people]
        await self.repo.plan(rows)
        if rows:
            logger.debug("pager: %d page(s) planned for %s", len(rows), note.transition)

    async def _load_repeats(self) -> None:
        self._repeat = {r.id: r.page_repeat_s for r in await self._alerts.rules() if r.id}

    # -- dispatch -------------------------------------------------------------------------

    async def dispatch_due(self) -> int:
        """Claim due pages and queue their sends; returns the number of pages queued."""
        # A page takes one send per channel of its person: claim only what surely fits.
        room = (self._sends.maxsize - self._sends.qsize()) // len(CHANNELS)
        if room <= 0:
            return 0
        now = self._now()
        rows = await self.repo.claim(now, room, lease_s=max(60.0, self.cfg.tick_s * 10))
        if not rows:
            return 0
        rota = await Rota.load(self.repo, self.tz, now)
        later: list[tuple[int, int, datetime, bool, int]] = []
        done: list[tuple[int, int]] = []
        records: list[tuple[Any, ...]] = []
        queued = 0
        for group in _grouped(rows):
            queued += self._dispatch(group, rota, now, later, done, records)
        await self.repo.settle(later, done)
        await self.repo.record(records)
        return queued

    def _dispatch(
        self,
        group: list[Pending],
        rota: Rota,
        now: datetime,
        later: list[tuple[int, int, datetime, bool, int]],
        done: list[tuple[int, int]],
        records: list[tuple[Any, ...]],
    ) -> int:
        contact = rota.contacts.get(group[0]["contact_id"])
        if contact is None or not contact.enabled:
            done += [(r["alert_id"], r["contact_id"]) for r in group]
            return 0
        if contact.quiet_start is not None and _quiet(contact).holds(now):
            # Quiet hours: critical alerts page at once, the others when the hours end.
            until = _quiet(contact).ends_after(now)
            for r in group:
                if r["severity"] != "critical":
                    later.append((r["alert_id"], r["contact_id"], until, True, 0))
                    records.append(
                        (
                            r["alert_id"],
                            r["contact_id"],
                            contact.name,
                            "-",
                            r["reason"],
                            0,
                            "held",
                            "",
                        )
                    )
                    PAGING_PAGES.labels(r["reason"], "held").inc()
            group = [r for r in group if r["severity"] == "critical"]
            if not group:
                return 0
        first = group[0]
        worst = max(group, key=lambda r: _SEV.get(r["severity"], 0))["severity"]
        reason = "held" if first["held"] else ("repeat" if first["sent"] else first["reason"])
        page = self._page(group, reason, worst, contact)
        for name in contact.channels:
            self._sends.put_nowait(_Send(page, contact, name))
        PAGING_QUEUE.set(self._sends.qsize())
        PAGING_PAGES.labels(reason, "queued").inc()
        for r in group:
            key = (r["alert_id"], r["contact_id"])
            if r["repeat_s"]:
                later.append((*key, now + timedelta(seconds=r["repeat_s"]), False, 1))
            else:
                done.append(key)
        return 1

    def _page(self, group: list[Pending], reason: str, worst: str, contact: Contact) -> Page:
        ids = tuple(r["alert_id"] for r in group)
        first = group[0]
        listed = tuple(group[: self.cfg.max_group_listed])
        base = self.cfg.public_url.rstrip("/") if self.cfg.public_url else None
        link = ack = None
        if base is not None:
            f = first["factory"]
            link = f"{base}/#/f/{first['site']}/{f}" if f and len(group) == 1 else f"{base}/"
            if self.cfg.link_secret is not None and contact.id is not None:
                key = self.cfg.link_secret.get_secret_value().encode()
                expires = int(self.clock() + self.cfg.link_ttl_s)
                ack = f"{base}/ack/{sign(key, ids, contact=contact.id, expires=expires)}"
        return Page(
            reason, first["rule_name"], first["site"], worst, listed, len(group), link, ack, ids
        )

    # -- senders --------------------------------------------------------------------------

    async def _sender(self) -> None:
        while True:
            job = await self._sends.get()
            self._busy += 1
            try:
                await self._deliver(job)
            except StorageError:
                logger.warning("pager: a delivery could not be recorded (database error)")
            finally:
                self._busy -= 1
                self._sends.task_done()
                PAGING_QUEUE.set(self._sends.qsize())
                self._settle()

    async def _deliver(self, job: _Send) -> None:
        channel = (self.channels or {}).get(job.channel)
        backoff = Backoff(self.cfg.retry_initial_s, self.cfg.retry_max_s)
        for attempt in range(1, self.cfg.max_attempts + 1):
            started = time.perf_counter()
            try:
                await _send(channel, job)
            except PageRejectedError as exc:
                await self._record(job, attempt, "failed", str(exc))
                return
            except AlertDeliveryError as exc:
                last = attempt == self.cfg.max_attempts
                await self._record(job, attempt, "failed" if last else "retry", str(exc))
                if not last:
                    await asyncio.sleep(backoff.next())
                continue
            finally:
                PAGING_SEND_SECONDS.labels(job.channel).observe(time.perf_counter() - started)
            await self._record(job, attempt, "sent", "")
            return

    async def _record(self, job: _Send, attempt: int, outcome: str, error: str) -> None:
        PAGING_DELIVERIES.labels(job.channel, outcome).inc()
        if outcome == "failed":
            logger.warning("page to %s by %s failed: %s", job.contact.name, job.channel, error)
        p = job.page
        await self.repo.record(
            [
                (
                    aid,
                    job.contact.id,
                    job.contact.name,
                    job.channel,
                    p.reason,
                    attempt,
                    outcome,
                    error,
                )
                for aid in p.alert_ids
            ]
        )

    # -- running --------------------------------------------------------------------------

    async def idle(self) -> None:
        """Wait until every transition is planned and every queued send is done (tests)."""
        while not self._is_idle():
            self._quiet.clear()
            await self._quiet.wait()

    def _is_idle(self) -> bool:
        return not (self._intake or self._sends.qsize() or self._busy)

    def _settle(self) -> None:
        """Wake :meth:`idle` when a piece of work ended with nothing left to do."""
        if self._is_idle():
            self._quiet.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Plan, dispatch and send until ``stop`` is set."""
        timeout = httpx.Timeout(self.cfg.http_timeout_s)
        async with httpx.AsyncClient(timeout=timeout) as http, asyncio.TaskGroup() as tg:
            if self.channels is None:
                self.channels = build_channels(self.cfg, self.settings.smtp, http)
            senders = [tg.create_task(self._sender()) for _ in range(self.cfg.senders)]
            loop = tg.create_task(self._loop())
            await stop.wait()
            loop.cancel()
            for task in senders:
                task.cancel()

    async def _loop(self) -> None:
        backoff = Backoff(self.cfg.retry_initial_s, self.cfg.retry_max_s)
        while True:
            self._wake.clear()  # an offer from now on wakes the next round at once
            self._busy += 1  # idle() waits for a dispatch between its claim and its sends
            try:
                await self.plan_intake()
                await self.dispatch_due()
            except StorageError as exc:
                delay = backoff.next()
                logger.warning("pager: database error (%s); retry in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            finally:
                self._busy -= 1
                self._settle()
            backoff.reset()
            try:
                async with asyncio.timeout(self.cfg.tick_s):
                    await self._wake.wait()
            except TimeoutError:
                pass


def _quiet(c: Contact) -> Quiet:
    return Quiet(c.quiet_start or dt_time(0), c.quiet_end or dt_time(0))


async def _send(channel: Channel | None, job: _Send) -> None:
    if channel is None:
        raise PageRejectedError(f"unknown channel {job.channel!r}")
    await channel.send(job.page, job.contact)


def _grouped(rows: Iterable[Pending]) -> list[list[Pending]]:
    groups: dict[tuple[int, str, str], list[Pending]] = {}
    for r in rows:
        groups.setdefault((r["contact_id"], r["rule_name"], r["site"]), []).append(r)
    return list(groups.values())

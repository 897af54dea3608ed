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
   person and rule (one page each, whatever the sites: a complex-wide event is one page),
   holds non-critical pages in a person's quiet hours until they end, and schedules the
   next repeat (``page_repeat_s`` of the rule) or deletes the row. Each page becomes one
   send per channel of the person, stored in the outbox (``page_outbox``) in the same
   transaction. A provider outage fills the send queue; due pages then wait in the
   database and are sent later: evaluation and ingest never wait.
4. Senders (``senders`` tasks) deliver each send, retrying with capped backoff; every
   attempt, failure and retry is a row of ``page_deliveries`` (written with the outbox
   update, so once), and metrics count them.
5. Shutdown: the dispatcher finishes its round, the senders get ``shutdown_grace_s`` to
   finish what is queued and in flight; what is left (an attempt cut short is recorded as
   ``interrupted``) stays in the outbox, released, and the next pager sends it at start.
   A crashed pager's sends are taken over when their lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
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
from controlcenter.paging._routing import grouped, handed_over
from controlcenter.paging.channel import Channel, PageRejectedError
from controlcenter.paging.link import sign
from controlcenter.paging.live import PageStream, build_channels
from controlcenter.paging.message import Page, page_from_json, page_to_json
from controlcenter.paging.model import CHANNELS, Contact
from controlcenter.paging.oncall import Rota
from controlcenter.paging.repository import Outbox, PagingRepository, Pending
from controlcenter.paging.rota import Quiet

__all__ = ["Pager"]

logger = logging.getLogger(__name__)

_PAGED = frozenset({"opened", "escalated", "severity"})
_STOPS = frozenset({"acknowledged", "resolved"})
_SEV = {"info": 1, "warning": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class _Send:
    send_id: int
    page: Page
    contact: Contact
    channel: str
    attempt: int = 0  # attempts made before this pager took the send


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
        stream: the dashboards' page stream (the ``websocket`` channel; the API reads it).
    """

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        clock: Callable[[], float] = time.time,
        channels: dict[str, Channel] | None = None,
        stream: PageStream | None = None,
    ) -> None:
        self.cfg = settings.paging
        self.settings = settings
        self.repo = PagingRepository(pool)
        self._alerts = AlertRepository(pool)
        self.tz = ZoneInfo(settings.time_zone)
        self.clock = clock
        self.channels = channels
        self.stream = stream
        self.outbox = Outbox(pool)
        self._lease_s = max(60.0, self.cfg.tick_s * 10)
        self._held: dict[int, _Send] = {}  # sends queued or in flight, by id
        self._inflight: set[int] = set()
        self._trying: dict[int, int] = {}  # sends with an attempt in progress: its number
        self._stopping = False
        self._halt = asyncio.Event()
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
        # Due after a short gathering: the alerts of one event, on every site, that come
        # within it are claimed together and make one page per person.
        due = now + timedelta(seconds=self.cfg.gather_s)
        rows = []
        for a in alerts:
            if a.get("state", "open") != "open":
                continue
            level = int(a.get("escalation_level") or 0)
            people = rota.recipients(a["site"], a.get("factory"), a["severity"], level, now)
            repeat = self._repeat.get(a.get("rule_id") or 0)
            rows += [(a["alert_id"], c.id, note.transition, due, repeat) for c in people]
        await self.repo.plan(rows)
        if rows:
            logger.debug("pager: %d page(s) planned for %s", len(rows), note.transition)

    async def _load_repeats(self) -> None:
        self._repeat = {r.id: r.page_repeat_s for r in await self._alerts.rules() if r.id}

    # -- dispatch -------------------------------------------------------------------------

    async def dispatch_due(self) -> int:
        """Queue unfinished sends left by another pager, then claim due pages and queue
        their sends; returns the number of sends queued."""
        now = self._now()
        left = await self.outbox.claim(
            now, self._sends.maxsize - self._sends.qsize(), self._lease_s, [*self._held]
        )
        rota = await Rota.load(self.repo, self.tz, now)
        queued = 0
        for r in left:
            contact = rota.contacts.get(r["contact_id"])
            if contact is not None:
                page = page_from_json(r["page"])
                queued += self._queue(
                    _Send(r["send_id"], page, contact, r["channel"], r["attempt"])
                )
        # A page takes one send per channel of its person: claim only what surely fits.
        room = (self._sends.maxsize - self._sends.qsize()) // len(CHANNELS)
        if room <= 0:
            return queued
        rows = await self.repo.claim(now, room, lease_s=self._lease_s)
        if not rows:
            return queued
        later: list[tuple[int, int, datetime, bool, int]] = []
        done: list[tuple[int, int]] = []
        records: list[tuple[Any, ...]] = []
        pages: list[tuple[Page, Contact]] = []
        rows, moved = handed_over(rows, rota, now, done, records)
        for group in grouped(rows):
            out = self._dispatch(group, rota, now, later, done, records)
            if out is not None:
                pages.append(out)
        sends = [(p, c, name) for p, c in pages for name in c.channels]
        ids = await self.repo.settle(
            later,
            done,
            [(c.id or 0, name, page_to_json(p)) for p, c, name in sends],
            now + timedelta(seconds=self._lease_s),
        )
        await self.repo.record(records)
        await self.repo.plan(moved)
        for send_id, (p, c, name) in zip(ids, sends, strict=True):
            queued += self._queue(_Send(send_id, p, c, name))
        return queued

    def _queue(self, job: _Send) -> int:
        self._held[job.send_id] = job
        self._sends.put_nowait(job)
        PAGING_QUEUE.set(self._sends.qsize())
        return 1

    def _dispatch(
        self,
        group: list[Pending],
        rota: Rota,
        now: datetime,
        later: list[tuple[int, int, datetime, bool, int]],
        done: list[tuple[int, int]],
        records: list[tuple[Any, ...]],
    ) -> tuple[Page, Contact] | None:
        contact = rota.contacts.get(group[0]["contact_id"])
        if contact is None or not contact.enabled:
            done += [(r["alert_id"], r["contact_id"]) for r in group]
            return None
        if contact.quiet_start is not None and _quiet(contact).holds(now):
            # Quiet hours: critical alerts page at once, the others when the hours end.
            until = _quiet(contact).ends_after(now)
            for r in group:
                if r["severity"] != "critical":
                    later.append((r["alert_id"], r["contact_id"], until, True, 0))
                    held = (r["alert_id"], r["contact_id"], contact.name, "-", r["reason"], 0)
                    records.append((*held, "held", ""))
                    PAGING_PAGES.labels(r["reason"], "held").inc()
            group = [r for r in group if r["severity"] == "critical"]
            if not group:
                return None
        first = group[0]
        worst = max(group, key=lambda r: _SEV.get(r["severity"], 0))["severity"]
        reason = "held" if first["held"] else ("repeat" if first["sent"] else first["reason"])
        page = self._page(group, reason, worst, contact)
        PAGING_PAGES.labels(reason, "queued").inc()
        for r in group:
            key = (r["alert_id"], r["contact_id"])
            if r["repeat_s"]:
                later.append((*key, now + timedelta(seconds=r["repeat_s"]), False, 1))
            else:
                done.append(key)
        return page, contact

    def _page(self, group: list[Pending], reason: str, worst: str, contact: Contact) -> Page:
        ids = tuple(r["alert_id"] for r in group)
        first = group[0]
        listed = tuple(group[: self.cfg.max_group_listed])
        sites = sorted({r["site"] for r in group})
        site = ", ".join(sites[:3]) + (f" +{len(sites) - 3}" if len(sites) > 3 else "")
        base = self.cfg.public_url.rstrip("/") if self.cfg.public_url else None
        link = ack = None
        if base is not None:
            f = first["factory"]
            link = f"{base}/#/f/{site}/{f}" if f and len(group) == 1 else f"{base}/"
            if self.cfg.link_secret is not None and contact.id is not None:
                key = self.cfg.link_secret.get_secret_value().encode()
                expires = int(self.clock() + self.cfg.link_ttl_s)
                ack = f"{base}/ack/{sign(key, ids, contact=contact.id, expires=expires)}"
        return Page(reason, first["rule_name"], site, worst, listed, len(group), link, ack, ids)

    # -- senders --------------------------------------------------------------------------

    async def _sender(self) -> None:
        while True:
            job = await self._sends.get()
            self._inflight.add(job.send_id)
            try:
                await self._deliver(job)
                self._held.pop(job.send_id, None)
            except StorageError:
                # The send stays in the outbox (leased): sent again once the lease is over.
                logger.warning("pager: a delivery could not be recorded (database error)")
                self._held.pop(job.send_id, None)
            finally:
                self._inflight.discard(job.send_id)
                self._sends.task_done()
                PAGING_QUEUE.set(self._sends.qsize())
                self._settle()

    async def _deliver(self, job: _Send) -> None:
        channel = (self.channels or {}).get(job.channel)
        backoff = Backoff(self.cfg.retry_initial_s, self.cfg.retry_max_s)
        first = min(job.attempt + 1, self.cfg.max_attempts)
        for attempt in range(first, self.cfg.max_attempts + 1):
            outcome, error = await self._try(channel, job, attempt)
            if outcome == "retry" and attempt == self.cfg.max_attempts:
                outcome = "failed"
            await self._record(job, attempt, outcome, error)
            if outcome != "retry":
                return
            await asyncio.sleep(backoff.next())

    async def _try(self, channel: Channel | None, job: _Send, attempt: int) -> tuple[str, str]:
        """One attempt: ``sent``, ``retry`` (what a later attempt may fix) or ``failed``."""
        started = time.perf_counter()
        self._trying[job.send_id] = attempt  # cut by a shutdown now, it is "interrupted"
        try:
            await _send(channel, job)
        except PageRejectedError as exc:
            return "failed", str(exc)
        except AlertDeliveryError as exc:
            return "retry", str(exc)
        finally:
            self._trying.pop(job.send_id, None)
            PAGING_SEND_SECONDS.labels(job.channel).observe(time.perf_counter() - started)
        return "sent", ""

    def _rows(self, job: _Send, attempt: int, outcome: str, error: str) -> list[tuple[Any, ...]]:
        p, c = job.page, job.contact
        return [
            (a, c.id, c.name, job.channel, p.reason, attempt, outcome, error) for a in p.alert_ids
        ]

    async def _record(self, job: _Send, attempt: int, outcome: str, error: str) -> None:
        if outcome == "failed":
            logger.warning("page to %s by %s failed: %s", job.contact.name, job.channel, error)
        final = outcome != "retry"
        await self.outbox.attempted(
            job.send_id, attempt, final, self._rows(job, attempt, outcome, error)
        )
        PAGING_DELIVERIES.labels(job.channel, outcome).inc()  # once it is recorded

    # -- running --------------------------------------------------------------------------

    async def idle(self) -> None:
        """Wait until every transition is planned and every queued send is done (tests)."""
        while not self._is_idle():
            self._quiet.clear()
            await self._quiet.wait()

    def _is_idle(self) -> bool:
        return not (self._intake or self._sends.qsize() or self._busy or self._inflight)

    def _settle(self) -> None:
        """Wake :meth:`idle` when a piece of work ended with nothing left to do."""
        if self._is_idle():
            self._quiet.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Plan, dispatch and send until ``stop`` is set; then shut down as the module
        docstring says (step 5)."""
        timeout = httpx.Timeout(self.cfg.http_timeout_s)
        async with httpx.AsyncClient(timeout=timeout) as http, asyncio.TaskGroup() as tg:
            if self.channels is None:
                self.channels = build_channels(self.settings, http, self.stream)
            senders = [tg.create_task(self._sender()) for _ in range(self.cfg.senders)]
            loop = tg.create_task(self._loop())
            await stop.wait()
            self._stopping = True
            self._halt.set()
            self._wake.set()
            await loop  # the round in progress ends; its sends are queued
            try:
                async with asyncio.timeout(self.cfg.shutdown_grace_s):
                    await self._sends.join()
            except TimeoutError:
                logger.warning("pager: %d send(s) left for the next start", len(self._held))
            cut = dict(self._trying)
            for task in senders:
                task.cancel()
            await asyncio.wait(senders)
            await self._release(cut)

    async def _release(self, cut: dict[int, int]) -> None:
        """Leave the unfinished sends to the next pager, due at once."""
        if not self._held:
            return
        records = []
        for i, attempt in cut.items():
            if (job := self._held.get(i)) is not None:
                records += self._rows(job, attempt, "interrupted", "cut by shutdown")
                PAGING_DELIVERIES.labels(job.channel, "interrupted").inc()
        try:
            async with asyncio.timeout(self.cfg.shutdown_grace_s):
                await self.outbox.release([*self._held], self._now(), cut, records)
        except (StorageError, TimeoutError) as exc:
            # Their lease runs out instead: the next pager sends them a little later.
            logger.warning("pager: unfinished sends not released (%s)", exc)
        self._held.clear()

    async def _loop(self) -> None:
        backoff = Backoff(self.cfg.retry_initial_s, self.cfg.retry_max_s)
        while not self._stopping:
            self._wake.clear()  # an offer from now on wakes the next round at once
            self._busy += 1  # idle() waits for a dispatch between its claim and its sends
            try:
                await self.plan_intake()
                await self.dispatch_due()
                until = self._now() + timedelta(seconds=self._lease_s)
                await self.outbox.renew([*self._held], until)
            except StorageError as exc:
                delay = backoff.next()
                logger.warning("pager: database error (%s); retry in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):  # a stop ends the wait
                    async with asyncio.timeout(delay):
                        await self._halt.wait()
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

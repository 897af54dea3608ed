"""The alert service: evaluation on every scored batch, lifecycle, escalation and delivery.

Wiring (in ``controlcenter.service``)::

    alerts = AlertService(settings, pool, pipeline.catalog)
    scoring.add_listener(alerts.on_scored)
    tg.create_task(alerts.run(stop))

Queues and their full-queue policy:

- evaluation -> lifecycle worker: ``stage.Inbox(alerts.queue_max_changes)`` of evaluated
  transitions; ``on_scored`` awaits ``put``, so a stalled database slows scoring (and then
  ingest) rather than losing a transition (``_worker.py``). Evaluation itself is inline numpy.
- notifications: websocket subscribers, the MQTT publisher and each webhook have their own
  bounded queues that drop the oldest when full (see ``delivery/``);
  delivery never waits on a receiver.

Shutdown (``run(stop)``): every helper of the stage runs as ``run(stop)`` too. When ``stop``
is set the timers (escalation, gateways, rule refresh, group flush) finish their round and
return, the lifecycle worker drains its queue (what it cannot apply within
``alerts.shutdown_timeout_s`` goes to ``alert_backlog``, replayed by the next start), the
grouper lets go of what it holds, and only then are the publisher and the webhook notifiers
stopped: each delivers what is queued within ``alerts.shutdown_timeout_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
import httpx
import numpy as np
import numpy.typing as npt

from controlcenter.alerts._worker import LifecycleWorker, Transition, Work
from controlcenter.alerts.delivery import AlertPublisher, Grouper, Notification, WebhookNotifier
from controlcenter.alerts.rules import Changes, Evaluator, Rule, Severity
from controlcenter.alerts.storage import AlertBacklog, AlertBook, AlertRepository
from controlcenter.anomaly import Events
from controlcenter.backoff import Backoff
from controlcenter.config import Settings
from controlcenter.domain import US_PER_S, Batch, SensorKey
from controlcenter.errors import StorageError
from controlcenter.metrics import ALERTS_EVAL_SECONDS
from controlcenter.stage import sleep_or_stop
from controlcenter.store import Catalog, retry_transient

__all__ = ["AlertService"]

logger = logging.getLogger(__name__)
_GROUP_FLUSH_S = 0.25  # how often the grouper's due windows are closed


def _where(sensor: SensorKey, series_id: int | None, metric: str | None) -> dict[str, Any]:
    return {
        "site": sensor.site,
        "factory": sensor.factory,
        "kind": sensor.kind,
        "sensor": sensor.sensor,
        "metric": metric,
        "series_id": series_id,
    }


class AlertService:
    """Alerts for one worker (see the module docstring).

    Args:
        settings: service settings (``settings.alerts``).
        pool: database pool.
        catalog: the pipeline's catalog (series id -> key).
        clock: wall-clock seconds, injectable for tests (escalation, manual transitions).
    """

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        catalog: Catalog,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.cfg = settings.alerts
        self.repo = AlertRepository(pool)
        self.catalog = catalog
        self.clock = clock
        self.evaluator = Evaluator(catalog.columns)  # the catalog's columnar view
        self.book = AlertBook(self.repo, self._emit, clock)
        self.grouper = Grouper(
            self._send, window_s=self.cfg.group_window_s, max_members=self.cfg.max_group_members
        )
        self.publisher = AlertPublisher(settings) if self.cfg.publish_mqtt else None
        self.webhooks: dict[str, WebhookNotifier] = {}
        self._http: httpx.AsyncClient | None = None
        self.worker = LifecycleWorker(self.book, AlertBacklog(pool), self.cfg, self._until_stored)
        self._delivery_stop = asyncio.Event()  # set once the lifecycle has drained
        self._listeners: list[Callable[[Mapping[str, Any]], None]] = []
        self._channels: list[Callable[[Notification], None]] = []
        self._tg: asyncio.TaskGroup | None = None
        self._gateway_rules: list[Rule] = []
        self._rules: list[Rule] | None = None
        self.started = asyncio.Event()

    # -- composition ----------------------------------------------------------------------

    def add_listener(self, listener: Callable[[Mapping[str, Any]], None]) -> None:
        """Call ``listener(payload)`` with every transition (e.g. the API's websocket hub).

        It must not block; the payload carries ``site`` and ``factory`` for scoping.
        """
        self._listeners.append(listener)

    def add_channel(self, channel: Callable[[Notification], None]) -> None:
        """Hand ``channel`` every notification after storm grouping (e.g. the pager).

        It must not block.
        """
        self._channels.append(channel)

    async def start(self) -> None:
        """Load rules, references and the active alerts, apply the transitions the last
        shutdown left (``alert_backlog``), then restore the rules' state."""
        await self.reload_rules()
        self.book.contacts = await self.repo.contacts()
        await self._load_references()
        await self.book.load()
        await self.worker.replay()
        self._restore()
        self.started.set()

    async def reload_rules(self) -> None:
        """Re-read the rules (after a change through the API, or periodically)."""
        rules = await self.repo.rules()
        self.book.rules = {r.id: r for r in rules if r.id is not None}
        self._gateway_rules = [r for r in rules if r.enabled and r.is_gateway]
        if rules != self._rules:  # recompiling costs tens of ms at 10k series
            self._rules = rules
            self.evaluator.set_rules(rules)
        self.evaluator.refresh(self.catalog.key_of, self.catalog.max_series_id)
        self._restore()
        gone = [k for k in self.book.active if k[0] not in self.book.rules]
        for rule_id, subject in gone:
            at = round(self.clock() * US_PER_S)
            await self.book.close(rule_id, subject, at, None)

    async def _load_references(self) -> None:
        ix = self.evaluator.index
        ix.set_contracts(await self.repo.contracts())
        partner = ix.capacity_partner[: ix.size]
        cap = np.flatnonzero((partner >= 0) & (partner < ix.size))
        for sid, value in await self.repo.latest_values(cap.tolist()):
            ix.capacity[ix.capacity_partner[sid]] = value
        ix.version += 1

    def _restore(self) -> None:
        ev = self.evaluator
        cells: dict[int, tuple[int, float, int]] = {}  # cell -> (opened µs, peak, level)
        for (rule_id, _subject), alert in self.book.active.items():
            kind = alert.get("kind")
            if kind is None or alert.get("sensor") is None:
                continue
            sk = SensorKey(alert["site"], alert["factory"], kind, alert["sensor"])
            cell = ev.cell_of(rule_id, alert.get("series_id"), sk)
            if cell is None or ev.active[cell] or cell in cells:
                continue
            rule = ev.rules[int(ev.rule_of_cell[cell])]
            level = next(
                (i + 1 for i, s in enumerate(rule.steps) if s.severity == alert["severity"]), 0
            )
            opened = round(alert["opened_at"].timestamp() * US_PER_S)
            cells[cell] = (opened, alert["peak_value"] or 0.0, level)
        if cells:
            opened_us, peaks, levels = zip(*cells.values(), strict=True)
            ev.restore(list(cells), opened_us, peaks, levels)

    # -- evaluation -----------------------------------------------------------------------

    async def on_scored(
        self, batch: Batch, scores: npt.NDArray[np.float64], events: Events
    ) -> None:
        """The scoring listener: evaluate every rule over the batch and its events."""
        del scores  # rules use readings and detector events; scores are for dashboards
        if not self.started.is_set():
            await self.started.wait()
        started = time.perf_counter()
        ev = self.evaluator
        top = max(
            int(batch.series.max()) if len(batch) else -1,
            int(events.series.max()) if len(events) else -1,
        )
        if top >= ev.index.size and ev.refresh(self.catalog.key_of, self.catalog.max_series_id):
            self._restore()
        changes = ev.evaluate(batch, events)
        ALERTS_EVAL_SECONDS.observe(time.perf_counter() - started)
        if len(changes.cell) or len(changes.active_cell):
            await self.worker.put(self._work(changes))

    def _work(self, ch: Changes) -> Work:
        ev = self.evaluator
        transitions = []
        for cell, t, v, opened in zip(
            ch.cell.tolist(), ch.time.tolist(), ch.value.tolist(), ch.opened.tolist(), strict=True
        ):
            subj = ev.subject(cell)
            level = int(ev.level[cell]) if opened else 0
            transitions.append(
                Transition(
                    subj.rule,
                    subj.key,
                    _where(subj.sensor, subj.series_id, subj.metric),
                    t,
                    v,
                    opened,
                    ev.severity(cell, level),
                )
            )
        updates = []
        for cell, peak, lvl, t, v in zip(
            ch.active_cell.tolist(),
            ch.active_peak.tolist(),
            ch.active_level.tolist(),
            ch.active_time.tolist(),
            ch.active_value.tolist(),
            strict=True,
        ):
            subj = ev.subject(cell)
            updates.append((subj.rule.id or 0, subj.key, peak, v, t, ev.severity(cell, lvl)))
        return Work(transitions, updates)

    # -- gateways -------------------------------------------------------------------------

    async def check_gateways(self) -> None:
        """Open or resolve gateway-offline alerts from the factories' gateway status."""
        if not self._gateway_rules:
            return
        rows = await self.repo.gateways()
        now = self.clock()
        for rule in self._gateway_rules:
            for r in rows:
                sc = rule.scope
                if (sc.site is not None and r["site"] != sc.site) or (
                    sc.factory is not None and r["factory"] != sc.factory
                ):
                    continue
                await self._gateway(rule, r, now)

    async def _gateway(self, rule: Rule, r: asyncpg.Record, now: float) -> None:
        subject = f"{r['site']}/{r['factory']}"
        held = now - r["status_at"].timestamp() if r["status_at"] is not None else 0.0
        active = (rule.id or 0, subject) in self.book.active
        at_us = round(now * US_PER_S)
        if r["status"] == "offline" and not active and held >= rule.raise_after_s:
            where = {"site": r["site"], "factory": r["factory"]}
            await self.book.open(rule, subject, where, at_us, 0.0, rule.base_severity)
        elif r["status"] == "online" and active and held >= rule.clear_after_s:
            await self.book.close(rule.id or 0, subject, at_us, 1.0)

    # -- delivery -------------------------------------------------------------------------

    def _emit(self, note: Notification) -> None:
        for listener in self._listeners:
            try:
                listener(note.payload)
            except Exception:
                logger.exception("alert listener failed")
        self.grouper.offer(note, now=self.clock())

    def _send(self, note: Notification) -> None:
        if self.publisher is not None:
            self.publisher.offer(note)
        sev = Severity.parse(note.severity)
        for hook in self.webhooks.values():
            if sev >= hook.min_severity and hook.url not in note.targets:
                hook.offer(note)
        for url in note.targets:
            self._webhook(url).offer(note)
        for channel in self._channels:
            channel(note)

    def _webhook(self, url: str, min_severity: int = 0) -> WebhookNotifier:
        hook = self.webhooks.get(url)
        if hook is None:
            if self._http is None or self._tg is None:
                raise RuntimeError("the alert service is not running")
            hook = WebhookNotifier(
                url, self._http, self.cfg, self.repo.dead_letter, min_severity=min_severity
            )
            self.webhooks[url] = hook
            # It delivers until the lifecycle has drained, then what is queued (run(stop)).
            self._tg.create_task(hook.run(self._delivery_stop), name="webhook")
        return hook

    # -- tasks ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start (replaying the backlog), then run the lifecycle worker, timers and
        notifiers until ``stop``; then drain them in order (see the module docstring).

        Raises:
            StorageError: transitions left at shutdown could not be recorded.
        """
        timeout = httpx.Timeout(self.cfg.webhook_timeout_s)
        async with httpx.AsyncClient(timeout=timeout) as http, asyncio.TaskGroup() as tg:
            self._http, self._tg = http, tg
            self._delivery_stop.clear()
            try:
                for url in self.cfg.webhook_urls:
                    self._webhook(url)
                # Notifiers first: the start replays the backlog, which notifies.
                await self._start_when_possible()
                if self.publisher is not None:
                    tg.create_task(self.publisher.run(self._delivery_stop), name="alert publisher")
                c = self.cfg
                timers = [
                    tg.create_task(self._every(stop, every_s, fn), name=f"alerts {name}")
                    for name, every_s, fn in (
                        ("escalation", c.escalation_check_s, self.book.escalate_due),
                        ("gateways", c.gateway_poll_s, self.check_gateways),
                        ("refresh", c.refresh_interval_s, self._refresh),
                        ("grouping", _GROUP_FLUSH_S, self._flush_groups),
                    )
                ]
                await self.worker.run(stop)  # returns drained, or with the rest recorded
                for timer in timers:
                    await timer  # each returns after its round once stop is set
            finally:
                # What the grouper holds goes out now; then the notifiers drain and return.
                self.grouper.flush_all()
                self._delivery_stop.set()
                self._tg = None

    async def _start_when_possible(self) -> None:
        # A database that is away at start-up (a restart, a network blip) is waited for.
        async def start() -> None:
            for hook in await self.repo.webhooks():
                self._webhook(hook["url"], Severity.parse(hook["min_severity"]))
            await self.start()

        await self._until_stored(start, "starting")

    async def _until_stored(self, step: Callable[[], Awaitable[None]], what: str) -> None:
        """Run ``step`` until it succeeds, retrying transient database errors with backoff.

        Raises:
            StorageError: a database error that retrying cannot fix.
        """
        backoff = Backoff(self.cfg.retry_initial_s, self.cfg.retry_max_s)
        await retry_transient(step, backoff, f"alerts: {what}")

    async def _every(
        self, stop: asyncio.Event, interval_s: float, fn: Callable[[], Awaitable[Any]]
    ) -> None:
        """Call ``fn`` every ``interval_s`` until ``stop`` is set (the round in progress
        finishes first)."""
        while not await sleep_or_stop(stop, interval_s):
            try:
                await fn()
            except StorageError:
                logger.warning("alerts: %s failed (database error); retrying", _name(fn))

    async def _refresh(self) -> None:
        await self.reload_rules()
        self.book.contacts = await self.repo.contacts()
        self.evaluator.index.set_contracts(await self.repo.contracts())

    async def _flush_groups(self) -> None:
        self.grouper.flush_due(now=self.clock())


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", repr(fn))

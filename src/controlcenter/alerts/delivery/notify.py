"""Notifications: what a transition looks like on the wire, and grouping.

The websocket fan-out of transitions is the API's live hub
(``controlcenter.api.live.hub.LiveHub.publish_alert``, a listener of the alert service); it has
the one full-queue policy of every websocket client.

Queues and their full-queue policy:

- :class:`Grouper` (storm control) holds per (rule, site, transition) the members of an open
  window; it is bounded by ``max_group_members`` (beyond it, members are counted, not listed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from controlcenter.metrics import ALERTS_GROUPED

__all__ = ["Grouper", "Notification"]

logger = logging.getLogger(__name__)


def _text(transition: str, alert: dict[str, Any], actor: str) -> str:
    where = "/".join(
        str(alert[k]) for k in ("site", "factory", "kind", "sensor", "metric") if alert.get(k)
    )
    sev = str(alert.get("severity", "")).upper()
    value = alert.get("peak_value") if alert.get("peak_value") is not None else alert.get("value")
    shown = f" value {value:g}" if isinstance(value, float | int) else ""
    by = f" by {actor}" if actor and actor != "system" else ""
    return f"[{sev}] {alert.get('rule_name')} {transition}{by}: {where}{shown}"


@dataclass(slots=True)
class Notification:
    """One alert transition (or a group of them) to deliver.

    ``payload`` is the JSON body every channel sends; webhooks read its ``text`` (Slack/Teams
    incoming webhooks show it) and may use the structured fields.
    """

    transition: str
    site: str
    factory: str | None
    rule: str
    severity: str
    payload: dict[str, Any]
    targets: tuple[str, ...] = ()
    _encoded: bytes | None = field(default=None, repr=False)

    @classmethod
    def of_alert(
        cls,
        transition: str,
        alert: dict[str, Any],
        *,
        actor: str,
        at: datetime,
        extra: dict[str, Any] | None = None,
        targets: tuple[str, ...] = (),
    ) -> Notification:
        """The notification of one alert's transition."""
        body = {
            "type": "alert",
            "transition": transition,
            "site": alert["site"],
            "factory": alert.get("factory"),
            "rule": alert["rule_name"],
            "severity": alert["severity"],
            "time": at.isoformat(),
            "actor": actor,
            "text": _text(transition, alert, actor),
            "alert": _public(alert),
            **(extra or {}),
        }
        return cls(
            transition,
            alert["site"],
            alert.get("factory"),
            alert["rule_name"],
            alert["severity"],
            body,
            targets,
        )

    @classmethod
    def group(cls, first: Notification, members: list[Notification], extra: int) -> Notification:
        """One notification standing for ``members`` (plus ``extra`` unlisted ones)."""
        count = len(members) + extra
        worst = max(members, key=lambda n: _SEV.get(n.severity, 0)).severity
        body = {
            "type": "alert_group",
            "transition": first.transition,
            "time": members[-1].payload["time"],
            "rule": first.rule,
            "site": first.site,
            "factory": None,
            "severity": worst,
            "count": count,
            "text": f"[{worst.upper()}] {first.rule} {first.transition} at {count} more places"
            f" on site {first.site}",
            "members": [m.payload["alert"] for m in members],
        }
        return cls(first.transition, first.site, None, first.rule, worst, body)

    def encoded(self) -> bytes:
        """The JSON body, encoded once for every channel and subscriber."""
        if self._encoded is None:
            self._encoded = orjson.dumps(self.payload, default=str)
        return self._encoded


_SEV = {"info": 1, "warning": 2, "critical": 3}


def _public(alert: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in alert.items():
        out[k] = v.isoformat() if isinstance(v, datetime) else v
    return out


@dataclass(slots=True)
class _Window:
    deadline: float
    first: Notification
    members: list[Notification] = field(default_factory=list)
    extra: int = 0


class Grouper:
    """Storm control: one rule's opens (or resolves) across a site within a window, grouped.

    The first notification of a (rule, site, transition) goes out at once and opens a window
    of ``window_s``; the others arriving within it are held and sent as one grouped
    notification with the member list when the window closes (a lone one is sent as is).

    >>> out = []
    >>> g = Grouper(out.append, window_s=10, max_members=100)
    >>> for i in range(5):
    ...     g.offer(Notification("opened", "s1", f"f{i}", "pm10", "warning",
    ...         {"alert": {"id": i}, "time": "t"}), now=0.0)
    >>> g.flush_due(now=11.0)
    >>> [n.payload.get("count") for n in out]
    [None, 4]
    """

    GROUPED = frozenset({"opened", "resolved"})

    def __init__(
        self, send: Callable[[Notification], None], *, window_s: float, max_members: int
    ) -> None:
        self._send = send
        self._window_s = window_s
        self._max = max_members
        self._windows: dict[tuple[str, str, str], _Window] = {}

    def offer(self, note: Notification, *, now: float) -> None:
        """Send now, or hold for the open window of its (rule, site, transition)."""
        if self._window_s <= 0 or note.transition not in self.GROUPED:
            self._send(note)
            return
        key = (note.rule, note.site, note.transition)
        win = self._windows.get(key)
        if win is None or now >= win.deadline:
            if win is not None:
                self._close(key, win)
            self._windows[key] = _Window(now + self._window_s, note)
            self._send(note)
        elif len(win.members) < self._max:
            win.members.append(note)
        else:
            win.extra += 1

    def flush_due(self, *, now: float) -> None:
        """Close every window whose time is up."""
        for key, win in list(self._windows.items()):
            if now >= win.deadline:
                self._close(key, win)

    def flush_all(self) -> None:
        """Close every window now (at shutdown: nothing held is lost)."""
        for key, win in list(self._windows.items()):
            self._close(key, win)

    def next_deadline(self) -> float | None:
        """When the earliest window closes (None when none is open)."""
        return min((w.deadline for w in self._windows.values()), default=None)

    def _close(self, key: tuple[str, str, str], win: _Window) -> None:
        del self._windows[key]
        if not win.members:
            return
        if len(win.members) == 1 and not win.extra:
            self._send(win.members[0])
            return
        ALERTS_GROUPED.inc(len(win.members) + win.extra)
        self._send(Notification.group(win.first, win.members, win.extra))

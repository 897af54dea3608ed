"""Channels that reach a person where they are connected: MQTT and the dashboard.

- :class:`MqttChannel` publishes the page (JSON, QoS 1, not retained) on
  ``{root}/v1/pages/{contact_id}``: a crew's handheld subscribes to its own topic. Each
  send opens its own short connection (pages are rare; a broken link never outlives a
  send) and waits for the broker's PUBACK, so ``sent`` means the broker has it.
- :class:`PageStream` is the ``websocket`` channel: the dashboards open with the API key
  bound to a person (``Contact.key_id``) subscribe to it through ``/api/v1/paging/live``.
  A page reaches every open dashboard of the person; with none open the send fails and is
  retried like any other (the person may open one within the retries; repeats go on until
  the alert is acknowledged either way). Full-queue policy per dashboard: at most
  ``max_queued`` pages wait, the oldest is dropped and counted.

Both carry :func:`page_json`, the same document the person's webhook receives.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
from dataclasses import dataclass, field

import aiomqtt
import httpx
import orjson

from controlcenter.config import Settings
from controlcenter.errors import AlertDeliveryError
from controlcenter.metrics import PAGING_DROPPED
from controlcenter.mqtt import make_client, refusal
from controlcenter.paging.channel import (
    Channel,
    EmailChannel,
    HttpTemplateChannel,
    PageRejectedError,
    SolapiChannel,
    WebhookChannel,
)
from controlcenter.paging.message import Page, page_json
from controlcenter.paging.model import Contact

__all__ = ["MqttChannel", "PageInbox", "PageStream", "build_channels", "page_topic"]


def page_topic(root: str, contact_id: int) -> str:
    """The topic of a person's pages.

    >>> page_topic("cc", 7)
    'cc/v1/pages/7'
    """
    return f"{root}/v1/pages/{contact_id}"


class MqttChannel:
    """Pages on the person's own MQTT topic (see the module docstring)."""

    name = "mqtt"

    def __init__(self, settings: Settings, timeout_s: float) -> None:
        self._settings = settings
        self._timeout_s = timeout_s

    async def send(self, page: Page, contact: Contact) -> None:
        if contact.id is None:
            raise PageRejectedError("the contact is not stored")
        mq = self._settings.mqtt
        topic = page_topic(mq.topic_root, contact.id)
        client = make_client(self._settings, f"{mq.client_id}-page-{secrets.token_hex(4)}")
        payload = orjson.dumps(page_json(page, contact))
        try:
            async with asyncio.timeout(self._timeout_s), client:
                await client.publish(topic, payload, qos=1)
        except aiomqtt.MqttError as exc:
            if refusal(exc) is not None:  # credentials, client id: no retry fixes them
                raise PageRejectedError(f"the broker refused the pager: {exc}") from exc
            raise AlertDeliveryError(f"MQTT: {exc}") from exc
        except (TimeoutError, OSError) as exc:
            raise AlertDeliveryError(f"MQTT: {type(exc).__name__}: {exc}") from exc


@dataclass(eq=False, slots=True)
class PageInbox:
    """One open dashboard's pages (JSON text), read by its websocket."""

    contact_id: int
    frames: collections.deque[str] = field(default_factory=collections.deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)


class PageStream:
    """The ``websocket`` channel: pages to the dashboards a person has open."""

    name = "websocket"

    def __init__(self, max_queued: int = 100) -> None:
        self._max = max_queued
        self._inboxes: dict[int, set[PageInbox]] = {}

    def subscribe(
        self,
        contact_id: int,
        frames: collections.deque[str] | None = None,
        wakeup: asyncio.Event | None = None,
    ) -> PageInbox:
        """Open an inbox for a dashboard of ``contact_id`` (over the socket's own queue
        and wake-up event when given)."""
        inbox = PageInbox(
            contact_id,
            frames if frames is not None else collections.deque(),
            wakeup or asyncio.Event(),
        )
        self._inboxes.setdefault(contact_id, set()).add(inbox)
        return inbox

    def unsubscribe(self, inbox: PageInbox) -> None:
        """Close an inbox."""
        boxes = self._inboxes.get(inbox.contact_id)
        if boxes is not None:
            boxes.discard(inbox)
            if not boxes:
                del self._inboxes[inbox.contact_id]

    def listeners(self, contact_id: int) -> int:
        """How many dashboards of ``contact_id`` are open."""
        return len(self._inboxes.get(contact_id, ()))

    async def send(self, page: Page, contact: Contact) -> None:
        boxes = self._inboxes.get(contact.id or 0)
        if not boxes:
            raise AlertDeliveryError("no dashboard is open for this person")
        text = orjson.dumps(page_json(page, contact)).decode()
        for inbox in boxes:
            if len(inbox.frames) >= self._max:
                inbox.frames.popleft()
                PAGING_DROPPED.inc()
            inbox.frames.append(text)
            inbox.wakeup.set()


def build_channels(
    settings: Settings, http: httpx.AsyncClient, stream: PageStream | None = None
) -> dict[str, Channel]:
    """Every channel, by name (``websocket`` only with a page stream to carry it)."""
    paging = settings.paging
    t = paging.http_timeout_s
    channels: dict[str, Channel] = {
        "email": EmailChannel(settings.smtp),
        "sms": SolapiChannel("sms", paging.solapi, http, t),
        "alimtalk": SolapiChannel("alimtalk", paging.solapi, http, t),
        "http": HttpTemplateChannel(paging.http, http, t),
        "webhook": WebhookChannel(http, t),
        "mqtt": MqttChannel(settings, t),
    }
    if stream is not None:
        channels["websocket"] = stream
    return channels

"""Paging: people, on-call rotas, and pages that reach them until someone answers.

Public names: :class:`Pager` (compose it in the service: ``alerts.add_channel(pager.offer)``
and ``pager.run(stop)``), :class:`Contact`, :class:`Schedule` and :class:`OverrideIn`
(what admins store), :class:`Rota` and :class:`Duty` (who is on call),
:class:`PagingRepository` (the tables), :class:`Page` (what a page says), the channels
(:class:`EmailChannel`, :class:`SolapiChannel`, :class:`HttpTemplateChannel`,
:class:`WebhookChannel`, :class:`MqttChannel`, :class:`PageStream` for the dashboards), the
send outbox (:class:`Outbox`) and the acknowledge links (:func:`sign`, :func:`verify`).
"""

from controlcenter.paging.channel import (
    Channel,
    EmailChannel,
    HttpTemplateChannel,
    PageRejectedError,
    SolapiChannel,
    WebhookChannel,
    solapi_authorization,
    solapi_outcome,
)
from controlcenter.paging.link import LinkError, Ticket, sign, verify
from controlcenter.paging.live import MqttChannel, PageInbox, PageStream, build_channels, page_topic
from controlcenter.paging.message import Page, page_json
from controlcenter.paging.model import CHANNELS, Contact, OverrideIn, Schedule
from controlcenter.paging.oncall import Duty, Rota
from controlcenter.paging.pager import Pager
from controlcenter.paging.repository import Outbox, PagingRepository

__all__ = [
    "CHANNELS",
    "Channel",
    "Contact",
    "Duty",
    "EmailChannel",
    "HttpTemplateChannel",
    "LinkError",
    "MqttChannel",
    "Outbox",
    "OverrideIn",
    "Page",
    "PageInbox",
    "PageRejectedError",
    "PageStream",
    "Pager",
    "PagingRepository",
    "Rota",
    "Schedule",
    "SolapiChannel",
    "Ticket",
    "WebhookChannel",
    "build_channels",
    "page_json",
    "page_topic",
    "sign",
    "solapi_authorization",
    "solapi_outcome",
    "verify",
]

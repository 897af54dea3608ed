"""Paging: people, on-call rotas, and pages that reach them until someone answers.

Public names: :class:`Pager` (compose it in the service: ``alerts.add_channel(pager.offer)``
and ``pager.run(stop)``), :class:`Contact`, :class:`Schedule` and :class:`OverrideIn`
(what admins store), :class:`Rota` and :class:`Duty` (who is on call),
:class:`PagingRepository` (the tables), :class:`Page` (what a page says), the channels
(:class:`EmailChannel`, :class:`SolapiChannel`, :class:`HttpTemplateChannel`,
:class:`WebhookChannel`) and the acknowledge links (:func:`sign`, :func:`verify`).
"""

from controlcenter.paging.channel import (
    Channel,
    EmailChannel,
    HttpTemplateChannel,
    PageRejectedError,
    SolapiChannel,
    WebhookChannel,
    build_channels,
    solapi_authorization,
)
from controlcenter.paging.link import LinkError, Ticket, sign, verify
from controlcenter.paging.message import Page
from controlcenter.paging.model import CHANNELS, Contact, OverrideIn, Schedule
from controlcenter.paging.oncall import Duty, Rota
from controlcenter.paging.pager import Pager
from controlcenter.paging.repository import PagingRepository

__all__ = [
    "CHANNELS",
    "Channel",
    "Contact",
    "Duty",
    "EmailChannel",
    "HttpTemplateChannel",
    "LinkError",
    "OverrideIn",
    "Page",
    "PageRejectedError",
    "Pager",
    "PagingRepository",
    "Rota",
    "Schedule",
    "SolapiChannel",
    "Ticket",
    "WebhookChannel",
    "build_channels",
    "sign",
    "solapi_authorization",
    "verify",
]

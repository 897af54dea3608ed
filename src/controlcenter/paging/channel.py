"""Channels that carry a page to a person: e-mail, SMS and AlimTalk (SOLAPI), a generic HTTP
template, and the person's own webhook.

Each channel's ``send(page, contact)`` raises :class:`~controlcenter.errors.AlertDeliveryError`
for what a retry may fix (timeouts, unreachable servers, 408/425/429/5xx) and
:class:`PageRejectedError` for what it cannot (a refused recipient, another 4xx, a channel
that is not configured). No channel logs a secret or a full phone number.

SOLAPI's documented request (``POST /messages/v4/send``): a JSON body ``{"message": {"to",
"from", "text", "type", "kakaoOptions": {"pfId", "templateId", "variables",
"disableSms"}}}`` and the header ``Authorization: HMAC-SHA256 apiKey=<key>, date=<ISO
8601>, salt=<random>, signature=<hex HMAC-SHA256(secret, date + salt)>``. Its documented
answer is a JSON object whose ``statusCode`` (four digits) says what became of the
message: ``2000`` accepted (``3000``/``4000`` later stages), anything else a failure named
by ``statusMessage`` (1xxx refused at intake, 2xxx refused by the platform, 3xxx by the
carrier). A failure is a failure even under HTTP 200: server errors, busy or unreachable
handsets and full queues are retried, the rest (a blocked number, no balance, a template
mismatch) go straight to ``failed``; an answer without a ``statusCode`` is retried too. An
HTTP error's body (``errorCode``, ``errorMessage``) is kept in the error text.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import orjson

from controlcenter.config import HttpTemplateSettings, SmtpSettings, SolapiSettings
from controlcenter.errors import AlertDeliveryError, ConfigError, MailError
from controlcenter.paging.message import Page, body, page_json, short_text, subject
from controlcenter.paging.model import Contact
from controlcenter.smtp import send_mail

__all__ = [
    "Channel",
    "EmailChannel",
    "HttpTemplateChannel",
    "PageRejectedError",
    "SolapiChannel",
    "WebhookChannel",
    "solapi_authorization",
    "solapi_outcome",
]

_RETRY_STATUS = {408, 425, 429}
#: SOLAPI's accepted states, and the failures a later attempt may get through.
_SOLAPI_OK = frozenset({"2000", "3000", "4000"})
_SOLAPI_TRANSIENT = frozenset(
    {"1024", "2024", "3012", "3024", "3040", "3041", "3042", "3043", "3044", "3053"}
)


class PageRejectedError(AlertDeliveryError):
    """A page that retrying cannot deliver (refused, or the channel is not configured)."""


class Channel(Protocol):
    """Carries a page to one person."""

    name: str

    async def send(self, page: Page, contact: Contact) -> None:
        """Deliver ``page`` to ``contact`` (see the module docstring for the errors)."""


class EmailChannel:
    """E-mail through ``controlcenter.smtp``, in the person's language."""

    name = "email"

    def __init__(self, smtp: SmtpSettings) -> None:
        self._smtp = smtp

    async def send(self, page: Page, contact: Contact) -> None:
        if contact.email is None:
            raise PageRejectedError("no e-mail address")
        lang = contact.language
        try:
            await send_mail(
                self._smtp, contact.email, subject(page, lang), body(page, lang, contact.name)
            )
        except ConfigError as exc:
            raise PageRejectedError(str(exc)) from exc
        except MailError as exc:
            cls = PageRejectedError if exc.permanent else AlertDeliveryError
            raise cls(str(exc)) from exc


async def _post(
    http: httpx.AsyncClient, url: str, content: bytes, headers: Mapping[str, str], timeout_s: float
) -> httpx.Response:
    try:
        async with asyncio.timeout(timeout_s):
            resp = await http.post(url, content=content, headers=dict(headers))
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        raise AlertDeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if resp.status_code < 300:
        return resp
    detail = _detail(resp)
    if resp.status_code >= 500 or resp.status_code in _RETRY_STATUS:
        raise AlertDeliveryError(f"HTTP {resp.status_code} {detail}")
    raise PageRejectedError(f"HTTP {resp.status_code} {detail}")


def _detail(resp: httpx.Response) -> str:
    # A provider's JSON error (SOLAPI: errorCode, errorMessage) says more than the status.
    try:
        doc = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return resp.text[:200]
    if isinstance(doc, dict) and ("errorCode" in doc or "errorMessage" in doc):
        return f"{doc.get('errorCode', '')}: {doc.get('errorMessage', '')}"[:200]
    return resp.text[:200]


def solapi_authorization(key: str, secret: str, *, date: str, salt: str) -> str:
    """SOLAPI's ``Authorization`` header value.

    >>> solapi_authorization("K", "S", date="2026-12-06T00:00:00Z", salt="abcdefabcdef")[:40]
    'HMAC-SHA256 apiKey=K, date=2026-12-06T00'
    """
    sig = hmac.new(secret.encode(), (date + salt).encode(), hashlib.sha256).hexdigest()
    return f"HMAC-SHA256 apiKey={key}, date={date}, salt={salt}, signature={sig}"


def _digits(phone: str | None) -> str:
    return "".join(ch for ch in phone or "" if ch.isdigit())


class SolapiChannel:
    """SMS (``kind="sms"``) or KakaoTalk AlimTalk (``kind="alimtalk"``) through SOLAPI.

    An AlimTalk template is approved in advance; its variables ``#{내용}`` (the page's
    text) and ``#{링크}`` (the acknowledge link) are filled in, and SOLAPI falls back to
    SMS when the person has no KakaoTalk (``disableSms`` false).
    """

    def __init__(
        self, kind: str, cfg: SolapiSettings, http: httpx.AsyncClient, timeout_s: float
    ) -> None:
        self.name = kind
        self._cfg = cfg
        self._http = http
        self._timeout_s = timeout_s

    def request(self, page: Page, contact: Contact) -> dict[str, Any]:
        """The JSON body for ``page`` to ``contact``."""
        text = short_text(page, contact.language)
        msg: dict[str, Any] = {"to": _digits(contact.phone), "from": self._cfg.sender, "text": text}
        if self.name == "alimtalk":
            msg["type"] = "ATA"
            msg["kakaoOptions"] = {
                "pfId": self._cfg.pf_id,
                "templateId": self._cfg.template_id,
                "variables": {"#{내용}": text, "#{링크}": page.ack_link or page.link or ""},
                "disableSms": False,
            }
        else:
            msg["type"] = "SMS" if len(text.encode("euc-kr", "replace")) <= 90 else "LMS"
        return {"message": msg}

    async def send(self, page: Page, contact: Contact) -> None:
        c = self._cfg
        if c.api_key is None or c.api_secret is None or c.sender is None:
            raise PageRejectedError("SOLAPI is not configured (CC_PAGING__SOLAPI__*)")
        if self.name == "alimtalk" and (c.pf_id is None or c.template_id is None):
            raise PageRejectedError("AlimTalk needs CC_PAGING__SOLAPI__PF_ID and TEMPLATE_ID")
        if not _digits(contact.phone):
            raise PageRejectedError("no phone number")
        date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        auth = solapi_authorization(
            c.api_key, c.api_secret.get_secret_value(), date=date, salt=secrets.token_hex(16)
        )
        headers = {"authorization": auth, "content-type": "application/json"}
        url = c.api_url.rstrip("/") + "/messages/v4/send"
        resp = await _post(
            self._http, url, orjson.dumps(self.request(page, contact)), headers, self._timeout_s
        )
        solapi_outcome(resp.content)


def solapi_outcome(content: bytes) -> str:
    """The ``statusCode`` of an accepted SOLAPI answer; raises for a reported failure.

    >>> solapi_outcome(b'{"statusCode": "2000", "statusMessage": "ok"}')
    '2000'
    >>> solapi_outcome(b'{"statusCode": "1062", "statusMessage": "no sender"}')
    Traceback (most recent call last):
    ...
    controlcenter.paging.channel.PageRejectedError: SOLAPI 1062: no sender
    >>> solapi_outcome(b'{"statusCode": "3041", "statusMessage": "busy"}')
    Traceback (most recent call last):
    ...
    controlcenter.errors.AlertDeliveryError: SOLAPI 3041: busy
    """
    try:
        doc = orjson.loads(content)
    except orjson.JSONDecodeError:
        doc = None
    code = doc.get("statusCode") if isinstance(doc, dict) else None
    if not isinstance(code, str | int):
        raise AlertDeliveryError(f"SOLAPI answered without a statusCode: {content[:200]!r}")
    code = str(code)
    if code in _SOLAPI_OK:
        return code
    text = f"SOLAPI {code}: {str(doc.get('statusMessage', ''))[:200]}".strip()
    raise (AlertDeliveryError if code in _SOLAPI_TRANSIENT else PageRejectedError)(text)


def _fill(template: Any, values: Mapping[str, str]) -> Any:
    if isinstance(template, str):
        out = template
        for k, v in values.items():
            out = out.replace("{" + k + "}", v)
        return out
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    return template


class HttpTemplateChannel:
    """A generic SMS gateway: ``CC_PAGING__HTTP__BODY`` filled in and POSTed as JSON."""

    name = "http"

    def __init__(self, cfg: HttpTemplateSettings, http: httpx.AsyncClient, timeout_s: float):
        self._cfg = cfg
        self._http = http
        self._timeout_s = timeout_s

    def values(self, page: Page, contact: Contact) -> dict[str, str]:
        """The placeholders' values."""
        return {
            "phone": contact.phone or "",
            "text": short_text(page, contact.language),
            "link": page.link or "",
            "ack_link": page.ack_link or "",
            "name": contact.name,
            "severity": page.severity,
            "site": page.site,
            "alert_id": ",".join(map(str, page.alert_ids)),
        }

    async def send(self, page: Page, contact: Contact) -> None:
        if not self._cfg.url:
            raise PageRejectedError("no HTTP gateway configured (CC_PAGING__HTTP__URL)")
        values = self.values(page, contact)
        headers = {"content-type": "application/json", **_fill(self._cfg.headers, values)}
        body_ = orjson.dumps(_fill(self._cfg.body, values))
        await _post(self._http, self._cfg.url, body_, headers, self._timeout_s)


class WebhookChannel:
    """The page as JSON to the person's own webhook (``contact.webhook_url``)."""

    name = "webhook"

    def __init__(self, http: httpx.AsyncClient, timeout_s: float) -> None:
        self._http = http
        self._timeout_s = timeout_s

    async def send(self, page: Page, contact: Contact) -> None:
        if contact.webhook_url is None:
            raise PageRejectedError("no webhook_url")
        payload = page_json(page, contact)
        headers = {"content-type": "application/json"}
        await _post(
            self._http, str(contact.webhook_url), orjson.dumps(payload), headers, self._timeout_s
        )

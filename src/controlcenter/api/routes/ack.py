"""Acknowledge from the page itself: ``GET /ack/{token}`` shows a confirm page, ``POST``
acknowledges.

No API key: the signed, expiring token is the credential (``controlcenter.paging.link``).
A GET never changes anything, so mail and chat link scanners that open every link do not
acknowledge; the person presses the button (a POST). The acknowledgement is written to the
alert's history with the person's name (``<name> (page link)``).
"""

from __future__ import annotations

import html
import time
from typing import Final

from fastapi import APIRouter
from starlette.responses import HTMLResponse

from controlcenter.alerts import AlertService, AlertStateError
from controlcenter.api.state import State
from controlcenter.paging import Contact, LinkError, PagingRepository, Ticket, verify

__all__ = ["router"]

router = APIRouter(
    tags=["paging"],
    responses={
        404: {"description": "the link is not valid, has expired, or its person is gone"},
        409: {"description": "the alerts are already acknowledged or resolved"},
        503: {"description": "alerts cannot be acknowledged in this process"},
    },
)
_MAX_TOKEN: Final = 4_096
_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}
_T = {
    "ko": {
        "title": "경보 확인",
        "ask": "{n}건의 경보를 확인(응답)합니다. 확인하면 호출이 멈춥니다.",
        "button": "확인",
        "done": "{name}님이 {n}건의 경보를 확인했습니다.",
        "already": "이미 확인되었거나 해소된 경보입니다.",
        "bad": "링크가 올바르지 않거나 만료되었습니다.",
        "down": "지금은 확인할 수 없습니다. 대시보드에서 확인하세요.",
    },
    "en": {
        "title": "Acknowledge alert",
        "ask": "Acknowledge {n} alert(s)? The pages stop once acknowledged.",
        "button": "Acknowledge",
        "done": "{name} acknowledged {n} alert(s).",
        "already": "Already acknowledged or resolved.",
        "bad": "This link is not valid or has expired.",
        "down": "Cannot acknowledge right now; please use the dashboard.",
    },
}


def _page(lang: str, text: str, form: bool = False, status: int = 200) -> HTMLResponse:
    t = _T[lang]
    button = (
        f'<form method="post"><button type="submit" style="font-size:1.4em;padding:.5em 2em">'
        f"{t['button']}</button></form>"
        if form
        else ""
    )
    body = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{t['title']}</title></head>"
        '<body style="font-family:sans-serif;max-width:30em;margin:3em auto;padding:0 1em">'
        f"<h1>{t['title']}</h1><p>{html.escape(text)}</p>{button}</body></html>"
    )
    return HTMLResponse(body, status, headers=_HEADERS)


async def _ticket(state: State, token: str) -> tuple[Ticket, Contact] | HTMLResponse:
    secret = state.settings.paging.link_secret
    if secret is None or len(token) > _MAX_TOKEN:
        return _page("ko", _T["ko"]["bad"] + " / " + _T["en"]["bad"], status=404)
    try:
        ticket = verify(secret.get_secret_value().encode(), token, now=time.time())
    except LinkError:
        return _page("ko", _T["ko"]["bad"] + " / " + _T["en"]["bad"], status=404)
    contact = await PagingRepository(state.pool).get(Contact, ticket.contact)
    if contact is None:
        return _page("ko", _T["ko"]["bad"] + " / " + _T["en"]["bad"], status=404)
    return ticket, contact


@router.get("/ack/{token}", response_class=HTMLResponse)
async def ack_page(state: State, token: str) -> HTMLResponse:
    """The confirm page (changes nothing)."""
    found = await _ticket(state, token)
    if isinstance(found, HTMLResponse):
        return found
    ticket, contact = found
    lang = contact.language
    return _page(lang, _T[lang]["ask"].format(n=len(ticket.alerts)), form=True)


@router.post("/ack/{token}", response_class=HTMLResponse)
async def ack(state: State, token: str) -> HTMLResponse:
    """Acknowledge the link's alerts in the name of the person it was sent to."""
    found = await _ticket(state, token)
    if isinstance(found, HTMLResponse):
        return found
    ticket, contact = found
    lang = contact.language
    svc = state.alerts
    if not isinstance(svc, AlertService):
        return _page(lang, _T[lang]["down"], status=503)
    done = 0
    for alert_id in ticket.alerts:
        try:
            await svc.book.acknowledge(alert_id, f"{contact.name} (page link)")
        except (KeyError, AlertStateError):
            continue
        done += 1
    if not done:
        return _page(lang, _T[lang]["already"], status=409)
    return _page(lang, _T[lang]["done"].format(name=contact.name, n=done))

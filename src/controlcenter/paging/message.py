"""What a page says, in Korean or English: e-mail subject and body, short text for SMS.

One page stands for one alert or for a group of them (storm grouping: one rule across a
site, several alerts, one page).

>>> p = Page(reason="opened", rule="pm10-grade", site="namdong", severity="critical",
...     alerts=({"alert_id": 5, "factory": "f007", "sensor": "a1", "metric": "pm10",
...     "peak_value": 180.0, "message": ""},), count=1, link="https://cc/#/f/namdong/f007",
...     ack_link="https://cc/ack/t")
>>> subject(p, "ko")
'[심각] pm10-grade 발생 · namdong/f007'
>>> subject(p, "en")
'[CRITICAL] pm10-grade opened · namdong/f007'
>>> short_text(p, "en")
'[CRITICAL] pm10-grade opened namdong/f007/a1 pm10 180 Ack: https://cc/ack/t'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from controlcenter.paging.model import Contact

__all__ = [
    "Page",
    "body",
    "page_from_json",
    "page_json",
    "page_to_json",
    "short_text",
    "subject",
]

_SEV = {
    "ko": {"info": "정보", "warning": "주의", "critical": "심각"},
    "en": {"info": "INFO", "warning": "WARNING", "critical": "CRITICAL"},
}
_REASON = {
    "ko": {
        "opened": "발생",
        "escalated": "상위 단계 호출",
        "repeat": "미확인 재호출",
        "held": "방해 금지 시간 후 호출",
    },
    "en": {
        "opened": "opened",
        "escalated": "escalated",
        "repeat": "still unacknowledged",
        "held": "held through quiet hours",
    },
}
_WORDS = {
    "ko": {
        "alerts": "건의 경보",
        "where": "위치",
        "value": "값",
        "open": "경보 보기",
        "ack": "확인(응답)하기",
        "ack_hint": "링크를 열고 확인 버튼을 누르면 호출이 멈춥니다.",
        "no_link": "대시보드에서 확인하세요.",
        "more": "외 {n}건",
        "hello": "{name}님, 당번 호출입니다.",
    },
    "en": {
        "alerts": "alerts",
        "where": "Where",
        "value": "Value",
        "open": "Open the alert",
        "ack": "Acknowledge",
        "ack_hint": "Open the link and press the button to stop the pages.",
        "no_link": "Acknowledge it on the dashboard.",
        "more": "and {n} more",
        "hello": "{name}, you are on call.",
    },
}


@dataclass(frozen=True, slots=True)
class Page:
    """One page's content (language-free); ``alerts`` lists at most a few of ``count``."""

    reason: str
    rule: str
    site: str
    severity: str
    alerts: tuple[Mapping[str, Any], ...]
    count: int
    link: str | None = None
    ack_link: str | None = None
    alert_ids: tuple[int, ...] = field(default=())


#: The alert fields a page's text uses (the outbox stores a page with these only).
_LISTED = ("alert_id", "factory", "kind", "sensor", "metric", "value", "peak_value", "message")


def page_to_json(page: Page) -> str:
    """A page as JSON (the listed alerts keep only what a message shows).

    >>> p = Page("opened", "pm10", "s1", "warning", ({"alert_id": 3, "value": 9.0},), 1)
    >>> page_from_json(page_to_json(p)) == p
    True
    """
    doc = asdict(page)
    doc["alerts"] = [{k: a.get(k) for k in _LISTED if k in a} for a in page.alerts]
    return orjson.dumps(doc, default=str).decode()


def page_from_json(text: str | Mapping[str, Any]) -> Page:
    """The page :func:`page_to_json` stored."""
    doc = dict(orjson.loads(text) if isinstance(text, str) else text)
    doc["alerts"] = tuple(doc.get("alerts") or ())
    doc["alert_ids"] = tuple(doc.get("alert_ids") or ())
    return Page(**doc)


def _where(p: Page, a: Mapping[str, Any]) -> str:
    return "/".join(str(x) for x in (p.site, a.get("factory"), a.get("sensor")) if x)


def _value(a: Mapping[str, Any]) -> str:
    v = a.get("peak_value") if a.get("peak_value") is not None else a.get("value")
    metric = a.get("metric") or ""
    return f"{metric} {v:g}".strip() if isinstance(v, int | float) else ""


def _head(p: Page, lang: str) -> str:
    sev = _SEV[lang].get(p.severity, p.severity)
    return f"[{sev}] {p.rule} {_REASON[lang].get(p.reason, p.reason)}"


def subject(p: Page, lang: str) -> str:
    """The e-mail subject."""
    if p.count > 1:
        n = f"{p.count}{_WORDS[lang]['alerts']}" if lang == "ko" else f"{p.count} alerts"
        return f"{_head(p, lang)} · {p.site} ({n})"
    a = p.alerts[0] if p.alerts else {}
    where = "/".join(str(x) for x in (p.site, a.get("factory")) if x)
    return f"{_head(p, lang)} · {where}"


def body(p: Page, lang: str, name: str) -> str:
    """The e-mail's plain-text body."""
    w = _WORDS[lang]
    lines = [w["hello"].format(name=name), "", _head(p, lang)]
    for a in p.alerts:
        desc = f" ({a['message']})" if a.get("message") else ""
        lines.append(f"- {w['where']}: {_where(p, a)}  {w['value']}: {_value(a)}{desc}")
    if p.count > len(p.alerts):
        lines.append("  " + w["more"].format(n=p.count - len(p.alerts)))
    lines.append("")
    if p.link:
        lines.append(f"{w['open']}: {p.link}")
    if p.ack_link:
        lines += [f"{w['ack']}: {p.ack_link}", w["ack_hint"]]
    else:
        lines.append(w["no_link"])
    return "\n".join(lines) + "\n"


def short_text(p: Page, lang: str) -> str:
    """One line for SMS and AlimTalk (the provider splits or upgrades long ones)."""
    a = p.alerts[0] if p.alerts else {}
    what = f"{_where(p, a)} {_value(a)}".strip() if p.count == 1 else ""
    if p.count > 1:
        what = f"{p.site} {p.count}{'건' if lang == 'ko' else ' alerts'}"
    ack = f" {'확인' if lang == 'ko' else 'Ack'}: {p.ack_link}" if p.ack_link else ""
    return f"{_head(p, lang)} {what}{ack}".strip()


def page_json(page: Page, contact: Contact) -> dict[str, Any]:
    """The page as the person's webhook, MQTT topic and dashboard receive it."""
    return {
        "type": "page",
        "reason": page.reason,
        "rule": page.rule,
        "site": page.site,
        "severity": page.severity,
        "count": page.count,
        "alert_ids": list(page.alert_ids),
        "person": contact.name,
        "contact_id": contact.id,
        "text": short_text(page, contact.language),
        "link": page.link,
        "ack_link": page.ack_link,
    }

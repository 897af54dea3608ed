"""Signed, expiring acknowledge links: ``/ack/<token>`` works without an API key.

A token carries the alert ids it acknowledges (one alert, or the alerts of a grouped
page), the contact it was sent to and its expiry, signed with HMAC-SHA256 under
``CC_PAGING__LINK_SECRET``; changing the secret revokes every link.

>>> t = sign(b"k" * 32, [42], contact=7, expires=2_000_000_000)
>>> verify(b"k" * 32, t, now=1_900_000_000)
Ticket(alerts=(42,), contact=7, expires=2000000000)
>>> verify(b"other-key-000000", t, now=1_900_000_000)
Traceback (most recent call last):
...
controlcenter.paging.link.LinkError: this link is not valid
>>> verify(b"k" * 32, t, now=2_100_000_000)
Traceback (most recent call last):
...
controlcenter.paging.link.LinkError: this link has expired
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from controlcenter.errors import ControlCenterError

__all__ = ["LinkError", "Ticket", "sign", "verify"]

_MAX_ALERTS = 200
_SIG = 16  # bytes of the MAC kept: 128 bits


class LinkError(ControlCenterError):
    """An acknowledge link that is malformed, forged or expired."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """What a valid token says."""

    alerts: tuple[int, ...]
    contact: int
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, alerts: Sequence[int], *, contact: int, expires: int) -> str:
    """A token for ``alerts`` (at most 200), sent to ``contact``, valid until ``expires``."""
    body = f"{','.join(map(str, alerts[:_MAX_ALERTS]))}.{contact}.{expires}".encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()[:_SIG]
    return f"{_b64(body)}.{_b64(mac)}"


def verify(key: bytes, token: str, *, now: float) -> Ticket:
    """The ticket of a genuine, unexpired token.

    Raises:
        LinkError: the token is malformed, forged or expired.
    """
    try:
        body_b64, mac_b64 = token.split(".")
        body, mac = _unb64(body_b64), _unb64(mac_b64)
    except ValueError:
        raise LinkError("this link is not valid") from None
    want = hmac.new(key, body, hashlib.sha256).digest()[:_SIG]
    if not hmac.compare_digest(mac, want):
        raise LinkError("this link is not valid")
    try:
        ids, contact, expires = body.decode().split(".")
        ticket = Ticket(tuple(int(i) for i in ids.split(",")), int(contact), int(expires))
    except ValueError:
        raise LinkError("this link is not valid") from None
    if now >= ticket.expires:
        raise LinkError("this link has expired")
    return ticket

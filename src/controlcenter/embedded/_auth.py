"""amqtt authentication for the embedded broker: one user with a password, plus anonymous.

amqtt's own ``AnonymousAuthPlugin`` with ``allow_anonymous: true`` marks *every* session
anonymous, even one that logs in with a username, and amqtt drops QoS 1/2 messages for an
offline anonymous session. This plugin marks a session anonymous only when it sent no
username, so the consumer (which logs in) keeps its persistent session, and simulators may
still connect without credentials.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

logger = logging.getLogger(__name__)


# amqtt ships no type information, so its base class is Any to mypy.
class PasswordAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Accept ``username``/``password``; accept no username at all if ``allow_anonymous``."""

    @dataclass
    class Config:
        """Plugin options, filled by amqtt from the broker config's ``plugins`` mapping."""

        username: str
        password: str
        allow_anonymous: bool = True

    async def authenticate(self, *, session: Session) -> bool:
        """Return whether ``session`` may connect (amqtt calls this on CONNECT)."""
        config: PasswordAuthPlugin.Config = self.config
        if session.username is None:
            session.is_anonymous = True
            if not config.allow_anonymous:
                logger.debug("refused anonymous client %s", session.client_id)
            return config.allow_anonymous
        session.is_anonymous = False
        ok = hmac.compare_digest(
            f"{session.username}\0{session.password or ''}".encode(),
            f"{config.username}\0{config.password}".encode(),
        )
        if not ok:
            logger.debug("refused client %s: bad username or password", session.client_id)
        return ok

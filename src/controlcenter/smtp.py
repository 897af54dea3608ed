"""E-mail over SMTP: one function, :func:`send_mail`, for pages and reports.

Built on aiosmtplib (an asyncio SMTP client: STARTTLS, implicit TLS, AUTH, timeouts), so a
send never blocks the event loop. Settings come from ``CC_SMTP__*``
(:class:`~controlcenter.config.SmtpSettings`); the password is a ``SecretStr`` and appears
in no log line or error message. Every aiosmtplib and socket error is mapped to
:class:`~controlcenter.errors.MailError`, with ``permanent`` set when retrying cannot help
(refused authentication, sender or recipients; a 5xx answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from controlcenter.config import SmtpSettings
from controlcenter.errors import ConfigError, MailError

__all__ = ["ADDRESS_PATTERN", "Attachment", "build_message", "send_mail"]

# An e-mail address as the API accepts it: no control character, space or second "@".
# Explicit ranges, not \s: Python's and JSON Schema's (ECMA) \s differ (\x1c-\x1f, \x85),
# and the API's schema must mean what its validation does.
ADDRESS_PATTERN = r"^[^@\x00-\x20\x7f-\x9f]{1,64}@[^@\x00-\x20\x7f-\x9f]{1,255}$"

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a message (``content_type`` guessed from the name when None)."""

    filename: str
    data: bytes
    content_type: str | None = None


def build_message(
    settings: SmtpSettings,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Iterable[Attachment] = (),
) -> EmailMessage:
    """The MIME message: UTF-8 text, an HTML alternative, attachments.

    >>> from controlcenter.config import SmtpSettings
    >>> m = build_message(SmtpSettings(), ["a@example.kr"], "경보 alert", "본문")
    >>> m["To"], m["Subject"], m.get_content().strip()
    ('a@example.kr', '경보 alert', '본문')
    """
    msg = EmailMessage()
    msg["From"] = settings.from_address
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=settings.from_address.rpartition("@")[2])
    msg.set_content(text, charset="utf-8")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    for item in attachments:
        ctype = item.content_type or mimetypes.guess_type(item.filename)[0]
        maintype, _, subtype = (ctype or "application/octet-stream").partition("/")
        msg.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=item.filename)
    return msg


async def send_mail(
    settings: SmtpSettings,
    to: str | Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Iterable[Attachment] = (),
) -> None:
    """Send one message to ``to`` through the configured server.

    Raises:
        ConfigError: no mail server configured (``CC_SMTP__HOST``).
        MailError: the server refused the message or could not be reached in time.
    """
    if not settings.host:
        raise ConfigError("no mail server configured (set CC_SMTP__HOST)")
    rcpts = [to] if isinstance(to, str) else list(to)
    if not rcpts:
        raise MailError("no recipient", permanent=True)
    msg = build_message(settings, rcpts, subject, text, html, attachments)
    password = settings.password.get_secret_value() if settings.password else None
    with _map_errors(settings):
        # aiosmtplib applies its timeout per command; the whole exchange is bounded too.
        async with asyncio.timeout(settings.timeout_s * 3):
            await aiosmtplib.send(
                msg,
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=password,
                use_tls=settings.use_tls,
                start_tls=settings.starttls and not settings.use_tls,
                timeout=settings.timeout_s,
                cert_bundle=str(settings.ca_file) if settings.ca_file else None,
            )
    logger.debug("mail sent to %d recipient(s)", len(rcpts))


@contextlib.contextmanager
def _map_errors(settings: SmtpSettings) -> Iterator[None]:
    where = f"{settings.host}:{settings.port}"
    try:
        yield
    except aiosmtplib.SMTPAuthenticationError as exc:
        # The server's words only: never the credentials.
        raise MailError(f"{where}: authentication refused ({exc.code})", permanent=True) from exc
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"{where}: recipients refused", permanent=True) from exc
    except aiosmtplib.SMTPResponseException as exc:
        permanent = 500 <= exc.code < 600
        raise MailError(f"{where}: {exc.code} {exc.message}", permanent=permanent) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise MailError(f"{where}: {type(exc).__name__}: {exc}") from exc

"""Send a report by e-mail through the service's one SMTP sender (``controlcenter.smtp``)."""

from __future__ import annotations

from controlcenter import smtp
from controlcenter.config import SmtpSettings

__all__ = ["send_mail"]


async def send_mail(
    mail: SmtpSettings,
    to: list[str],
    subject: str,
    body: str,
    attachment: tuple[str, bytes, str],
) -> None:
    """Send one message with one attachment (filename, content, MIME type) to ``to``.

    Raises:
        ConfigError: no mail server configured (``CC_SMTP__HOST``).
        MailError: the server is unreachable or refused the message.
    """
    filename, content, media_type = attachment
    await smtp.send_mail(
        mail, to, subject, body, attachments=[smtp.Attachment(filename, content, media_type)]
    )

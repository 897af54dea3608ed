"""Send a report by e-mail (SMTP with STARTTLS and authentication, via aiosmtplib).

One small function, so that the service's shared SMTP sender can take its place.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from controlcenter.config import ReportSettings
from controlcenter.errors import AlertDeliveryError

__all__ = ["send_mail"]


async def send_mail(
    mail: ReportSettings,
    to: list[str],
    subject: str,
    body: str,
    attachment: tuple[str, bytes, str],
) -> None:
    """Send one message with one attachment (filename, content, MIME type) to ``to``.

    Raises:
        AlertDeliveryError: the server is unreachable or refused the message.
    """
    if mail.smtp_host is None:
        raise AlertDeliveryError("no SMTP server configured (CC_REPORTS__SMTP_HOST)")
    message = EmailMessage()
    message["From"] = mail.mail_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(body)
    filename, content, media_type = attachment
    maintype, subtype = media_type.split("/", 1)
    message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    password = mail.smtp_password.get_secret_value() if mail.smtp_password else None
    try:
        await aiosmtplib.send(
            message,
            hostname=mail.smtp_host,
            port=mail.smtp_port,
            start_tls=mail.smtp_starttls,
            username=mail.smtp_username,
            password=password,
            timeout=mail.smtp_timeout_s,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        # Never the password: the message names the server and the error only.
        raise AlertDeliveryError(f"SMTP {mail.smtp_host}:{mail.smtp_port}: {exc}") from exc

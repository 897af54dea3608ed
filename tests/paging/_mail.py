"""A real SMTP server on loopback (aiosmtpd) with STARTTLS and AUTH, for the mail tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import subprocess
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USER, PASSWORD = "pager", "s3cret-pass"


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (openssl, no network)."""
    cert, key = tmp / "smtp.crt", tmp / "smtp.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class _Handler:
    def __init__(self, inbox: list[EmailMessage], refuse: int) -> None:
        self.inbox = inbox
        self.refuse = refuse

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        if self.refuse > 0:
            self.refuse -= 1
            return "451 try again later"
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.inbox.append(msg)  # type: ignore[arg-type]
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (USER, PASSWORD)
    return AuthResult(success=ok, handled=False)


class MailServer:
    """``async with MailServer(tmp) as srv``: ``srv.port``, ``srv.cert``, ``srv.inbox``.

    The server requires STARTTLS before anything else and AUTH before MAIL; ``refuse``
    answers the first N messages with a transient 451.
    """

    def __init__(self, tmp: Path, refuse: int = 0) -> None:
        self.tmp = tmp
        self.inbox: list[EmailMessage] = []
        self.refuse = refuse
        self.port = 0

    async def __aenter__(self) -> MailServer:
        self.cert, key = self_signed(self.tmp)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, key)
        handler = _Handler(self.inbox, self.refuse)
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(
                handler,
                tls_context=ctx,
                require_starttls=True,
                auth_required=True,
                authenticator=_authenticate,
                auth_exclude_mechanism=["LOGIN"],
                hostname="127.0.0.1",
            ),
            "127.0.0.1",
            0,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    def settings(self, **over):
        from controlcenter.config import SmtpSettings

        base = {
            "host": "127.0.0.1",
            "port": self.port,
            "username": USER,
            "password": PASSWORD,
            "from_address": "cc@complex.example.kr",
            "ca_file": self.cert,
            "timeout_s": 5,
        }
        return SmtpSettings.model_validate(base | over)

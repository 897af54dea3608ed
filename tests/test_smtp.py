"""send_mail against a real SMTP server on loopback (STARTTLS, AUTH, attachments, errors)."""

from __future__ import annotations

import logging

import pytest

from controlcenter.config import SmtpSettings
from controlcenter.errors import ConfigError, MailError
from controlcenter.smtp import Attachment, send_mail
from tests.paging._mail import PASSWORD, MailServer


async def test_send_mail_delivers_korean_text_html_and_attachment_over_starttls(tmp_path):
    async with MailServer(tmp_path) as srv:
        await send_mail(
            srv.settings(),
            ["crew@example.kr"],
            "[심각] 미세먼지 경보",
            "남동 단지 f007: PM10 180 ug/m3",
            html="<p>남동 단지</p>",
            attachments=[Attachment("daily.pdf", b"%PDF-1.4 test")],
        )
    assert len(srv.inbox) == 1
    msg = srv.inbox[0]
    assert msg["Subject"] == "[심각] 미세먼지 경보"
    assert msg["X-Envelope-To"] == "crew@example.kr"
    assert msg["From"] == "cc@complex.example.kr"
    assert "PM10 180" in msg.get_body(("plain",)).get_content()
    assert "남동 단지" in msg.get_body(("html",)).get_content()
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == "daily.pdf"
    assert att.get_content() == b"%PDF-1.4 test"


async def test_wrong_password_is_a_permanent_mail_error_that_never_shows_the_password(
    tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    async with MailServer(tmp_path) as srv:
        with pytest.raises(MailError) as info:
            await send_mail(srv.settings(password="wrong-" + PASSWORD), "a@b.kr", "s", "t")
    assert info.value.permanent
    assert "authentication" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in caplog.text
    assert srv.inbox == []


async def test_a_transient_refusal_is_a_retryable_mail_error(tmp_path):
    async with MailServer(tmp_path, refuse=1) as srv:
        with pytest.raises(MailError) as info:
            await send_mail(srv.settings(), "a@b.kr", "s", "t")
        assert not info.value.permanent
        await send_mail(srv.settings(), "a@b.kr", "s", "t")  # the retry goes through
    assert len(srv.inbox) == 1


async def test_an_unreachable_server_is_a_transient_mail_error():
    settings = SmtpSettings(host="127.0.0.1", port=1, timeout_s=2)
    with pytest.raises(MailError) as info:
        await send_mail(settings, "a@b.kr", "s", "t")
    assert not info.value.permanent


async def test_no_host_is_a_config_error():
    with pytest.raises(ConfigError, match="CC_SMTP__HOST"):
        await send_mail(SmtpSettings(), "a@b.kr", "s", "t")

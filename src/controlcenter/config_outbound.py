"""Settings of what the service sends out: mail (SMTP), pages (Solapi, HTTP templates,
the pager) and reports. Part of :class:`controlcenter.config.Settings` (import them from
there)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

__all__ = [
    "HttpTemplateSettings",
    "PagingSettings",
    "ReportSettings",
    "SmtpSettings",
    "SolapiSettings",
]


class SmtpSettings(BaseModel):
    """The mail server that e-mails pages and reports (``controlcenter.smtp``).

    ``host`` unset: e-mail is off (pages go through the other channels).
    """

    host: str | None = None
    port: int = Field(587, ge=1, le=65_535)
    # STARTTLS on a plain connection (port 587); use_tls: TLS from the first byte (465).
    starttls: bool = True
    use_tls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = Field("controlcenter@localhost", pattern=r"^[^@\s]+@[^@\s]+$")
    ca_file: Path | None = Field(None, description="CA bundle that signs the server (PEM)")
    timeout_s: float = Field(10.0, gt=0, description="one message, connect to quit")


class SolapiSettings(BaseModel):
    """SOLAPI (Korean SMS and KakaoTalk AlimTalk provider): ``POST /messages/v4/send``."""

    api_url: str = "https://api.solapi.com"
    api_key: str | None = None
    api_secret: SecretStr | None = None
    sender: str | None = Field(None, description="registered sender number (digits)")
    pf_id: str | None = Field(None, description="KakaoTalk channel id (AlimTalk)")
    template_id: str | None = Field(None, description="approved AlimTalk template id")


def _default_http_body() -> dict[str, object]:
    return {"to": "{phone}", "text": "{text}"}


class HttpTemplateSettings(BaseModel):
    """A generic SMS gateway: a JSON body template POSTed to ``url``.

    String values in ``body`` (and ``headers``) may name ``{phone}``, ``{text}``, ``{link}``,
    ``{ack_link}``, ``{name}``, ``{severity}``, ``{site}``, ``{alert_id}``.
    """

    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, object] = Field(default_factory=_default_http_body)


class PagingSettings(BaseModel):
    """Paging: on-call routing, repeats, channels and the acknowledge links.

    Pages wait in the database (``page_pending``) until due; a bounded queue
    (``queue_max_jobs``) feeds the senders, and the dispatcher claims no more than it has
    room for, so a provider outage delays pages and never blocks evaluation or ingest.
    """

    enabled: bool = True
    # Where people open the dashboard; links in pages point here (no link when unset).
    public_url: str | None = None
    link_secret: SecretStr | None = Field(
        None, description="HMAC key of the acknowledge links (no ack link when unset)"
    )
    link_ttl_s: float = Field(86_400.0, gt=0, description="an acknowledge link works this long")
    tick_s: float = Field(2.0, gt=0, description="due pages are looked for this often")
    queue_max_jobs: int = Field(
        1_000, ge=10, description="sends waiting for a sender (and transitions for the planner)"
    )
    senders: int = Field(4, ge=1, le=64, description="concurrent sends")
    max_attempts: int = Field(5, ge=1)
    retry_initial_s: float = Field(1.0, gt=0)
    retry_max_s: float = Field(60.0, gt=0)
    http_timeout_s: float = Field(10.0, gt=0)
    max_group_listed: int = Field(10, ge=1, description="alerts listed by name in one page")
    gather_s: float = Field(
        2.0,
        ge=0,
        description="a new page waits this long for others of its rule (one page per event)",
    )
    shutdown_grace_s: float = Field(
        5.0, gt=0, description="at shutdown, sends queued or in flight get this long to finish"
    )
    live_queue_pages: int = Field(
        100, ge=1, description="pages waiting for one dashboard's websocket (oldest dropped)"
    )
    solapi: SolapiSettings = SolapiSettings()
    http: HttpTemplateSettings = HttpTemplateSettings()


class ReportSettings(BaseModel):
    """Daily and monthly reports: the schedule and its limits (mail goes through CC_SMTP__*).

    Scheduled reports are made for the complex's time zone (``CC_TIME_ZONE``): the daily
    one for the day before at ``daily_at``, the monthly one for the month before on
    ``monthly_day`` at the same time, for each site or factory that has subscribers.
    """

    schedule_enabled: bool = Field(True, description="False: no scheduled reports")
    daily_at: str = Field(
        "06:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="HH:MM (CC_TIME_ZONE): the day before's report is made then",
    )
    monthly_day: int = Field(
        1, ge=1, le=28, description="day of the month the month before's report is made"
    )
    check_interval_s: float = Field(60.0, gt=0, description="the schedule is checked this often")
    keep_days: int = Field(400, ge=1, description="stored reports are deleted after this")
    generate_timeout_s: float = Field(120.0, gt=0, description="one report, at most")
    backfill_days: int = Field(
        7,
        ge=0,
        description="at start, periods missed within this many days are made (oldest first)",
    )
    mail_max_attempts: int = Field(6, ge=1, description="tries to mail one scheduled report")
    mail_retry_initial_s: float = Field(
        60.0, gt=0, description="first wait before mailing a report again (doubles)"
    )
    mail_retry_max_s: float = Field(3_600.0, gt=0, description="longest wait between tries")

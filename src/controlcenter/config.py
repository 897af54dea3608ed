"""Settings: one pydantic-settings object, built once at the entry point and passed down.

Environment variables use the ``CC_`` prefix and ``__`` for nesting, e.g.
``CC_DATABASE_URL``, ``CC_MQTT_URL``, ``CC_INGEST__BATCH_SIZE``, ``CC_MQTT__RECEIVE_MAXIMUM``.
Every limit is a named setting with its unit in the name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from controlcenter.config_outbound import (
    HttpTemplateSettings,
    PagingSettings,
    ReportSettings,
    SmtpSettings,
    SolapiSettings,
)
from controlcenter.errors import ConfigError

__all__ = [
    "AlertSettings",
    "ApiSettings",
    "DbSettings",
    "EngineSettings",
    "HttpTemplateSettings",
    "IngestSettings",
    "KindsSettings",
    "MqttEndpoint",
    "MqttSettings",
    "PagingSettings",
    "ReportSettings",
    "RuntimeSettings",
    "Settings",
    "SmtpSettings",
    "SolapiSettings",
]

#: Refused as passwords with CC_ENV=prod (compared case-insensitively, after URL decoding).
_PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "change_me", "secret", "password", "passwd", "default"}
    | {"admin", "postgres", "controlcenter", "mosquitto", "example", "test", "12345678"}
)


class DbSettings(BaseModel):
    """Database pool, storage mode and retention."""

    pool_min_size: int = Field(2, ge=1)
    pool_max_size: int = Field(10, ge=1)
    connect_timeout_s: float = Field(10.0, gt=0)
    command_timeout_s: float = Field(60.0, gt=0)
    close_timeout_s: float = Field(10.0, gt=0)
    # auto: use TimescaleDB when the extension is installed and preloaded; off: plain
    # PostgreSQL; require: fail the migration when TimescaleDB cannot be used.
    timescale: Literal["auto", "off", "require"] = "auto"
    retention_days: int = Field(365, ge=1)
    partition_interval_days: int = Field(7, ge=1)
    # How often the service refreshes the rollups over the ranges batches touched.
    rollup_interval_s: float = Field(30.0, gt=0)
    migrate_on_start: bool = True


class MqttSettings(BaseModel):
    """Broker connection and subscription.

    Attributes:
        receive_maximum: MQTT 5 Receive Maximum sent to the broker (its in-flight window
            towards us). Brokers do not all honour it exactly, so intake also bounds itself
            (``ingest.max_unacked_messages``).
    """

    username: str | None = None
    password: SecretStr | None = None
    # MQTT 5 lets us widen the broker's in-flight window (Receive Maximum); 3.1.1 is for
    # brokers without MQTT 5, where the broker's own in-flight limit applies.
    protocol: Literal["5", "3.1.1"] = "5"
    client_id: str = "controlcenter-ingest"
    topic_root: str = "cc"
    # Name of an MQTT 5 shared-subscription group ($share/<group>/...), for several workers.
    shared_group: str | None = None
    keepalive_s: int = Field(30, ge=5)
    session_expiry_s: int = Field(86_400, ge=0)
    receive_maximum: int = Field(20_000, ge=1, le=65_535)
    connect_timeout_s: float = Field(10.0, gt=0)
    reconnect_initial_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)


class IngestSettings(BaseModel):
    """Decoding limits, batching and queue bounds."""

    batch_size: int = Field(10_000, ge=1, description="flush after this many readings")
    # Bounds the live feed's latency (a reading waits up to this long for its batch).
    flush_interval_s: float = Field(0.05, gt=0, description="flush at least this often")
    flush_idle_s: float = Field(
        0.01, ge=0, description="flush when no message came for this long (0: never)"
    )
    queue_max_batches: int = Field(4, ge=1, description="decoded batches waiting for the writer")
    max_unacked_messages: int = Field(
        20_000, ge=1, description="stop reading the broker beyond this many unacked messages"
    )
    max_payload_bytes: int = Field(256 * 1024, ge=64)
    max_readings_per_message: int = Field(5_000, ge=1)
    max_future_skew_s: float = Field(300.0, ge=0)
    max_age_days: float = Field(400.0, gt=0)
    max_new_series_per_factory_per_hour: int = Field(
        1_000, ge=0, description="more are dead-lettered (series_limit); 0: no cap"
    )
    write_retry_initial_s: float = Field(0.2, gt=0)
    write_retry_max_s: float = Field(10.0, gt=0)
    shutdown_timeout_s: float = Field(15.0, gt=0)


class KindsSettings(BaseModel):
    """The sensor-kind registry (``controlcenter.kinds``; table ``sensor_kinds``)."""

    refresh_interval_s: float = Field(
        30.0,
        gt=0,
        le=86_400,
        description="reread the registry this often (kinds an admin added on another process)",
    )


class EngineSettings(BaseModel):
    """The anomaly engine and its stage (see controlcenter.anomaly and scoring.py)."""

    window: int = Field(256, ge=8, description="readings kept per series")
    refresh: int = Field(64, ge=1, description="robust statistics refreshed every N readings")
    min_history: int = Field(32, ge=2)
    queue_max_batches: int = Field(8, ge=1, description="committed batches waiting to be scored")
    sweep_interval_s: float = Field(15.0, gt=0, description="silence sweep period")
    silence_max_lag_s: float = Field(
        300.0,
        ge=0,
        description="silence is judged against the newest reading scored, up to this far "
        "behind the wall clock",
    )
    inline_max_readings: int = Field(
        2_000, ge=0, description="larger batches are scored in a worker thread"
    )
    warm_start_chunk_series: int = Field(1_000, ge=1)
    daily_slots: int = Field(48, ge=0, description="daily-baseline slots per day (0: none)")
    daily_warm_start_days: float = Field(
        3.0, ge=0, description="days of history that warm-start the daily baseline"
    )
    store_events: bool = True
    retry_initial_s: float = Field(
        0.2, gt=0, description="first wait after a transient database error"
    )
    retry_max_s: float = Field(10.0, gt=0, description="longest wait between retries")


class ApiSettings(BaseModel):
    """The operators' API: listener, request limits and live-feed pacing.

    Every request limit answers with a 4xx and a message when exceeded, never a 500.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65_535)
    max_points: int = Field(10_000, ge=10, description="history buckets per series, at most")
    default_points: int = Field(1_000, ge=1)
    max_page_size: int = Field(1_000, ge=1)
    default_page_size: int = Field(100, ge=1)
    max_latest_series: int = Field(20_000, ge=1, description="series per latest-values request")
    max_history_series: int = Field(100, ge=1, description="series per history request")
    max_total_points: int = Field(200_000, ge=10, description="series x max_points per request")
    max_export_series: int = Field(1_000, ge=1, description="series per CSV export")
    max_request_body_bytes: int = Field(64 * 1024, ge=1_024)
    max_plan_image_bytes: int = Field(
        4 * 1024 * 1024, ge=1_024, description="a site-plan image (PNG or JPEG), at most"
    )
    max_map_sensors: int = Field(10_000, ge=1, description="sensors listed by a site's map")
    query_timeout_s: float = Field(10.0, gt=0)
    export_timeout_s: float = Field(600.0, gt=0, description="a whole CSV export, at most")
    ready_timeout_s: float = Field(2.0, gt=0)
    key_cache_ttl_s: float = Field(10.0, ge=0, description="a revoked key works this long")
    # Failed authentications, limited in each process (GCRA, see api/_limit.py).
    auth_max_failures_per_client: int = Field(
        20, ge=1, description="failed authentications per client address per window"
    )
    auth_max_failures_per_key: int = Field(
        10, ge=1, description="failed authentications per key id per window"
    )
    auth_failure_window_s: float = Field(60.0, gt=0)
    auth_bad_key_cache_s: float = Field(
        300.0, ge=0, description="an unknown or revoked key id is answered without a query"
    )
    auth_limiter_max_entries: int = Field(100_000, ge=1, description="addresses / key ids kept")
    # uvicorn takes the client address from X-Forwarded-For only from these peers.
    forwarded_allow_ips: str = "127.0.0.1"
    # Live feeds: frames are coalesced (latest value per series) and paced per client.
    live_frame_interval_s: float = Field(0.1, gt=0, description="at most one frame per client")
    live_queue_frames: int = Field(4, ge=1, description="frames waiting per websocket client")
    live_slow_client_timeout_s: float = Field(10.0, gt=0, description="behind this long: 4008")
    live_send_timeout_s: float = Field(10.0, gt=0)
    live_heartbeat_s: float = Field(15.0, gt=0)
    live_max_clients: int = Field(10_000, ge=1, description="websockets, live and alerts")
    live_max_clients_per_key: int = Field(50, ge=1, description="websockets of one API key")
    live_key_recheck_s: float = Field(
        2.0, gt=0, description="open websockets' keys re-checked (revocation) this often"
    )
    live_auth_timeout_s: float = Field(
        10.0, gt=0, description="a websocket's first message (its key) awaited this long: 4408"
    )
    live_max_message_bytes: int = Field(16 * 1024, ge=256, description="client messages")
    alert_queue_size: int = Field(256, ge=1, description="alert transitions waiting per client")
    # API-only replicas: their own MQTT feed and catalog refresh.
    catalog_refresh_s: float = Field(30.0, gt=0)
    shutdown_timeout_s: float = Field(5.0, gt=0)


class RuntimeSettings(BaseModel):
    """The process: the garbage collector's policy (see controlcenter/gcpolicy.py)."""

    gc_tuned: bool = Field(True, description="False: CPython's automatic collections")
    gc_young_threshold: int = Field(10_000, ge=100, description="allocations per young sweep")
    gc_full_interval_s: float = Field(60.0, gt=0, description="one full collection this often")


class AlertSettings(BaseModel):
    """Alerts: evaluation housekeeping, escalation, storm control and delivery.

    Every notifier has its own bounded queue (``queue_max_notifications``): when full the
    oldest notification is dropped and counted (webhooks also record it as a dead letter),
    so a slow or dead receiver never delays alert evaluation or ingest.
    """

    enabled: bool = True
    # Transitions found by evaluation wait here for the database (put is awaited).
    queue_max_changes: int = Field(64, ge=1, description="evaluated batches with transitions")
    refresh_interval_s: float = Field(30.0, gt=0, description="rules, contracts reloaded")
    gateway_poll_s: float = Field(5.0, gt=0, description="gateway statuses polled")
    escalation_check_s: float = Field(10.0, gt=0)
    group_window_s: float = Field(30.0, ge=0, description="0 disables grouping")
    max_group_members: int = Field(500, ge=1)
    queue_max_notifications: int = Field(1_000, ge=1, description="per notifier")
    publish_mqtt: bool = True
    mqtt_qos: int = Field(1, ge=0, le=2)
    mqtt_timeout_s: float = Field(10.0, gt=0)
    webhook_urls: list[str] = Field(default_factory=list)
    webhook_timeout_s: float = Field(5.0, gt=0)
    webhook_max_attempts: int = Field(5, ge=1)
    retry_initial_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)
    shutdown_timeout_s: float = Field(5.0, gt=0)


class MqttEndpoint(BaseModel):
    """A parsed ``mqtt://[user[:pass]@]host[:port]`` URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False


def _url_passwords(url: str) -> list[tuple[str, str]]:
    """The passwords a URL gives (userinfo, and libpq's ``?password=``), decoded.

    >>> _url_passwords("postgresql://cc:ch%61ngeme@db/cc?sslmode=require&password=x")
    [('', 'changeme'), (' (?password=)', 'x')]
    >>> _url_passwords("mqtt://broker:1883"), _url_passwords("mqtt://user:@broker")
    ([], [('', '')])
    """
    try:
        parts = urlsplit(url)
        found = [("", unquote(parts.password))] if parts.password is not None else []
    except ValueError:  # a malformed URL fails later, where it is used
        return []
    found += [(" (?password=)", v) for k, v in parse_qsl(parts.query) if k == "password"]
    return found


class Settings(BaseSettings):
    """All settings. Build once (``Settings()`` reads the environment) and pass it down.

    ``database_url`` and ``mqtt_url`` left unset mean "no service configured": the demo and
    the test suite then start embedded ones.

    >>> s = Settings(database_url="postgresql://u@db/cc", mqtt_url="mqtt://gw:pw@broker:1884")
    >>> s.mqtt_endpoint().port, s.mqtt_endpoint().username
    (1884, 'gw')
    """

    model_config = SettingsConfigDict(
        env_prefix="CC_",
        env_nested_delimiter="__",
        extra="ignore",
        env_file=None,
        # A validation error must not print the input: it holds URLs with passwords.
        hide_input_in_errors=True,
    )

    env: Literal["dev", "prod"] = "dev"
    database_url: SecretStr | None = None
    mqtt_url: str | None = None
    data_dir: Path = Path(".cc-data")
    log_level: str = "INFO"
    # The complex's time zone (IANA name): the dashboard shows every date and time in it.
    time_zone: str = "Asia/Seoul"
    db: DbSettings = DbSettings()
    mqtt: MqttSettings = MqttSettings()
    ingest: IngestSettings = IngestSettings()
    kinds: KindsSettings = KindsSettings()
    api: ApiSettings = ApiSettings()
    engine: EngineSettings = EngineSettings()
    alerts: AlertSettings = AlertSettings()
    smtp: SmtpSettings = SmtpSettings()
    paging: PagingSettings = PagingSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    reports: ReportSettings = ReportSettings()

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"CC_TIME_ZONE: unknown time zone {value!r} (an IANA name such as Asia/Seoul)"
            ) from exc
        return value

    def utc_offset_s(self, at: datetime | None = None) -> int:
        """The complex's offset from UTC in seconds at ``at`` (default: now).

        The anomaly engine's daily baseline keeps local days with the offset at start; in a
        zone with daylight saving time it follows a change at the next restart.
        """
        when = at if at is not None else datetime.now(UTC)
        offset = when.astimezone(ZoneInfo(self.time_zone)).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env != "prod":
            return self
        given = (
            [("CC_MQTT__PASSWORD", self.mqtt.password.get_secret_value())]
            if (self.mqtt.password is not None)
            else []
        )
        if self.smtp.password is not None:
            given.append(("CC_SMTP__PASSWORD", self.smtp.password.get_secret_value()))
        if self.mqtt_url:
            given += [
                (f"the password in CC_MQTT_URL{w}", p) for w, p in _url_passwords(self.mqtt_url)
            ]
        for where, secret in (
            ("CC_SMTP__PASSWORD", self.smtp.password),
            ("CC_PAGING__LINK_SECRET", self.paging.link_secret),
            ("CC_PAGING__SOLAPI__API_SECRET", self.paging.solapi.api_secret),
        ):
            if secret is not None:
                given.append((where, secret.get_secret_value()))
        if self.database_url is not None:
            url = self.database_url.get_secret_value()
            given += [(f"the password in CC_DATABASE_URL{w}", p) for w, p in _url_passwords(url)]
        for where, password in given:
            if password.strip().lower() in _PLACEHOLDER_SECRETS:
                # Never the value itself: this message reaches the logs.
                raise ValueError(f"{where} is a placeholder; set a real secret in prod")
        return self

    def dsn(self) -> str:
        """The database URL in the form asyncpg takes.

        Raises:
            ConfigError: when no database is configured.
        """
        if self.database_url is None:
            raise ConfigError("no database configured (set CC_DATABASE_URL)")
        url = self.database_url.get_secret_value()
        for prefix in ("postgresql+asyncpg://", "postgres+asyncpg://"):
            if url.startswith(prefix):
                url = "postgresql://" + url[len(prefix) :]
        return url

    def mqtt_endpoint(self) -> MqttEndpoint:
        """Host, port and credentials of the broker (URL credentials, then CC_MQTT__*).

        Raises:
            ConfigError: when no broker is configured or the URL is not mqtt(s)://.
        """
        if not self.mqtt_url:
            raise ConfigError("no MQTT broker configured (set CC_MQTT_URL)")
        parts = urlsplit(self.mqtt_url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ConfigError(f"CC_MQTT_URL must be mqtt://host:port, got {parts.scheme!r}")
        tls = parts.scheme == "mqtts"
        password = self.mqtt.password.get_secret_value() if self.mqtt.password else None
        return MqttEndpoint(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else self.mqtt.username,
            password=unquote(parts.password) if parts.password else password,
            tls=tls,
        )

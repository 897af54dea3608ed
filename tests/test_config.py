"""Settings: placeholder passwords are refused in prod wherever they are given; the time
zone must be one the system knows."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from controlcenter.config import Settings

REAL = "9f2c41d7e0b85a3367c1d2e4f5a6b7c8"  # what make-passwords.sh writes: 32 hex characters


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("mqtt_url", "mqtt://controlcenter:changeme@broker:1883"),
        ("mqtt_url", "mqtts://controlcenter:ChangeMe@broker"),
        ("mqtt_url", "mqtt://controlcenter:%63hangeme@broker"),  # percent-encoded
        ("mqtt_url", "mqtt://controlcenter:@broker"),  # an empty password
        ("database_url", "postgresql://controlcenter:changeme@db:5432/cc"),
        ("database_url", "postgresql+asyncpg://cc:password@db/cc"),
        ("database_url", "postgresql://cc@db/cc?sslmode=require&password=secret"),
    ],
)
def test_a_placeholder_password_in_a_url_is_refused_in_prod(field: str, url: str) -> None:
    """Only CC_MQTT__PASSWORD=changeme was refused; the same password in a URL passed."""
    with pytest.raises(ValidationError, match="placeholder") as info:
        Settings(env="prod", **{field: url})
    assert url not in str(info.value)
    Settings(env="dev", **{field: url})  # development keeps its conveniences


def test_real_passwords_and_urls_without_one_are_accepted_in_prod() -> None:
    s = Settings(
        env="prod",
        database_url=f"postgresql://controlcenter:{REAL}@db:5432/cc",
        mqtt_url=f"mqtt://controlcenter:{REAL}@broker:1883",
        mqtt={"password": REAL},  # type: ignore[arg-type]
    )
    assert s.mqtt_endpoint().password == REAL
    Settings(env="prod", database_url="postgresql://cc@db/cc", mqtt_url="mqtt://broker:1883")


def test_a_refused_setting_never_prints_the_other_secrets(monkeypatch) -> None:
    """The error reaches stderr and the logs: it names the setting, never a value."""
    monkeypatch.setenv("CC_ENV", "prod")
    monkeypatch.setenv("CC_MQTT_URL", f"mqtt://controlcenter:{REAL}@broker:1883")
    monkeypatch.setenv("CC_DATABASE_URL", "postgresql://controlcenter:changeme@db/cc")
    with pytest.raises(ValidationError) as info:
        Settings()
    text = str(info.value)
    assert "CC_DATABASE_URL" in text
    assert REAL not in text
    assert "changeme" not in text


def test_the_time_zone_is_an_iana_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().time_zone == "Asia/Seoul"
    monkeypatch.setenv("CC_TIME_ZONE", "Europe/Berlin")
    assert Settings().time_zone == "Europe/Berlin"
    monkeypatch.setenv("CC_TIME_ZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="CC_TIME_ZONE: unknown time zone"):
        Settings()

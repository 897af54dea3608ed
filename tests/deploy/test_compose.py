"""compose.yaml, the Dockerfile and the Mosquitto config, checked without Docker.

What `docker compose config` would catch that PyYAML can: the services, profiles,
healthchecks and start-up order; and what it would not: that every CC_* variable the
service gets names a real setting (Settings ignores unknown ones) and validates.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from controlcenter.config import Settings
from tests.deploy._mosquitto import MOSQUITTO_DIR, ROOT, make_secrets

COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What make-passwords.sh writes (in a temp directory, with the simulator account)."""
    out = tmp_path_factory.mktemp("secrets") / "secrets"
    make_secrets(out, ["namdong-1/f0001", "namdong-2/f0101"], sim=True)
    return out


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    return env


def service_env(svc: dict[str, Any], secrets: Path) -> dict[str, str]:
    """The environment compose gives a service: its env files, then `environment`."""
    env: dict[str, str] = {}
    for name in svc.get("env_file", []):
        assert name.startswith("deploy/secrets/"), name
        env.update(read_env_file(secrets / Path(name).name))
    env.update({k: str(v) for k, v in svc.get("environment", {}).items()})
    return env


def setting_exists(name: str) -> bool:
    """Does CC_<NAME> (``__`` for nesting) name a field of Settings?"""
    model: type[BaseModel] = Settings
    parts = name.removeprefix("CC_").lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if i < len(parts) - 1:
            sub = field.annotation
            if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
                return False
            model = sub
    return True


def test_services_profiles_and_images(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert set(svc) == {"timescaledb", "mosquitto", "migrate", "controlcenter", "simulator"}
    assert svc["simulator"]["profiles"] == ["sim"]
    assert [name for name, s in svc.items() if "profiles" in s] == ["simulator"]
    assert re.fullmatch(
        r"timescale/timescaledb:(latest|2\.\d+\.\d+)-pg16", svc["timescaledb"]["image"]
    )
    assert svc["mosquitto"]["image"] == "eclipse-mosquitto:2"
    for name in ("migrate", "controlcenter"):
        assert svc[name]["build"] == "."
        assert svc[name]["image"] == svc["simulator"]["image"]
    assert svc["migrate"]["command"] == ["migrate"]
    assert svc["controlcenter"]["command"] == ["serve"]
    assert set(compose["volumes"]) == {"timescaledb-data", "mosquitto-data"}


def test_healthchecks_and_start_order(compose: dict[str, Any]) -> None:
    svc = services(compose)
    for name in ("timescaledb", "mosquitto", "controlcenter"):
        check = svc[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert {"interval", "timeout", "retries"} <= set(check), name
    for name in ("migrate", "simulator"):  # no API in these: the image's check cannot pass
        assert svc[name]["healthcheck"] == {"disable": True}
    assert "pg_isready" in svc["timescaledb"]["healthcheck"]["test"][1]
    assert "/health" in " ".join(svc["controlcenter"]["healthcheck"]["test"])
    assert svc["controlcenter"]["depends_on"] == {
        "timescaledb": {"condition": "service_healthy"},
        "mosquitto": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert svc["migrate"]["depends_on"] == {"timescaledb": {"condition": "service_healthy"}}
    assert svc["simulator"]["depends_on"]["mosquitto"] == {"condition": "service_healthy"}


def test_mosquitto_mounts_the_deploy_files(compose: dict[str, Any], secrets: Path) -> None:
    mounts = dict(v.split(":")[:2] for v in services(compose)["mosquitto"]["volumes"])
    assert mounts["./deploy/mosquitto/mosquitto.conf"] == "/mosquitto/config/mosquitto.conf"
    assert mounts["./deploy/mosquitto/acl"] == "/mosquitto/config/acl"
    assert mounts["./deploy/secrets/passwd"] == "/mosquitto/config/passwd"
    assert mounts["./deploy/secrets/passwd-service"] == "/mosquitto/config/passwd-service"
    for host in mounts:
        if host.startswith("./deploy/mosquitto/"):
            assert (ROOT / host).is_file(), host
        if host.startswith("./deploy/secrets/"):  # what make-passwords.sh writes
            assert (secrets / Path(host).name).is_file(), host
    conf = mosquitto_conf()
    # Per listener: gateways on 1883, the service on 1884, each with its password file.
    assert conf["password_file"] == [
        "/mosquitto/config/passwd",
        "/mosquitto/config/passwd-service",
    ]
    assert conf["acl_file"] == ["/mosquitto/config/acl"] * 2
    assert set(conf["password_file"] + conf["acl_file"]) <= set(mounts.values())


def test_every_env_file_is_written_by_make_passwords(
    compose: dict[str, Any], secrets: Path
) -> None:
    for name, svc in services(compose).items():
        for env_file in svc.get("env_file", []):
            assert (secrets / Path(env_file).name).is_file(), (name, env_file)
    assert (ROOT / "deploy" / "secrets" / ".gitignore").read_text().split() == ["*", "!.gitignore"]


@pytest.mark.parametrize("name", ["controlcenter", "migrate"])
def test_service_environment_is_real_settings(
    compose: dict[str, Any], secrets: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    env = service_env(services(compose)[name], secrets)
    unknown = [k for k in env if k.startswith("CC_") and not setting_exists(k)]
    assert unknown == []
    assert all(k.startswith("CC_") for k in env), env.keys()
    for key in list(os.environ):
        if key.startswith("CC_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.env == "prod"
    assert settings.db.timescale == "require"
    assert settings.dsn().startswith("postgresql://controlcenter:")
    assert settings.dsn().endswith("@timescaledb:5432/controlcenter")
    if name == "controlcenter":
        ep = settings.mqtt_endpoint()
        # The service's listener: the only one where its account can log in.
        assert (ep.host, ep.port, ep.username) == ("mosquitto", 1884, "controlcenter")
        assert ep.password == read_env_file(secrets / "controlcenter.env")["CC_MQTT__PASSWORD"]
        assert settings.api.host == "0.0.0.0"  # noqa: S104 - inside the container
        assert settings.api.port == 8000
        assert settings.db.migrate_on_start is False
        assert settings.mqtt.topic_root == "cc"  # the ACL file's root


def test_database_password_matches(secrets: Path) -> None:
    db = read_env_file(secrets / "timescaledb.env")["POSTGRES_PASSWORD"]
    url = read_env_file(secrets / "controlcenter.env")["CC_DATABASE_URL"]
    assert f"controlcenter:{db}@" in url
    assert re.fullmatch(r"[0-9a-f]{32}", db)


def test_placeholder_secret_is_refused_in_prod() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Settings(env="prod", mqtt={"password": "changeme"})  # type: ignore[arg-type]


def test_simulator_uses_its_account_and_the_service_root(compose: dict[str, Any]) -> None:
    sim = services(compose)["simulator"]
    assert sim["entrypoint"] == ["sh", "-c"]
    argv = shlex.split(sim["command"][0].replace("$$", "$"))
    assert argv[:3] == ["exec", "controlcenter-sim", "run"]
    url = argv[argv.index("--url") + 1]
    assert url == "mqtt://simulator:${SIM_MQTT_PASSWORD}@mosquitto:1883"
    # One connection: on the gateways' listener a second one would push the first off.
    assert argv[argv.index("--links") + 1] == "1"
    root = argv[argv.index("--topic-root") + 1]
    assert root == services(compose)["controlcenter"]["environment"]["CC_MQTT__TOPIC_ROOT"]
    from simulators.cli import main  # the arguments parse

    with pytest.raises(SystemExit) as exit_:
        main([*argv[2:], "--help"])
    assert exit_.value.code == 0


def mosquitto_conf() -> dict[str, list[str]]:
    conf: dict[str, list[str]] = {}
    for line in (MOSQUITTO_DIR / "mosquitto.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf.setdefault(key, []).append(value)
    return conf


def test_mosquitto_production_settings(compose: dict[str, Any]) -> None:
    conf = mosquitto_conf()
    assert conf["allow_anonymous"] == ["false", "false"]  # on each listener
    assert conf["persistence"] == ["true"]
    assert conf["max_queued_messages"] == ["0"]  # the default 1000 drops messages
    memory_limit = int(conf["memory_limit"][0])
    assert memory_limit >= 512 * 2**20
    mem = services(compose)["mosquitto"]["mem_limit"]
    assert mem.endswith("g")
    assert int(mem[:-1]) * 2**30 > memory_limit
    assert conf["listener"] == ["1883", "1884"]
    published = services(compose)["mosquitto"]["ports"]
    assert published == ["1883:1883"]  # the service's listener stays inside the stack


def listener_settings() -> dict[str, list[str]]:
    """The lines under each ``listener`` of mosquitto.conf, up to the next section."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (MOSQUITTO_DIR / "mosquitto.conf").read_text().splitlines():
        if line.startswith("listener "):
            current = sections.setdefault(line.split()[1], [])
        elif line.startswith("# ---"):
            current = None
        elif current is not None and line and not line.startswith("#"):
            current.append(line)
    return sections


def test_each_listener_binds_client_ids_its_own_way() -> None:
    assert mosquitto_conf()["per_listener_settings"] == ["true"]
    sections = listener_settings()
    assert "use_username_as_clientid true" in sections["1883"]  # gateways: id = account
    assert "password_file /mosquitto/config/passwd" in sections["1883"]
    assert "use_username_as_clientid true" not in sections["1884"]  # the service's ids
    assert "password_file /mosquitto/config/passwd-service" in sections["1884"]
    for listener in ("1883", "1884"):
        assert "allow_anonymous false" in sections[listener], listener
        assert "acl_file /mosquitto/config/acl" in sections[listener], listener


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    steps = dockerfile()
    stages = [args for word, args in steps if word == "FROM"]
    assert [s.split(" AS ")[-1] for s in stages] == ["build", "runtime"]
    runtime = steps[[i for i, (w, _) in enumerate(steps) if w == "FROM"][-1] :]
    words = dict(runtime)
    assert "pip wheel" in dict(steps[: len(steps) - len(runtime)])["RUN"]
    assert "--no-index --find-links /wheels controlcenter" in words["RUN"]
    assert words["USER"].split(":")[0] not in ("root", "0")
    assert json.loads(words["ENTRYPOINT"]) == ["controlcenter"]
    assert json.loads(words["CMD"]) == ["serve"]
    check = words["HEALTHCHECK"]
    assert "/health" in check
    assert json.loads(check[check.index("CMD") + 3 :])[0] == "python"
    assert "COPY" not in words  # the runtime stage gets no sources


def test_dockerignore_admits_what_the_build_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = {
        args.split()[0].rstrip("/")
        for word, args in dockerfile()
        if word == "COPY" and not args.startswith("--from")
    }
    copied |= {
        part.rstrip("/")
        for word, args in dockerfile()
        if word == "COPY"
        for part in args.split()[:-1]
    }
    assert copied <= allowed
    for path in allowed:
        assert (ROOT / path).exists(), path

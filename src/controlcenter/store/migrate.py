"""Run the Alembic migrations in ``migrations/`` (shipped in the wheel as _migrations)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from controlcenter.config import Settings
from controlcenter.errors import ConfigError

__all__ = ["alembic_config", "migrate"]

logger = logging.getLogger(__name__)


def _script_location() -> Path:
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_migrations", here.parent.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise ConfigError("cannot find the migrations directory")


def alembic_config(settings: Settings) -> Config:
    """An Alembic Config for ``settings``' database (usable with ``alembic.command``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_script_location()))
    # '%' must be doubled for ConfigParser interpolation.
    cfg.set_main_option("sqlalchemy.url", settings.dsn().replace("%", "%%"))
    cfg.attributes["timescale"] = settings.db.timescale
    cfg.attributes["partition_interval_days"] = settings.db.partition_interval_days
    cfg.attributes["retention_days"] = settings.db.retention_days
    return cfg


async def migrate(settings: Settings, revision: str = "heads") -> None:
    """Upgrade the database to ``revision`` (idempotent; serialised by an advisory lock)."""
    cfg = alembic_config(settings)
    # Alembic is synchronous and runs its own event loop in env.py: give it a thread.
    await asyncio.to_thread(command.upgrade, cfg, revision)
    logger.info("database migrated to %s", revision)

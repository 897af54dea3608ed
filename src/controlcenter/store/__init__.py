"""Storage: asyncpg pool, catalog, idempotent writer, migrations and plain-PostgreSQL upkeep."""

from controlcenter.store.binary import fetch_columns
from controlcenter.store.catalog import REFUSED, Catalog
from controlcenter.store.columns import CatalogColumns
from controlcenter.store.kinds import KindBook
from controlcenter.store.maintenance import Maintenance, StorageMode, read_storage_mode
from controlcenter.store.migrate import alembic_config, migrate
from controlcenter.store.pool import (
    TRANSIENT_ERRORS,
    map_storage_errors,
    open_pool,
    retry_transient,
)
from controlcenter.store.writer import ReadingWriter, WriteResult, encode_copy_binary

__all__ = [
    "REFUSED",
    "TRANSIENT_ERRORS",
    "Catalog",
    "CatalogColumns",
    "KindBook",
    "Maintenance",
    "ReadingWriter",
    "StorageMode",
    "WriteResult",
    "alembic_config",
    "encode_copy_binary",
    "fetch_columns",
    "map_storage_errors",
    "migrate",
    "open_pool",
    "read_storage_mode",
    "retry_transient",
]

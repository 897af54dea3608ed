"""controlcenter: the integrated control center of a smart industrial complex.

Factories' MQTT gateways push readings; the service stores them in TimescaleDB (or plain
PostgreSQL), scores every reading with a vectorised anomaly engine, raises alerts and serves
operators' dashboards. See DESIGN.md for the map of the parts.
"""

from controlcenter.config import Settings
from controlcenter.domain import Batch
from controlcenter.errors import ControlCenterError

__version__ = "0.1.0"
__all__ = ["Batch", "ControlCenterError", "Settings", "__version__"]

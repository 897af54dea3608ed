"""The one exception tree of controlcenter.

    ControlCenterError
    ├── ConfigError            settings that cannot work (permanent: fail fast)
    ├── IngestError
    │   ├── PayloadError       a message that cannot be decoded or validated (dead-lettered)
    │   └── BrokerError        the MQTT broker is unreachable or refused us
    ├── StorageError           the database failed or is unreachable
    ├── AlertDeliveryError     a notifier could not deliver
    └── ReportError            a report that cannot be made (unknown site or factory)

Third-party exceptions are mapped to these at the boundary, with ``raise X from exc``.
"""

from __future__ import annotations

__all__ = [
    "AlertDeliveryError",
    "BrokerError",
    "ConfigError",
    "ControlCenterError",
    "IngestError",
    "PayloadError",
    "ReportError",
    "StorageError",
]


class ControlCenterError(Exception):
    """Root of every error controlcenter raises on purpose."""


class ConfigError(ControlCenterError):
    """Settings that cannot work; never retried."""


class IngestError(ControlCenterError):
    """Something went wrong between the broker and a decoded batch."""


class PayloadError(IngestError):
    """A message that cannot be decoded or validated.

    Attributes:
        reason: a short, stable reason code (used as a bounded metric label).
        detail: a human-readable explanation stored with the dead letter.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class BrokerError(IngestError):
    """The MQTT broker is unreachable, or refused the connection."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class StorageError(ControlCenterError):
    """The database failed or is unreachable."""


class AlertDeliveryError(ControlCenterError):
    """A notifier could not deliver an alert."""


class ReportError(ControlCenterError):
    """A report that cannot be made as asked (an unknown site or factory)."""

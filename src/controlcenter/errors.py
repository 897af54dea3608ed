"""The one exception tree of controlcenter.

    ControlCenterError
    ├── ConfigError            settings that cannot work (permanent: fail fast)
    ├── IngestError
    │   ├── PayloadError       a message that cannot be decoded or validated (dead-lettered)
    │   └── BrokerError        the MQTT broker is unreachable or refused us
    ├── StorageError           the database failed or is unreachable
    ├── AlertDeliveryError     a notifier could not deliver
    ├── ConflictError          a request the current state does not allow (HTTP 409)
    │   ├── AlertStateError    a transition the alert's state does not allow
    │   └── RuleConflictError  a rule name that is already taken
    ├── KindError              a sensor-kind entry that is malformed or contradicts itself
    ├── MailError              the mail server refused or could not be reached
    └── ReportError            a report that cannot be made (unknown site or factory)

Third-party exceptions are mapped to these at the boundary, with ``raise X from exc``.
The API maps the tree to HTTP answers in one table (``controlcenter.api.handlers``).
"""

from __future__ import annotations

__all__ = [
    "AlertDeliveryError",
    "AlertStateError",
    "BrokerError",
    "ConfigError",
    "ConflictError",
    "ControlCenterError",
    "IngestError",
    "KindError",
    "MailError",
    "PayloadError",
    "ReportError",
    "RuleConflictError",
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


class ConflictError(ControlCenterError, ValueError):
    """A request that the current state does not allow (the API answers 409)."""


class AlertStateError(ConflictError):
    """A transition that the alert's state does not allow (e.g. acknowledging a resolved one)."""


class RuleConflictError(ConflictError):
    """A rule name that is already taken."""


class MailError(ControlCenterError):
    """An e-mail could not be sent (``controlcenter.smtp``).

    Attributes:
        permanent: True when retrying cannot help (authentication refused, recipient
            refused, a bad message); False for timeouts and unreachable servers.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class ReportError(ControlCenterError):
    """A report that cannot be made as asked (an unknown site or factory)."""


class KindError(ControlCenterError, ValueError):
    """A registry entry that is malformed or contradicts itself or the stored registry."""

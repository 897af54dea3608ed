"""Alert storage: the rule and alert tables (:class:`AlertRepository`) and the alert
lifecycle over them (:class:`AlertBook`: open, acknowledge, assign, resolve, escalate)."""

from controlcenter.alerts.storage.lifecycle import AlertBook
from controlcenter.alerts.storage.repository import AlertFilter, AlertRepository

__all__ = ["AlertBook", "AlertFilter", "AlertRepository"]

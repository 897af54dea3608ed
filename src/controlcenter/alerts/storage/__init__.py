"""Alert storage: the rule and alert tables (:class:`AlertRepository`), the alert lifecycle
over them (:class:`AlertBook`: open, acknowledge, assign, resolve, escalate) and the
transitions a shutdown left to apply (:class:`AlertBacklog`)."""

from controlcenter.alerts.storage.backlog import AlertBacklog
from controlcenter.alerts.storage.lifecycle import AlertBook
from controlcenter.alerts.storage.repository import AlertFilter, AlertRepository

__all__ = ["AlertBacklog", "AlertBook", "AlertFilter", "AlertRepository"]

"""Alerts: rules over scored batches, hysteresis, lifecycle, escalation and delivery.

Three parts under one composer (:class:`AlertService`: ``scoring.add_listener(
alerts.on_scored)`` and ``alerts.run(stop)``):

- ``rules/``: pure rule evaluation, no I/O (:class:`Rule`, :class:`Evaluator`);
- ``storage/``: the rule and alert tables (:class:`AlertRepository`, :class:`AlertFilter`)
  and the lifecycle over them;
- ``delivery/``: :class:`Notification`, storm control, MQTT and webhooks.

Public names are the ones other packages use; the parts' own names are in their packages.
"""

from controlcenter.alerts.delivery import Notification
from controlcenter.alerts.rules import Evaluator, Rule
from controlcenter.alerts.service import AlertService
from controlcenter.alerts.storage import AlertFilter, AlertRepository
from controlcenter.errors import AlertStateError, RuleConflictError

__all__ = [
    "AlertFilter",
    "AlertRepository",
    "AlertService",
    "AlertStateError",
    "Evaluator",
    "Notification",
    "Rule",
    "RuleConflictError",
]

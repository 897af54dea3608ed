"""Alerts: rules over scored batches, hysteresis, lifecycle, escalation and delivery.

Public names: :class:`AlertService` (compose it in the service: ``scoring.add_listener(
alerts.on_scored)`` and ``alerts.run(stop)``), :class:`Rule` and its parts (validated rule
definitions), :class:`Evaluator` (the vectorised rule engine), :class:`AlertBook` (the
lifecycle), :class:`AlertRepository` (the tables),
:class:`Notification` (what goes out), :class:`Grouper` (storm control), :class:`AlertPublisher`
(MQTT) and :class:`WebhookNotifier` (webhooks).
"""

from controlcenter.alerts.changes import Changes, Subject
from controlcenter.alerts.evaluate import Evaluator
from controlcenter.alerts.lifecycle import AlertBook, AlertStateError
from controlcenter.alerts.notify import Grouper, Notification
from controlcenter.alerts.publisher import AlertPublisher, alert_topic
from controlcenter.alerts.repository import AlertFilter, AlertRepository, RuleConflictError
from controlcenter.alerts.rule import Condition, Rule, Scope, Severity, Step
from controlcenter.alerts.service import AlertService
from controlcenter.alerts.webhook import WebhookNotifier

__all__ = [
    "AlertBook",
    "AlertFilter",
    "AlertPublisher",
    "AlertRepository",
    "AlertService",
    "AlertStateError",
    "Changes",
    "Condition",
    "Evaluator",
    "Grouper",
    "Notification",
    "Rule",
    "RuleConflictError",
    "Scope",
    "Severity",
    "Step",
    "Subject",
    "WebhookNotifier",
    "alert_topic",
]

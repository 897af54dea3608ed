"""Alert delivery: what goes out (:class:`Notification`), storm control (:class:`Grouper`),
MQTT (:class:`AlertPublisher`) and webhooks (:class:`WebhookNotifier`)."""

from controlcenter.alerts.delivery.notify import Grouper, Notification
from controlcenter.alerts.delivery.publisher import AlertPublisher, alert_topic
from controlcenter.alerts.delivery.webhook import WebhookNotifier

__all__ = ["AlertPublisher", "Grouper", "Notification", "WebhookNotifier", "alert_topic"]

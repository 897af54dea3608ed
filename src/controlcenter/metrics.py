"""Prometheus metrics, named ``controlcenter_<subsystem>_<name>_<unit>``.

Labels are bounded: reasons and results are fixed code lists, never topics or client ids.
Each subsystem's metrics live here so that one page lists everything the service exports.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ALERTS_ACTIVE",
    "ALERTS_DEAD_LETTERS",
    "ALERTS_DELIVERIES",
    "ALERTS_DROPPED",
    "ALERTS_EVAL_SECONDS",
    "ALERTS_GROUPED",
    "ALERTS_TRANSITIONS",
    "API_HTTP_SECONDS",
    "API_LIVE_CLIENTS",
    "API_LIVE_DROPS",
    "API_LIVE_FRAMES",
    "ENGINE_BATCH_SECONDS",
    "ENGINE_EVENTS",
    "ENGINE_READINGS",
    "ENGINE_SERIES",
    "ENGINE_WARM_STARTS",
    "INGEST_BATCH_READINGS",
    "INGEST_DEAD_LETTERS",
    "INGEST_MESSAGES",
    "INGEST_MQTT_CONNECTED",
    "INGEST_MQTT_PAUSES",
    "INGEST_MQTT_QUEUE",
    "INGEST_MQTT_UNACKED",
    "INGEST_QUEUE_DEPTH",
    "INGEST_READINGS",
    "INGEST_RECONNECTS",
    "INGEST_RELAY_DROPPED",
    "INGEST_WRITE_RETRIES",
    "INGEST_WRITE_SECONDS",
    "PAGING_DELIVERIES",
    "PAGING_DROPPED",
    "PAGING_PAGES",
    "PAGING_QUEUE",
    "PAGING_SEND_SECONDS",
    "PROCESS_GC_FULL_SECONDS",
    "REPORTS_MAIL",
]

INGEST_MESSAGES = Counter(
    "controlcenter_ingest_messages_total",
    "MQTT messages received, by result (ok, partial, rejected, status, ignored)",
    ["result"],
)
INGEST_READINGS = Counter(
    "controlcenter_ingest_readings_total", "Readings committed to the database"
)
INGEST_DEAD_LETTERS = Counter(
    "controlcenter_ingest_dead_letters_total", "Dead letters recorded, by reason", ["reason"]
)
INGEST_BATCH_READINGS = Histogram(
    "controlcenter_ingest_batch_readings",
    "Readings per written batch",
    buckets=(1, 10, 100, 1_000, 5_000, 10_000, 50_000, 100_000),
)
INGEST_WRITE_SECONDS = Histogram(
    "controlcenter_ingest_write_seconds",
    "Time to commit one batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
INGEST_WRITE_RETRIES = Counter(
    "controlcenter_ingest_write_retries_total", "Batch writes retried after a database error"
)
INGEST_QUEUE_DEPTH = Gauge(
    "controlcenter_ingest_queue_batches", "Decoded batches waiting for the writer"
)
INGEST_MQTT_QUEUE = Gauge(
    "controlcenter_ingest_mqtt_queue_messages", "Messages waiting in the MQTT client's queue"
)
INGEST_MQTT_UNACKED = Gauge(
    "controlcenter_ingest_mqtt_unacked_messages",
    "QoS 1 messages received and not yet acknowledged (bounded by max_unacked_messages)",
)
INGEST_MQTT_CONNECTED = Gauge(
    "controlcenter_ingest_mqtt_connected", "1 while connected to the broker"
)
INGEST_MQTT_PAUSES = Counter(
    "controlcenter_ingest_mqtt_read_pauses_total",
    "Times intake paused reading the broker because too many messages were unacknowledged",
)
INGEST_RECONNECTS = Counter(
    "controlcenter_ingest_mqtt_reconnects_total", "Broker connections lost and retried"
)
INGEST_RELAY_DROPPED = Counter(
    "controlcenter_ingest_relay_dropped_batches_total",
    "Committed batches the live relay dropped (the broker was away or slow; live views only)",
)

ENGINE_READINGS = Counter("controlcenter_engine_readings_total", "Readings scored")
ENGINE_EVENTS = Counter(
    "controlcenter_engine_events_total", "Anomaly events, by detector", ["detector"]
)
ENGINE_BATCH_SECONDS = Histogram(
    "controlcenter_engine_batch_seconds",
    "Time to score one batch",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
ENGINE_SERIES = Gauge("controlcenter_engine_series", "Series with a window in the engine")
ENGINE_WARM_STARTS = Counter(
    "controlcenter_engine_warm_start_series_total",
    "Series whose window was loaded from the database",
)

API_HTTP_SECONDS = Histogram(
    "controlcenter_api_http_request_seconds",
    "HTTP request latency, by method, route template and status class (2xx, 4xx, ...)",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
API_LIVE_CLIENTS = Gauge(
    "controlcenter_api_live_clients",
    "Connected websocket clients, by feed (live, alerts)",
    ["feed"],
)
API_LIVE_FRAMES = Counter(
    "controlcenter_api_live_frames_total",
    "Live frames queued to clients, by kind (shared: one encoding per subscription; catch_up)",
    ["kind"],
)
API_LIVE_DROPS = Counter(
    "controlcenter_api_live_drops_total",
    "Slow websocket clients: coalesced (fell behind) and closed (too_slow, alerts_too_slow)",
    ["reason"],
)

ALERTS_TRANSITIONS = Counter(
    "controlcenter_alerts_transitions_total",
    "Alert transitions, by transition (opened, acknowledged, assigned, note, escalated,"
    " severity, resolved)",
    ["transition"],
)
ALERTS_ACTIVE = Gauge("controlcenter_alerts_active", "Alerts open or acknowledged")
ALERTS_EVAL_SECONDS = Histogram(
    "controlcenter_alerts_eval_seconds",
    "Rule evaluation time per scored batch",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
)
ALERTS_DELIVERIES = Counter(
    "controlcenter_alerts_deliveries_total",
    "Notification deliveries, by channel (mqtt, webhook) and result (ok, retry, failed)",
    ["channel", "result"],
)
ALERTS_DROPPED = Counter(
    "controlcenter_alerts_dropped_total",
    "Notifications dropped from a full queue (oldest first), by channel",
    ["channel"],
)
ALERTS_DEAD_LETTERS = Counter(
    "controlcenter_alerts_dead_letters_total",
    "Notifications recorded as dead letters, by channel",
    ["channel"],
)
ALERTS_GROUPED = Counter(
    "controlcenter_alerts_grouped_total", "Alert notifications folded into grouped notifications"
)

PAGING_PAGES = Counter(
    "controlcenter_paging_pages_total",
    "Pages dispatched to people, by reason (opened, escalated, repeat, held) and result"
    " (queued, held)",
    ["reason", "result"],
)
PAGING_DELIVERIES = Counter(
    "controlcenter_paging_deliveries_total",
    "Page delivery attempts, by channel and outcome (sent, retry, failed)",
    ["channel", "outcome"],
)
PAGING_SEND_SECONDS = Histogram(
    "controlcenter_paging_send_seconds",
    "Time of one delivery attempt, by channel",
    ["channel"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REPORTS_MAIL = Counter(
    "controlcenter_reports_mail_total",
    "Attempts to mail a scheduled report, by outcome (sent, retry, failed)",
    ["outcome"],
)
PAGING_QUEUE = Gauge("controlcenter_paging_queue_sends", "Sends waiting for a sender")
PAGING_DROPPED = Counter(
    "controlcenter_paging_dropped_total",
    "Alert transitions the pager dropped from its full intake queue (oldest first)",
)

PROCESS_GC_FULL_SECONDS = Histogram(
    "controlcenter_process_gc_full_seconds",
    "Pause of each scheduled full garbage collection (the event loop waits)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)

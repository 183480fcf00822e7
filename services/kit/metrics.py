"""Prometheus metrics every service exposes on METRICS_PORT (names `mentorship_*`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_HANDLED = Counter(
    "mentorship_messages_handled_total",
    "Messages a consumer handled, by routing key and outcome (handled or duplicate).",
    ["service", "routing_key", "outcome"],
)
MESSAGES_FAILED = Counter(
    "mentorship_messages_failed_total",
    "Handler failures (retried, or dead-lettered), by routing key.",
    ["service", "routing_key"],
)
MESSAGES_DEAD_LETTERED = Counter(
    "mentorship_messages_dead_lettered_total",
    "Messages put in a dead-letter queue, by routing key.",
    ["service", "routing_key"],
)
HANDLER_SECONDS = Histogram(
    "mentorship_handler_seconds",
    "Time to apply one batch of messages (often one message), transaction included.",
    ["service", "routing_key"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram(
    "mentorship_batch_messages",
    "Messages per applied batch, by routing key.",
    ["service", "routing_key"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 200, 500),
)
OUTBOX_BACKLOG = Gauge("mentorship_outbox_backlog", "Outbox rows not published yet.", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "mentorship_outbox_oldest_unsent_age_seconds",
    "Age of the oldest unpublished outbox row (0 when none).",
    ["service"],
)
OUTBOX_PUBLISHED = Counter(
    "mentorship_outbox_published_total", "Outbox rows published and confirmed.", ["service"]
)
EMAILS = Counter(
    "mentorship_emails_total", "Emails by outcome (sent, retried, failed).", ["outcome"]
)
SWEEP_SECONDS = Histogram(
    "mentorship_sweep_seconds",
    "Time to sweep one tick's due bookings.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
BOOKINGS_SWEPT = Counter("mentorship_bookings_swept_total", "Bookings the sweep marked unattended.")

REMINDERS_DUE = Counter(
    "mentorship_reminders_due_total", "Reminders the sweep found due (booking.reminder_due)."
)

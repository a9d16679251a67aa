"""Prometheus counters, incremented where things happen (ingestion, engine, webhook attempts).

Kept apart from `observability` (the /metrics, /healthz and /readyz views and the backlog
gauges, which read every app's tables) so that any app may import them without importing
the apps downstream of it.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Histogram

POINTS_INGESTED = Counter("fleetmon_points_ingested", "Telemetry points accepted by the API")
MONITOR_EVALUATIONS = Counter("fleetmon_monitor_evaluations", "Monitor evaluations (one monitor, one vehicle, one instant)")
EVALUATION_ERRORS = Counter(
    "fleetmon_evaluation_errors", "Monitor evaluations that raised an error (that monitor was skipped, the others went on)"
)
EVALUATIONS_NOT_QUEUED = Counter(
    "fleetmon_evaluations_not_queued",
    "Evaluation messages not sent: refused by the broker, failed otherwise, or skipped while the process"
    " paused publishing after a refusal or a publish stuck on the broker. source=telemetry: a POST's,"
    " whose points the sweeper evaluates after FLEETMON_POINT_RESCUE_AFTER; source=sweep: a sweep's or a"
    " dead-letter replay's, whose claim or outbox row finds the work again",
    ["source"],
)
DEAD_LETTERS = Counter(
    "fleetmon_dead_letters",
    "Evaluations given up after FLEETMON_EVALUATION_MAX_ATTEMPTS (held for replay from the admin)",
    ["kind"],
)
EVENTS_RAISED = Counter("fleetmon_events", "Events raised", ["monitor_type", "refresh"])
WEBHOOK_ATTEMPTS = Counter("fleetmon_webhook_attempts", "Webhook attempts", ["outcome"])
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "fleetmon_webhook_attempt_seconds",
    "Duration of webhook attempts",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20),
)
EVALUATION_TASK_VEHICLES = Histogram(
    "fleetmon_evaluation_task_vehicles",
    "Vehicles given to an evaluation of stored points (telemetry, the sweeper's rescues, dead-letter retries):"
    " those its message names and those whose POSTs joined its chunk (a message's arguments name only the first)",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
DELIVERIES_FINISHED = Counter("fleetmon_deliveries", "Deliveries finished", ["outcome"])
WEBHOOK_ENDPOINTS_DISABLED = Counter(
    "fleetmon_webhook_endpoints_disabled",
    "Monitor webhooks disabled after failing for FLEETMON_ENDPOINT_DISABLE_AFTER without a success",
)

ALL_COUNTERS = (
    POINTS_INGESTED,
    MONITOR_EVALUATIONS,
    EVALUATION_ERRORS,
    DEAD_LETTERS,
    EVENTS_RAISED,
    EVALUATION_TASK_VEHICLES,
    WEBHOOK_ATTEMPTS,
    WEBHOOK_ATTEMPT_SECONDS,
    DELIVERIES_FINISHED,
    WEBHOOK_ENDPOINTS_DISABLED,
)


def monitor_type(trigger_kinds: Iterable[str]) -> str:
    """`zone`, `time`, `data`, or a `+`-joined combination such as `data+zone`."""
    return "+".join(sorted(set(trigger_kinds))) or "none"

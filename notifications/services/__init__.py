"""Webhook deliveries, by concern; what the rest of the project calls is imported here.

- `outbox`: events in, batching, sealed and queued deliveries out, the sweeper;
- `attempts`: one try at sending a delivery (lease, request, outcome, retry or give-up);
- `health`: the failure streak of a monitor's webhook, which disables it;
- `operator_actions`: replays and test sends;
- `webhook_secrets`: the fleet's signing secrets and their rotation.

The state machine itself is `notifications.models.Delivery`'s transitions. These modules
never queue Celery tasks: they send `notifications.signals`, and `notifications.tasks` sends
the messages.
"""

from __future__ import annotations

from notifications.services.attempts import AttemptOutcome, delivery_attempt
from notifications.services.operator_actions import delivery_replay, delivery_send_test
from notifications.services.outbox import (
    SweepResult,
    deliveries_create_for_events,
    delivery_batch_flush,
    delivery_sweep,
)
from notifications.services.webhook_secrets import webhook_secret_get_or_create, webhook_secret_rotate

__all__ = [
    "AttemptOutcome",
    "SweepResult",
    "deliveries_create_for_events",
    "delivery_attempt",
    "delivery_batch_flush",
    "delivery_replay",
    "delivery_send_test",
    "delivery_sweep",
    "webhook_secret_get_or_create",
    "webhook_secret_rotate",
]

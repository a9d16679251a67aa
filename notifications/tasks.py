"""Thin Celery tasks: delivery ids in, service calls; the Delivery row decides everything.

`deliver_*` and `flush_*` run on the `webhooks` queue, `sweep_*` on `sweeps`
(CELERY_TASK_ROUTES). acks_late + reject_on_worker_lost: a worker that dies mid-request
leaves the message to be redelivered, and the sweeper covers a broker that loses it.

The services announce what to send (`notifications.signals`, wired in apps.py); the
`enqueue_*` helpers here send it once the transaction commits.
"""

from __future__ import annotations

import time
import uuid

from celery import shared_task
from django.db import transaction

from notifications import services
from notifications.services.common import celery_countdown_ok


def enqueue_deliveries(*, delivery_ids: list[int], task_id: str) -> None:
    # robust: the outbox rows are already committed, so a broker outage must not fail the
    # caller (the engine's evaluation); the sweeper re-enqueues them a lease period later.
    if len(delivery_ids) == 1:
        transaction.on_commit(lambda: deliver_webhook.apply_async(tuple(delivery_ids), task_id=task_id), robust=True)
    else:
        transaction.on_commit(lambda: deliver_webhooks.apply_async((delivery_ids,), task_id=task_id), robust=True)


def enqueue_flush(*, delivery_id: int, countdown: int) -> None:
    # The sweeper seals due batches too, but only on its next run (FLEETMON_SWEEP_INTERVAL);
    # the countdown sends the batch when its window closes.
    if celery_countdown_ok(countdown):
        transaction.on_commit(lambda: flush_batch.apply_async((delivery_id,), countdown=countdown), robust=True)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, ignore_result=True)
def deliver_webhook(self, delivery_id: int) -> None:
    # max_retries=None: the monitor's retryPolicy, applied by the service, is the only limit.
    outcome = services.delivery_attempt(delivery_id=delivery_id, task_id=self.request.id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)


# How long a group's requests may take before its remaining deliveries get messages of their
# own: a slow endpoint holds up the rest of its group by at most about this plus one request.
GROUP_BUDGET_SECONDS = 2.0


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_webhooks(self, delivery_ids: list[int]) -> None:
    """A group queued under one task id (outbox.origin_groups): one attempt each, in turn. A
    failed attempt, an error or the spent budget hands the rest to one message each, so that
    they go on in parallel. A countdown retry is a message of its own too, under the group's
    task id, which holds that delivery. Workers of an earlier release do not know this task:
    they drop its message, and the sweeper queues its deliveries again a lease period later."""
    task_id = self.request.id
    started = time.monotonic()
    for position, delivery_id in enumerate(delivery_ids):
        try:
            outcome = _attempt(delivery_id, task_id=task_id)
        except Exception:
            # Not this delivery: it may be leased to this task id, and is left to the sweeper.
            _hand_off(delivery_ids[position + 1 :])
            raise
        failed = outcome.attempt is not None and not outcome.attempt.ok
        if failed or time.monotonic() - started > GROUP_BUDGET_SECONDS:
            _hand_off(delivery_ids[position + 1 :])
            return


def _attempt(delivery_id: int, *, task_id: str) -> services.AttemptOutcome:
    """An attempt by a task other than the delivery's own deliver_webhook: a retry by countdown
    is a message of its own, under the same task id."""
    outcome = services.delivery_attempt(delivery_id=delivery_id, task_id=task_id)
    if outcome.retry_in is not None:
        deliver_webhook.apply_async((delivery_id,), task_id=task_id, countdown=outcome.retry_in)
    return outcome


def _hand_off(delivery_ids: list[int]) -> None:
    # Fresh task ids: nobody holds these rows, so any task may take them, and the group's
    # message, still unacknowledged, must not share an id with tasks sending its deliveries.
    for delivery_id in delivery_ids:
        deliver_webhook.apply_async((delivery_id,), task_id=uuid.uuid4().hex)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def flush_batch(self, delivery_id: int) -> None:
    # The task that seals a batch when its window closes sends it too: a message fewer per
    # batch, and no queue between the window and the request.
    if services.delivery_batch_flush(delivery_id=delivery_id, task_id=self.request.id):
        _attempt(delivery_id, task_id=self.request.id)


@shared_task(acks_late=True, ignore_result=True)
def sweep_due_deliveries() -> None:
    services.delivery_sweep()

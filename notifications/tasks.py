"""Thin Celery tasks: a delivery id in, a service call; the Delivery row decides everything.

`deliver_*` and `flush_*` run on the `webhooks` queue, `sweep_*` on `sweeps`
(CELERY_TASK_ROUTES). acks_late + reject_on_worker_lost: a worker that dies mid-request
leaves the message to be redelivered, and the sweeper covers a broker that loses it.

The services announce what to send (`notifications.signals`, wired in apps.py); the
`enqueue_*` helpers here send it once the transaction commits.
"""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from notifications import services
from notifications.services.common import celery_countdown_ok


def enqueue_delivery(*, delivery_id: int, task_id: str) -> None:
    # robust: the outbox row is already committed, so a broker outage must not fail the
    # caller (the engine's evaluation); the sweeper re-enqueues it a lease period later.
    transaction.on_commit(lambda: deliver_webhook.apply_async((delivery_id,), task_id=task_id), robust=True)


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


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def flush_batch(delivery_id: int) -> None:
    services.delivery_batch_flush(delivery_id=delivery_id)


@shared_task(acks_late=True, ignore_result=True)
def sweep_due_deliveries() -> None:
    services.delivery_sweep()

"""Thin Celery tasks: a delivery id in, a service call; the Delivery row decides everything.

`deliver_*` and `flush_*` run on the `webhooks` queue, `sweep_*` on `sweeps`
(CELERY_TASK_ROUTES). acks_late + reject_on_worker_lost: a worker that dies mid-request
leaves the message to be redelivered, and the sweeper covers a broker that loses it.
"""

from __future__ import annotations

from celery import shared_task

from notifications import services


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

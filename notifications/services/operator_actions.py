"""What an operator asks for, from the API or the admin: a replay, a test send."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from fleetmon_project.errors import conflict
from monitors.models import Monitor
from notifications import payloads, selectors
from notifications.models import Delivery, DeliveryAttempt, IllegalTransition
from notifications.services import common, health
from notifications.services.attempts import delivery_attempt
from notifications.services.outbox import announce_queued, delivery_freeze, delivery_new


@transaction.atomic
def delivery_replay(*, delivery: Delivery, now: datetime | None = None) -> Delivery:
    """Send a delivered or failed delivery again: same webhook-id and body, so a receiver that
    already has it can tell; the retry policy starts over, and a disabled endpoint is enabled."""
    now = common.clock(now)
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    try:
        delivery.reopen_for_replay(now=now)
    except IllegalTransition:
        raise conflict(f"only a delivered or failed delivery can be replayed; this one is {delivery.state}") from None
    if now >= delivery.expires_at:
        raise conflict("this delivery is past the retention period and can no longer be sent")
    if not delivery.is_test:
        health.webhook_health_reenable(monitor=delivery.monitor, now=now)
    delivery.queue(now=now)
    delivery.save()
    announce_queued([delivery])
    return delivery


def delivery_send_test(*, monitor: Monitor, now: datetime | None = None) -> DeliveryAttempt:
    """Send a sample event to the monitor's webhook right now, exactly as a real delivery
    would go (transport, signature, SSRF guard), and return the attempt. Kept as a test
    delivery: it shows in the log but never changes the monitor's status."""
    vehicle = selectors.sample_vehicle_get(fleet=monitor.fleet)
    vin = vehicle.vin if vehicle else payloads.SAMPLE_VIN
    created = common.clock(now)
    with transaction.atomic():
        delivery = delivery_new(monitor=monitor, raised_at=created, is_test=True)
        delivery_freeze(
            delivery,
            vin=vin,
            vehicle_public_id=vehicle.pk if vehicle else payloads.SAMPLE_VEHICLE_ID,
            events=[payloads.sample_event(monitor=monitor, vin=vin, at=created)],
            now=created,
        )
        delivery.save()
    # Sent right here, not queued: its own task id is the lease holder's.
    outcome = delivery_attempt(delivery_id=delivery.pk, task_id=delivery.task_id, now=now)
    assert outcome.attempt is not None  # new and due, and nobody else knows of it: it was sent
    return outcome.attempt

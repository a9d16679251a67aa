"""Webhook deliveries: the outbox, its attempts, batching, retries, replays and signing secrets.

A delivery's life::

    batching --(batchNotify size reached, or timeWindow elapsed)--> pending
    pending --(2xx)--> delivered
    pending --(retry policy exhausted, retention over, monitor deleted, endpoint disabled)--> failed
    delivered / failed --(replay)--> pending   (same webhook-id, same body)

The row is the source of truth; Celery messages only say "look at delivery N". The first
task to run for a due delivery takes a lease on it (`claimed_by` = its Celery task id,
`in_flight_until`) for the time of its request, or of its countdown retry: any other task
for that delivery meanwhile does nothing. The lease is taken when a task starts, not when it
is queued, so a backlog longer than the lease only makes the sweeper's extra message a
no-op, never keeps the queued ones from sending. The Beat sweeper re-enqueues due
deliveries nobody holds and nobody queued within the last lease period, which is how a
message lost by the broker, or held by a worker that died, still gets delivered.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from fleetmon_project.errors import conflict
from monitors.models import Event, Monitor
from notifications import health, payloads, selectors, signing, templating, transport
from notifications.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryEvent,
    DeliveryState,
    WebhookSecret,
)
from telemetry.models import Fleet

logger = logging.getLogger(__name__)

# Rows handled per sweep: bounded so one sweep never holds thousands of row locks; the
# next sweep, a few seconds later, takes the rest.
SWEEP_BATCH = 500
MONITOR_DELETED = "monitor deleted"
INTERRUPTED = "interrupted: no outcome was recorded (the worker was lost during the request)"


@dataclass(frozen=True)
class AttemptOutcome:
    attempt: DeliveryAttempt | None  # None when nothing was sent
    retry_in: int | None = None  # seconds; set when the calling task should retry itself


@dataclass(frozen=True)
class SweepResult:
    sealed: list[int]
    requeued: list[int]


@dataclass(frozen=True)
class _Claim:
    delivery: Delivery
    attempt: DeliveryAttempt
    request: templating.RenderedRequest


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def _lease_seconds() -> timedelta:
    return timedelta(seconds=settings.FLEETMON_DELIVERY_LEASE)


def _celery_countdown_ok(seconds: int) -> bool:
    # On a Redis broker a countdown task sits unacknowledged in a worker until it is due; one
    # waiting longer than the visibility timeout is redelivered to another worker meanwhile.
    # Long waits are left to the sweeper instead.
    return seconds * 2 <= settings.CELERY_VISIBILITY_TIMEOUT


def _webhook(monitor: Monitor) -> dict[str, Any]:
    return monitor.definition["subscribeParam"]["callback"]["webhook"]


def _render(monitor: Monitor, variables: dict[str, str]) -> templating.RenderedRequest:
    webhook = _webhook(monitor)
    return templating.render_request_parts(
        target=webhook["target"], attributes=webhook["attributes"], variables=variables
    )


def _new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _mark_enqueued(delivery: Delivery, *, now: datetime) -> str:
    """Record a new message for the delivery (its task id is returned, for the log); the caller
    saves and enqueues. Whichever of its messages runs first sends it."""
    delivery.claimed_by = uuid.uuid4().hex
    delivery.enqueued_at = now
    return delivery.claimed_by


def _enqueue_delivery(delivery_id: int, task_id: str) -> None:
    from notifications import tasks

    # robust: the outbox row is already committed, so a broker outage must not fail the
    # caller (the engine's evaluation); the sweeper re-enqueues it a lease period later.
    transaction.on_commit(
        lambda: tasks.deliver_webhook.apply_async((delivery_id,), task_id=task_id), robust=True
    )


def _enqueue_flush(delivery_id: int, countdown: int) -> None:
    from notifications import tasks

    # The sweeper seals due batches too, but only on its next run (FLEETMON_SWEEP_INTERVAL);
    # the countdown sends the batch when its window closes.
    if _celery_countdown_ok(countdown):
        transaction.on_commit(
            lambda: tasks.flush_batch.apply_async((delivery_id,), countdown=countdown), robust=True
        )


# --- Outbox: events in, sealed deliveries out --------------------------------------------


def _delivery_new(*, monitor: Monitor, event: Event, state: str, batch_key: str, next_attempt_at: datetime) -> Delivery:
    """An unsaved delivery starting with `event`."""
    return Delivery(
        monitor=monitor,
        fleet_id=monitor.fleet_id,
        state=state,
        batch_key=batch_key,
        webhook_id=_new_webhook_id(),
        next_attempt_at=next_attempt_at,
        # The retention runs from when the event was raised, not from its (possibly old)
        # telemetry eventDate; a batch's first event is its oldest.
        expires_at=event.created_at + timedelta(seconds=settings.FLEETMON_EVENT_RETENTION),
    )


def _freeze(delivery: Delivery, events: Sequence[Event], *, now: datetime) -> str:
    """Render the body once for every attempt and mark the delivery due and queued; returns
    the task id to enqueue it with, once the caller has saved it."""
    monitor = delivery.monitor
    # A batch spanning several vehicles (only when no URL or header uses $vin/$vid) renders
    # its Body attributes with its first event's vehicle.
    first = events[0]
    variables = payloads.webhook_variables(monitor=monitor, vin=first.vin, vehicle_public_id=first.vehicle_public_id)
    delivery.variables = variables
    delivery.body = payloads.monitor_events_body(
        monitor_id=monitor.pk,
        attributes=_render(monitor, variables).body_attributes,
        events=[event.to_monitor_event() for event in events],
    )
    delivery.state = DeliveryState.PENDING
    delivery.next_attempt_at = now
    return _mark_enqueued(delivery, now=now)


def _delivery_seal(delivery: Delivery, *, now: datetime) -> None:
    """Freeze a batch's body and hand it to a task, once the transaction commits."""
    events = [link.event for link in delivery.delivery_events.select_related("event")]
    owner = _freeze(delivery, events, now=now)
    delivery.save()
    _enqueue_delivery(delivery.pk, owner)


def _batch_notify(event: Event) -> dict[str, int] | None:
    return event.monitor.definition["subscribeParam"].get("batchNotify")


def _batch_key(event: Event) -> str:
    # A per-vehicle URL or header means one vehicle per request (the reference: such a
    # monitor cannot batch across vehicles).
    per_vehicle = templating.uses_vehicle_variables(_webhook(event.monitor)["attributes"])
    return event.vehicle_public_id if per_vehicle else ""


def _open_batch(*, monitor: Monitor, event: Event, batch_key: str, time_window: int, now: datetime) -> Delivery:
    """The monitor's (or vehicle's) batch collecting events, opened if there is none.

    Row-locked, so a flush cannot seal it while we add to it. SKIP LOCKED rather than
    waiting: the engine raises events in no particular monitor order, and two evaluations
    waiting on each other's batches would deadlock. When another evaluation holds the open
    batch, this event starts a second one for the same key; both go out at their size or
    time window.
    """
    batch = (
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(monitor=monitor, batch_key=batch_key, state=DeliveryState.BATCHING)
        .order_by("created_at", "id")
        .first()
    )
    if batch is None:
        batch = _delivery_new(
            monitor=monitor,
            event=event,
            state=DeliveryState.BATCHING,
            batch_key=batch_key,
            next_attempt_at=now + timedelta(seconds=time_window),
        )
        batch.save()
        _enqueue_flush(batch.pk, time_window)
    return batch


def _delivery_add_to_batch(*, event: Event, batch_notify: dict[str, int], now: datetime) -> Delivery:
    delivery = _open_batch(
        monitor=event.monitor,
        event=event,
        batch_key=_batch_key(event),
        time_window=batch_notify["timeWindow"],
        now=now,
    )
    DeliveryEvent.objects.create(delivery=delivery, event=event)
    if delivery.delivery_events.count() >= batch_notify["size"]:
        _delivery_seal(delivery, now=now)
    return delivery


def deliveries_create_for_events(*, events: Sequence[Event], now: datetime | None = None) -> list[Delivery]:
    """Put freshly raised events in the outbox, inside the transaction that created them.

    Without batchNotify an event is a request of its own, sealed at once: all of those are
    written in two bulk inserts, however many events an evaluation raised."""
    now = _now(now)
    single = [event for event in events if _batch_notify(event) is None]
    deliveries = []
    for event in single:
        delivery = _delivery_new(
            monitor=event.monitor,
            event=event,
            state=DeliveryState.PENDING,
            batch_key=_batch_key(event),
            next_attempt_at=now,
        )
        _freeze(delivery, [event], now=now)
        deliveries.append(delivery)
    Delivery.objects.bulk_create(deliveries)
    DeliveryEvent.objects.bulk_create(
        [DeliveryEvent(delivery=delivery, event=event) for delivery, event in zip(deliveries, single)]
    )
    for delivery in deliveries:
        _enqueue_delivery(delivery.pk, delivery.claimed_by)

    for event in events:
        batch_notify = _batch_notify(event)
        if batch_notify is not None:
            deliveries.append(_delivery_add_to_batch(event=event, batch_notify=batch_notify, now=now))
    return deliveries


@transaction.atomic
def delivery_batch_flush(*, delivery_id: int, now: datetime | None = None) -> bool:
    """Seal a batch whose timeWindow has elapsed; False if it is not due or already sealed."""
    now = _now(now)
    batch = (
        Delivery.objects.select_for_update(of=("self",))
        .select_related("monitor")
        .filter(pk=delivery_id, state=DeliveryState.BATCHING, next_attempt_at__lte=now)
        .first()
    )
    if batch is None:
        return False
    _delivery_seal(batch, now=now)
    return True


def delivery_sweep(*, now: datetime | None = None) -> SweepResult:
    """Seal batches whose timeWindow has elapsed and re-enqueue due deliveries nobody holds.

    SKIP LOCKED: rows being changed right now (a batch receiving an event, a delivery being
    claimed) belong to someone else this instant, and a concurrent sweep takes other rows.
    """
    now = _now(now)
    with transaction.atomic():
        batches = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("monitor")
            .filter(state=DeliveryState.BATCHING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")[:SWEEP_BATCH]
        )
        for batch in batches:
            _delivery_seal(batch, now=now)

    with transaction.atomic():
        stale = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            .filter(Q(in_flight_until__isnull=True) | Q(in_flight_until__lte=now))
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=now - _lease_seconds()))
            .order_by("next_attempt_at")[:SWEEP_BATCH]
        )
        for delivery in stale:
            owner = _mark_enqueued(delivery, now=now)
            delivery.save(update_fields=["claimed_by", "enqueued_at", "updated_at"])
            _enqueue_delivery(delivery.pk, owner)
    if stale:
        logger.info("re-enqueued %d due deliveries nobody was sending", len(stale))
    return SweepResult(sealed=[b.pk for b in batches], requeued=[d.pk for d in stale])


# --- Attempts ----------------------------------------------------------------------------


def delivery_attempt(*, delivery_id: int, task_id: str, now: datetime | None = None) -> AttemptOutcome:
    """One try at sending a delivery, by the first of its tasks to run (or the one holding it).

    Does nothing for a delivery that is delivered, failed, not due yet, or leased to another
    task: a redelivered or duplicated message is harmless.
    """
    # Without an injected `now` each step reads the clock, so the retry delay runs from the
    # end of the request, not from its start.
    claim = _delivery_claim(delivery_id=delivery_id, task_id=task_id, now=_now(now))
    if claim is None:
        return AttemptOutcome(attempt=None)
    result = _send(claim, now=_now(now))
    return _delivery_record(claim, result=result, task_id=task_id, now=_now(now))


@transaction.atomic
def _delivery_claim(*, delivery_id: int, task_id: str, now: datetime) -> _Claim | None:
    delivery = (
        Delivery.objects.select_for_update(of=("self",))
        .select_related("monitor", "fleet")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.state != DeliveryState.PENDING:
        return None
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return None  # early: whoever scheduled the next attempt comes back for it
    leased_to_other = delivery.claimed_by != task_id and (
        delivery.in_flight_until is not None and delivery.in_flight_until > now
    )
    if leased_to_other:
        return None
    if delivery.monitor.deleted_at is not None:
        _delivery_give_up(delivery, error=MONITOR_DELETED, now=now)
        return None
    if now >= delivery.expires_at:
        _delivery_give_up(delivery, error="retention period over: the event is too old to deliver", now=now)
        return None
    if not delivery.is_test and health.webhook_endpoint_disabled(monitor=delivery.monitor):
        _delivery_stop(delivery, error=health.ENDPOINT_DISABLED)
        return None

    # An attempt still open here was cut short by a dead worker: say so in the log.
    delivery.attempts.filter(finished_at__isnull=True, error="").update(error=INTERRUPTED)
    request = _render(delivery.monitor, delivery.variables)
    delivery.attempt_count += 1
    delivery.claimed_by = task_id
    delivery.in_flight_until = now + _lease_seconds()
    delivery.save(update_fields=["attempt_count", "claimed_by", "in_flight_until", "updated_at"])
    attempt = DeliveryAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempt_count,
        started_at=now,
        url=templating.redact_url(request.url),
        task_id=task_id,
    )
    return _Claim(delivery=delivery, attempt=attempt, request=request)


def _send(claim: _Claim, *, now: datetime) -> transport.AttemptResult:
    delivery = claim.delivery
    body = delivery.body.encode()
    signature = signing.build_headers(
        secrets=webhook_secrets_for_signing(fleet=delivery.fleet, now=now),
        msg_id=delivery.webhook_id,
        timestamp=int(now.timestamp()),
        body=body,
    )
    # The signature headers come last: a webhook attribute cannot override them.
    headers = {**claim.request.headers, **signature}
    with transport.make_session(allow_private=settings.FLEETMON_ALLOW_PRIVATE_WEBHOOKS) as session:
        return transport.post(
            session=session,
            url=claim.request.url,
            body=body,
            headers=headers,
            connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT,
            read_timeout=settings.WEBHOOK_READ_TIMEOUT,
        )


def _describe(result: transport.AttemptResult) -> str:
    return result.error or f"HTTP {result.status_code}"


@transaction.atomic
def _delivery_record(claim: _Claim, *, result: transport.AttemptResult, task_id: str, now: datetime) -> AttemptOutcome:
    delivery = Delivery.objects.select_for_update(of=("self",)).select_related("monitor").get(pk=claim.delivery.pk)
    attempt = claim.attempt
    attempt.finished_at = now
    attempt.status_code = result.status_code
    attempt.duration_ms = result.duration_ms
    attempt.response_excerpt = result.response_excerpt
    attempt.error = result.error
    attempt.save()

    if result.ok:
        if delivery.state == DeliveryState.PENDING:
            delivery.state = DeliveryState.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            delivery.in_flight_until = None
            delivery.last_error = ""
            delivery.save()
        if not delivery.is_test:
            health.webhook_health_succeeded(monitor=delivery.monitor, now=now)
        return AttemptOutcome(attempt=attempt)

    if delivery.state != DeliveryState.PENDING or delivery.claimed_by != task_id:
        # Our lease ran out mid-request and another task owns what happens next.
        if not delivery.is_test:
            health.webhook_health_failed(monitor=delivery.monitor, gave_up=False, error=_describe(result), now=now)
        return AttemptOutcome(attempt=attempt)

    delay = _retry_delay(delivery)
    next_attempt_at = now + timedelta(seconds=delay) if delay is not None else None
    if next_attempt_at is None or next_attempt_at > delivery.expires_at:
        reason = "retry policy exhausted" if next_attempt_at is None else "retention period over"
        _delivery_give_up(delivery, error=f"{_describe(result)}; gave up: {reason}", now=now)
        return AttemptOutcome(attempt=attempt)

    if not delivery.is_test and health.webhook_health_failed(
        monitor=delivery.monitor, gave_up=False, error=_describe(result), now=now
    ):
        _delivery_stop(delivery, error=f"{_describe(result)}; gave up: {health.ENDPOINT_DISABLED}")
        return AttemptOutcome(attempt=attempt)
    delivery.last_error = _describe(result)
    delivery.next_attempt_at = next_attempt_at
    if _celery_countdown_ok(delay):
        # Same task id on retry: the lease stays ours through the countdown.
        delivery.in_flight_until = next_attempt_at + _lease_seconds()
        delivery.save()
        return AttemptOutcome(attempt=attempt, retry_in=delay)
    delivery.in_flight_until = None
    delivery.claimed_by = ""
    delivery.save()
    return AttemptOutcome(attempt=attempt)


def _retry_delay(delivery: Delivery) -> int | None:
    """Seconds until the next attempt, or None when the retry policy allows no more."""
    if delivery.is_test:
        return None  # a test send reports one attempt, it does not keep knocking
    policy = delivery.monitor.definition["subscribeParam"]["retryPolicy"]
    retries_done = delivery.attempt_count - delivery.retry_base - 1
    allowed = {"None": 1, "Bounded": policy["retryNumber"], "Always": None}[policy["policy"]]
    if allowed is not None and retries_done >= allowed:
        return None
    return policy["retryDelay"]


def _delivery_stop(delivery: Delivery, *, error: str) -> None:
    delivery.state = DeliveryState.FAILED
    delivery.last_error = error
    delivery.next_attempt_at = None
    delivery.in_flight_until = None
    delivery.save()
    logger.warning("delivery %s failed: %s", delivery.pk, error)


def _delivery_give_up(delivery: Delivery, *, error: str, now: datetime) -> None:
    """Stop a delivery that failed, counting it against the webhook's health."""
    _delivery_stop(delivery, error=error)
    if not delivery.is_test:
        health.webhook_health_failed(monitor=delivery.monitor, gave_up=True, error=error, now=now)


# --- Operator actions ----------------------------------------------------------------------


@transaction.atomic
def delivery_replay(*, delivery: Delivery, now: datetime | None = None) -> Delivery:
    """Send a delivered or failed delivery again: same webhook-id and body, so a receiver that
    already has it can tell; the retry policy starts over, and a disabled endpoint is enabled."""
    now = _now(now)
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.state not in (DeliveryState.DELIVERED, DeliveryState.FAILED):
        raise conflict(f"only a delivered or failed delivery can be replayed; this one is {delivery.state}")
    if now >= delivery.expires_at:
        raise conflict("this delivery is past the retention period and can no longer be sent")
    if not delivery.is_test:
        health.webhook_health_reenable(monitor=delivery.monitor, now=now)
    delivery.state = DeliveryState.PENDING
    delivery.retry_base = delivery.attempt_count
    delivery.next_attempt_at = now
    delivery.delivered_at = None
    delivery.last_error = ""
    owner = _mark_enqueued(delivery, now=now)
    delivery.save()
    _enqueue_delivery(delivery.pk, owner)
    return delivery


def delivery_send_test(*, monitor: Monitor, now: datetime | None = None) -> DeliveryAttempt:
    """Send a sample event to the monitor's webhook right now, exactly as a real delivery
    would go (transport, signature, SSRF guard), and return the attempt. Kept as a test
    delivery: it shows in the log but never changes the monitor's status."""
    vehicle = selectors.sample_vehicle_get(fleet=monitor.fleet)
    vin = vehicle.vin if vehicle else payloads.SAMPLE_VIN
    variables = payloads.webhook_variables(
        monitor=monitor, vin=vin, vehicle_public_id=vehicle.pk if vehicle else payloads.SAMPLE_VEHICLE_ID
    )
    created = _now(now)
    with transaction.atomic():
        delivery = Delivery(
            monitor=monitor,
            fleet_id=monitor.fleet_id,
            is_test=True,
            webhook_id=_new_webhook_id(),
            variables=variables,
            body=payloads.monitor_events_body(
                monitor_id=monitor.pk,
                attributes=_render(monitor, variables).body_attributes,
                events=[payloads.sample_event(monitor=monitor, vin=vin, at=created)],
            ),
            next_attempt_at=created,
            expires_at=created + timedelta(seconds=settings.FLEETMON_EVENT_RETENTION),
        )
        owner = _mark_enqueued(delivery, now=created)
        delivery.save()
    outcome = delivery_attempt(delivery_id=delivery.pk, task_id=owner, now=now)
    assert outcome.attempt is not None  # new and due, and nobody else knows of it: it was sent
    return outcome.attempt


# --- Signing secrets -----------------------------------------------------------------------


def webhook_secret_get_or_create(*, fleet: Fleet) -> WebhookSecret:
    """The fleet's active secret, created on first use."""
    secret, _ = WebhookSecret.objects.get_or_create(
        fleet=fleet, expires_at=None, defaults={"secret": signing.generate_secret()}
    )
    return secret


def webhook_secrets_for_signing(*, fleet: Fleet, now: datetime) -> list[str]:
    webhook_secret_get_or_create(fleet=fleet)
    return selectors.webhook_secrets_signing(fleet=fleet, now=now)


@transaction.atomic
def webhook_secret_rotate(*, fleet: Fleet, now: datetime | None = None) -> WebhookSecret:
    """A new active secret; the previous one keeps signing for FLEETMON_SECRET_ROTATION_GRACE
    seconds so receivers can switch over without rejecting anything."""
    now = _now(now)
    # Serialises rotations of one fleet: two at once would each retire the same secret.
    Fleet.objects.select_for_update().get(pk=fleet.pk)
    WebhookSecret.objects.filter(fleet=fleet, expires_at__lte=now).delete()
    WebhookSecret.objects.filter(fleet=fleet, expires_at__isnull=True).update(
        expires_at=now + timedelta(seconds=settings.FLEETMON_SECRET_ROTATION_GRACE)
    )
    return WebhookSecret.objects.create(fleet=fleet, secret=signing.generate_secret())

"""Webhook deliveries: the outbox, its attempts, batching, retries, replays and signing secrets.

A delivery's life::

    batching --(batchNotify size reached, or timeWindow elapsed)--> pending
    pending --(2xx)--> delivered
    pending --(retry policy exhausted, retention over, monitor deleted)--> failed
    delivered / failed --(replay)--> pending   (same webhook-id, same body)

The row is the source of truth; Celery messages only say "look at delivery N". Whoever
enqueues a delivery first takes a lease on it (`claimed_by` = the Celery task id,
`in_flight_until`): that task may send it, anybody else leaves it alone until the lease runs
out. The Beat sweeper re-enqueues due deliveries whose lease has run out, which is how a
message lost by the broker, or held by a worker that died, still gets delivered.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from fleetmon_project.errors import conflict
from monitors.models import Event, Monitor, MonitorStatus
from notifications import payloads, selectors, signing, templating, transport
from notifications.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryEvent,
    DeliveryState,
    WebhookHealth,
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


def _take_lease(delivery: Delivery, *, now: datetime) -> str:
    """Hand the delivery to a new task (whose id is returned); the caller saves and enqueues."""
    delivery.claimed_by = uuid.uuid4().hex
    delivery.in_flight_until = now + _lease_seconds()
    return delivery.claimed_by


def _enqueue_delivery(delivery_id: int, task_id: str) -> None:
    from notifications import tasks

    # robust: the outbox row is already committed, so a broker outage must not fail the
    # caller (the engine's evaluation); the sweeper re-enqueues once the lease runs out.
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
    return Delivery.objects.create(
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


def _delivery_seal(delivery: Delivery, *, now: datetime) -> None:
    """Freeze the body and hand the delivery to a task, once the transaction commits."""
    monitor = delivery.monitor
    events = [link.event for link in delivery.delivery_events.select_related("event")]
    # A batch spanning several vehicles (only when no URL or header uses $vin/$vid) renders
    # its Body attributes with its first event's vehicle.
    first = events[0]
    variables = payloads.webhook_variables(monitor=monitor, vin=first.vin, vehicle_public_id=first.vehicle_public_id)
    delivery.variables = variables
    delivery.body = payloads.monitor_events_body(
        monitor_id=monitor.pk,
        attributes=_render(monitor, variables).body_attributes,
        events=[payloads.monitor_event(event) for event in events],
    )
    delivery.state = DeliveryState.PENDING
    delivery.next_attempt_at = now
    owner = _take_lease(delivery, now=now)
    delivery.save()
    _enqueue_delivery(delivery.pk, owner)


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
        _enqueue_flush(batch.pk, time_window)
    return batch


def delivery_create_for_event(*, event: Event, now: datetime | None = None) -> Delivery:
    """Put a freshly raised event in the outbox, inside the transaction that created it."""
    now = _now(now)
    monitor = event.monitor
    subscribe = monitor.definition["subscribeParam"]
    batch_notify = subscribe.get("batchNotify")
    # A per-vehicle URL or header means one vehicle per request (the reference: such a
    # monitor cannot batch across vehicles).
    per_vehicle = templating.uses_vehicle_variables(_webhook(monitor)["attributes"])
    batch_key = event.vehicle_public_id if per_vehicle else ""

    if batch_notify is None:
        delivery = _delivery_new(
            monitor=monitor, event=event, state=DeliveryState.PENDING, batch_key=batch_key, next_attempt_at=now
        )
        DeliveryEvent.objects.create(delivery=delivery, event=event)
        _delivery_seal(delivery, now=now)
        return delivery

    delivery = _open_batch(
        monitor=monitor, event=event, batch_key=batch_key, time_window=batch_notify["timeWindow"], now=now
    )
    DeliveryEvent.objects.create(delivery=delivery, event=event)
    if delivery.delivery_events.count() >= batch_notify["size"]:
        _delivery_seal(delivery, now=now)
    return delivery


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
            .order_by("next_attempt_at")[:SWEEP_BATCH]
        )
        for delivery in stale:
            owner = _take_lease(delivery, now=now)
            delivery.save(update_fields=["claimed_by", "in_flight_until", "updated_at"])
            _enqueue_delivery(delivery.pk, owner)
    if stale:
        logger.info("re-enqueued %d deliveries whose lease ran out", len(stale))
    return SweepResult(sealed=[b.pk for b in batches], requeued=[d.pk for d in stale])


# --- Attempts ----------------------------------------------------------------------------


def delivery_attempt(*, delivery_id: int, task_id: str, now: datetime | None = None) -> AttemptOutcome:
    """One try at sending a delivery, by the task holding its lease.

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
            _webhook_health_succeeded(monitor=delivery.monitor, now=now)
        return AttemptOutcome(attempt=attempt)

    if delivery.state != DeliveryState.PENDING or delivery.claimed_by != task_id:
        # Our lease ran out mid-request and another task owns what happens next.
        if not delivery.is_test:
            _webhook_health_failed(monitor=delivery.monitor, gave_up=False, now=now)
        return AttemptOutcome(attempt=attempt)

    delay = _retry_delay(delivery)
    next_attempt_at = now + timedelta(seconds=delay) if delay is not None else None
    if next_attempt_at is None or next_attempt_at > delivery.expires_at:
        reason = "retry policy exhausted" if next_attempt_at is None else "retention period over"
        _delivery_give_up(delivery, error=f"{_describe(result)}; gave up: {reason}", now=now)
        return AttemptOutcome(attempt=attempt)

    if not delivery.is_test:
        _webhook_health_failed(monitor=delivery.monitor, gave_up=False, now=now)
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


def _delivery_give_up(delivery: Delivery, *, error: str, now: datetime) -> None:
    delivery.state = DeliveryState.FAILED
    delivery.last_error = error
    delivery.next_attempt_at = None
    delivery.in_flight_until = None
    delivery.save()
    logger.warning("delivery %s failed: %s", delivery.pk, error)
    if not delivery.is_test:
        _webhook_health_failed(monitor=delivery.monitor, gave_up=True, now=now)


def _webhook_health_succeeded(*, monitor: Monitor, now: datetime) -> None:
    WebhookHealth.objects.filter(monitor=monitor).update(consecutive_failures=0)
    Monitor.objects.filter(pk=monitor.pk, status=MonitorStatus.FAILED, deleted_at__isnull=True).update(
        status=MonitorStatus.RUNNING, updated_at=now
    )


def _webhook_health_failed(*, monitor: Monitor, gave_up: bool, now: datetime) -> None:
    """Count a failure; a Running monitor turns Failed at the threshold or when a delivery
    gives up (Paused and deleted monitors keep their status)."""
    health, _ = WebhookHealth.objects.select_for_update().get_or_create(monitor=monitor)
    health.consecutive_failures += 1
    health.save()
    if gave_up or health.consecutive_failures >= settings.FLEETMON_FAILING_THRESHOLD:
        Monitor.objects.filter(pk=monitor.pk, status=MonitorStatus.RUNNING, deleted_at__isnull=True).update(
            status=MonitorStatus.FAILED, updated_at=now
        )


# --- Operator actions ----------------------------------------------------------------------


@transaction.atomic
def delivery_replay(*, delivery: Delivery, now: datetime | None = None) -> Delivery:
    """Send a delivered or failed delivery again: same webhook-id and body, so a receiver that
    already has it can tell; the retry policy starts over."""
    now = _now(now)
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.state not in (DeliveryState.DELIVERED, DeliveryState.FAILED):
        raise conflict(f"only a delivered or failed delivery can be replayed; this one is {delivery.state}")
    if now >= delivery.expires_at:
        raise conflict("this delivery is past the retention period and can no longer be sent")
    delivery.state = DeliveryState.PENDING
    delivery.retry_base = delivery.attempt_count
    delivery.next_attempt_at = now
    delivery.delivered_at = None
    delivery.last_error = ""
    owner = _take_lease(delivery, now=now)
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
        owner = _take_lease(delivery, now=created)
        delivery.save()
    outcome = delivery_attempt(delivery_id=delivery.pk, task_id=owner, now=now)
    assert outcome.attempt is not None  # freshly leased to us, so it was sent
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

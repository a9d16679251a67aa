"""The outbox: events in, batched and sealed deliveries out, and the sweeper.

Every event gets its delivery row in the transaction that raised it; a sealed delivery is
queued (`signals.deliveries_queued`), and the task layer sends its message once that commits:
one for up to GROUP_MAX deliveries of one transaction that go to one webhook origin.
The Beat sweeper seals batches whose timeWindow has elapsed and queues again due deliveries
nobody holds and nobody queued within the last lease period, which is how a message lost by
the broker, or held by a worker that died, still gets delivered.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Prefetch,
    Q,
    Value,
    prefetch_related_objects,
)

from fleetmon_project.rows import model_columns, models_read
from monitors.models import Event, Monitor
from notifications import payloads, signals, templating
from notifications.models import Delivery, DeliveryEvent, DeliveryState
from notifications.services import common

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

# Deliveries one message sends at most (origin_groups): a group is sent one request
# after the other, so a long one would make its last delivery wait for all the others.
GROUP_MAX = 20

# Rows handled per sweep: bounded so one sweep never holds thousands of row locks; the
# next sweep, a few seconds later, takes the rest.
SWEEP_BATCH = 500


@dataclass(frozen=True)
class SweepResult:
    sealed: list[int]
    requeued: list[int]


def delivery_new(
    *,
    monitor: Monitor,
    raised_at: datetime,
    batch_key: str = "",
    is_test: bool = False,
    next_attempt_at: datetime | None = None,
) -> Delivery:
    """An unsaved delivery, to be sealed at once, or as a batch (`next_attempt_at` is when its
    timeWindow closes)."""
    return Delivery(
        monitor=monitor,
        fleet_id=monitor.fleet_id,
        state=DeliveryState.BATCHING,
        batch_key=batch_key,
        is_test=is_test,
        webhook_id=f"msg_{uuid.uuid4().hex}",
        next_attempt_at=next_attempt_at,
        # The retention runs from when the event was raised, not from its (possibly old)
        # telemetry eventDate; a batch's first event is its oldest.
        expires_at=raised_at + timedelta(seconds=settings.FLEETMON_EVENT_RETENTION),
    )


def delivery_freeze(
    delivery: Delivery,
    *,
    vin: str,
    vehicle_public_id: str,
    events: list[dict[str, Any]],
    now: datetime,
    task_id: str | None = None,
) -> None:
    """Render the body once for every attempt, seal the delivery and queue it (under `task_id`,
    see `Delivery.queue`); the caller saves it, then sends `announce_queued`."""
    monitor = delivery.monitor
    variables = payloads.webhook_variables(monitor=monitor, vin=vin, vehicle_public_id=vehicle_public_id)
    body = payloads.monitor_events_body(
        monitor_id=monitor.pk, attributes=common.render(monitor, variables).body_attributes, events=events
    )
    delivery.seal(variables=variables, body=body, now=now)
    delivery.queue(now=now, task_id=task_id)


def _freeze_events(delivery: Delivery, events: Sequence[Event], *, now: datetime, task_id: str | None = None) -> None:
    # A batch spanning several vehicles (only when no URL or header uses $vin/$vid) renders
    # its Body attributes with its first event's vehicle.
    first = events[0]
    monitor_events = [event.to_monitor_event() for event in events]
    delivery_freeze(
        delivery,
        vin=first.vin,
        vehicle_public_id=first.vehicle_public_id,
        events=monitor_events,
        now=now,
        task_id=task_id,
    )


def origin_groups(items: Sequence[_T], monitor: Callable[[_T], Monitor]) -> list[list[_T]]:
    """Events or deliveries in groups of one webhook origin (`templating.target_origin`), at
    most GROUP_MAX each. Each group is queued under one task id and sent by one message, one
    request after the other over the kept-alive connection (`tasks.deliver_webhooks`): a
    Celery message cost the webhooks worker more than the request it carried."""
    by_origin: dict[tuple[str, str, int | None], list[_T]] = defaultdict(list)
    for item in items:
        by_origin[templating.target_origin(monitor(item).spec.webhook.target)].append(item)
    return [
        same_origin[start : start + GROUP_MAX]
        for same_origin in by_origin.values()
        for start in range(0, len(same_origin), GROUP_MAX)
    ]


def announce_queued(group: Sequence[Delivery]) -> None:
    """Once a delivery, or a group queued under one task id (`origin_groups`), is saved: the
    task layer sends one message for it when the transaction commits."""
    signals.deliveries_queued.send(
        sender=Delivery, delivery_ids=[delivery.pk for delivery in group], task_id=group[0].task_id
    )


def _deliveries_seal(batches: Sequence[Delivery], *, now: datetime) -> None:
    """Freeze batches' bodies and queue them, in one message per webhook origin. Their events
    are read in one statement."""
    _prefetch_events(batches)
    for group in origin_groups(batches, lambda batch: batch.monitor):
        task_id = uuid.uuid4().hex
        for batch in group:
            _batch_freeze(batch, now=now, task_id=task_id)
        announce_queued(group)


def _prefetch_events(batches: Sequence[Delivery]) -> None:
    prefetch_related_objects(
        list(batches), Prefetch("delivery_events", queryset=DeliveryEvent.objects.select_related("event"))
    )


def _batch_freeze(batch: Delivery, *, now: datetime, task_id: str) -> None:
    """Freeze a batch whose events were prefetched, queued under `task_id`, and save it."""
    _freeze_events(batch, [link.event for link in batch.delivery_events.all()], now=now, task_id=task_id)
    batch.save()


def _batch_key(event: Event) -> str:
    # A per-vehicle URL or header means one vehicle per request (the reference: such a
    # monitor cannot batch across vehicles).
    per_vehicle = templating.uses_vehicle_variables(event.monitor.spec.webhook.attributes)
    return event.vehicle_public_id if per_vehicle else ""


def _open_batches_lock(keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[Delivery, int]]:
    """Per (monitor id, batch key): the oldest open batch nobody else holds, row-locked so a
    flush cannot seal it while events are added, and how many events it holds.

    SKIP LOCKED rather than waiting: the engine raises events in no particular monitor
    order, and two evaluations waiting on each other's batches would deadlock. A key whose
    batch another evaluation holds gets a second batch; both go out at their size or time
    window. Only that one batch of each key is locked: an evaluation holding every open batch
    of a key would send a concurrent one's events to new batches. The events are counted by a
    statement of their own, after the lock: one that the locking statement's snapshot missed,
    added by a transaction that committed before the lock was granted, must count towards
    the size."""
    if not keys:
        return {}
    if connection.vendor == "postgresql":
        found = models_read(
            Delivery,
            f"""SELECT {model_columns(Delivery, "batch")}
            FROM unnest(%s::text[], %s::text[]) AS wanted(monitor_id, batch_key)
            CROSS JOIN LATERAL (
                SELECT * FROM {Delivery._meta.db_table} AS open
                WHERE open.monitor_id = wanted.monitor_id AND open.batch_key = wanted.batch_key AND open.state = %s
                ORDER BY open.created_at, open.id
                LIMIT 1
                FOR UPDATE SKIP LOCKED
            ) AS batch""",
            [[monitor_id for monitor_id, _ in keys], [batch_key for _, batch_key in keys], DeliveryState.BATCHING],
        )
    else:
        # No row locks to take (SQLite serialises writers whole): the oldest of each key.
        wanted = Q()
        for monitor_id, batch_key in keys:
            wanted |= Q(monitor_id=monitor_id, batch_key=batch_key)
        found = list(Delivery.objects.filter(wanted, state=DeliveryState.BATCHING).order_by("created_at", "id"))
    oldest: dict[tuple[str, str], Delivery] = {}
    for batch in found:
        oldest.setdefault((batch.monitor_id, batch.batch_key), batch)
    if not oldest:
        return {}
    counts = dict(
        DeliveryEvent.objects.filter(delivery__in=[batch.pk for batch in oldest.values()])
        .order_by()
        .values("delivery")
        .annotate(events=Count("id"))
        .values_list("delivery", "events")
    )
    return {key: (batch, counts.get(batch.pk, 0)) for key, batch in oldest.items()}


def _deliveries_add_to_batches(events: Sequence[Event], *, now: datetime) -> list[Delivery]:
    """Add batchNotify events to their monitor's (or vehicle's) open batch, opening one where
    there is none, and seal the batches that reach their size: a fixed handful of statements
    however many events an evaluation raised. Returns each event's batch."""
    by_key: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in events:
        by_key[event.monitor_id, _batch_key(event)].append(event)
    open_batches = _open_batches_lock(list(by_key))
    batch_of: dict[int, Delivery] = {}
    opened: list[tuple[Delivery, int]] = []  # with its timeWindow
    full: list[Delivery] = []
    links = []
    for key, same_key in by_key.items():
        monitor = same_key[0].monitor
        batch_notify = monitor.spec.batch_notify
        assert batch_notify is not None
        batch, count = open_batches.get(key, (None, 0))
        if batch is not None:
            batch.monitor = monitor  # the events' own instance: sealing reads it no more
        for event in same_key:
            if batch is None:
                window = batch_notify.time_window
                batch = delivery_new(
                    monitor=monitor, raised_at=event.created_at, batch_key=key[1], next_attempt_at=now + timedelta(seconds=window)
                )
                count = 0
                opened.append((batch, window))
            links.append(DeliveryEvent(delivery=batch, event=event))
            batch_of[id(event)] = batch
            count += 1
            if count >= batch_notify.size:
                full.append(batch)
                batch = None
    Delivery.objects.bulk_create([batch for batch, _ in opened])
    DeliveryEvent.objects.bulk_create(links)
    for batch, window in opened:
        if batch not in full:  # a batch full at once needs no flush at its window
            signals.batch_opened.send(sender=Delivery, delivery_id=batch.pk, countdown=window)
    _deliveries_seal(full, now=now)
    return [batch_of[id(event)] for event in events]


def deliveries_create_for_events(*, events: Sequence[Event], now: datetime | None = None) -> list[Delivery]:
    """Put freshly raised events in the outbox, inside the transaction that created them.

    Without batchNotify an event is a request of its own, sealed at once: all of those are
    written in two bulk inserts, however many events an evaluation raised, and queued in one
    message per webhook origin."""
    now = common.clock(now)
    single = [event for event in events if event.monitor.spec.batch_notify is None]
    groups: list[list[Delivery]] = []
    links = []
    for same_origin in origin_groups(single, lambda event: event.monitor):
        task_id = uuid.uuid4().hex
        group = []
        for event in same_origin:
            delivery = delivery_new(monitor=event.monitor, raised_at=event.created_at, batch_key=_batch_key(event))
            _freeze_events(delivery, [event], now=now, task_id=task_id)
            group.append(delivery)
            links.append(DeliveryEvent(delivery=delivery, event=event))
        groups.append(group)
    deliveries = [delivery for group in groups for delivery in group]
    Delivery.objects.bulk_create(deliveries)
    DeliveryEvent.objects.bulk_create(links)
    for group in groups:
        announce_queued(group)
    batched = [event for event in events if event.monitor.spec.batch_notify is not None]
    return deliveries + _deliveries_add_to_batches(batched, now=now)


@transaction.atomic
def delivery_batch_flush(*, delivery_id: int, task_id: str, now: datetime | None = None) -> bool:
    """Seal a batch whose timeWindow has elapsed, queued under `task_id`: the flushing task sends
    it itself, with no message and no queue between the window's end and the request. True when
    the batch is that task's to send: sealed now, or by an earlier run of the same message whose
    worker was lost; False if it is not due, or was sealed otherwise (by size, by the sweeper)."""
    now = common.clock(now)
    batch = Delivery.objects.select_for_update(of=("self",)).select_related("monitor").filter(pk=delivery_id).first()
    if batch is None:
        return False
    if batch.state == DeliveryState.BATCHING and batch.next_attempt_at is not None and batch.next_attempt_at <= now:
        _prefetch_events([batch])
        _batch_freeze(batch, now=now, task_id=task_id)
        return True
    return batch.is_held_by(task_id)


# However long a delivery has been waiting, it is queued again at least this many leases apart:
# a lost message must not wait for days when the workers were down for days.
MAX_REQUEUE_LEASES = 8


def _waited_in_queue(now: datetime) -> Q:
    """Queued at least half as long ago as it has been due. A message may be lost, or only
    waiting behind a backlog, which the sweeper cannot tell apart: under a backlog of minutes,
    queuing every due delivery again at each sweep flooded the queue with copies (a 10-minute
    flat-out soak sent 3.2 messages per delivery). This way a delivery is queued again after
    one lease, then two, four, eight...: a few times per backlog, whatever its length, and a
    lost message is still found within half the time its delivery has been waiting, or within
    MAX_REQUEUE_LEASES leases, whichever is sooner."""
    queued_for = ExpressionWrapper(F("enqueued_at") - F("next_attempt_at"), output_field=DurationField())
    return Q(enqueued_at__lte=ExpressionWrapper(Value(now) - queued_for, output_field=DateTimeField()))


def delivery_sweep(*, now: datetime | None = None) -> SweepResult:
    """Seal batches whose timeWindow has elapsed and queue again due deliveries nobody holds.

    SKIP LOCKED: rows being changed right now (a batch receiving an event, a delivery being
    claimed) belong to someone else this instant, and a concurrent sweep takes other rows.
    """
    now = common.clock(now)
    with transaction.atomic():
        batches = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("monitor")
            .filter(state=DeliveryState.BATCHING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")[:SWEEP_BATCH]
        )
        _deliveries_seal(batches, now=now)

    with transaction.atomic():
        stale = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("monitor")
            .filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            .filter(Q(in_flight_until__isnull=True) | Q(in_flight_until__lte=now))
            .filter(
                Q(enqueued_at__isnull=True)
                | Q(enqueued_at__lte=now - common.lease_period()) & _waited_in_queue(now)
                | Q(enqueued_at__lte=now - MAX_REQUEUE_LEASES * common.lease_period())
            )
            .order_by("next_attempt_at")[:SWEEP_BATCH]
        )
        for group in origin_groups(stale, lambda delivery: delivery.monitor):
            task_id = uuid.uuid4().hex
            for delivery in group:
                delivery.queue(now=now, task_id=task_id)
                delivery.save(update_fields=Delivery.QUEUED_FIELDS)
            announce_queued(group)
    if stale:
        logger.info("re-enqueued %d due deliveries nobody was sending", len(stale))
    return SweepResult(sealed=[b.pk for b in batches], requeued=[d.pk for d in stale])

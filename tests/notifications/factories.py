from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import factory
from django.db import transaction
from django.utils import timezone

from monitors.models import Event, Monitor
from monitors.signals import events_raised
from notifications import services
from notifications.models import Delivery
from telemetry.models import Fleet, Vehicle
from tests.monitors.factories import MonitorFactory, monitor_definition
from tests.telemetry.factories import VehicleFactory

LEVEL_VALUE = {
    "data": "vehicle.energy.electric.level",
    "value": {"type": "string", "body": {"literalValue": "12"}},
}


def webhook_monitor(
    *,
    fleet: Fleet,
    target: str,
    attributes: list[dict[str, str]] | None = None,
    retry: dict[str, Any] | None = None,
    batch: dict[str, Any] | None = None,
) -> Monitor:
    """A monitor posting to `target`, with the given retryPolicy and batchNotify."""
    subscribe: dict[str, Any] = {
        "callback": {"webhook": {"target": target, "name": "receiver", "attributes": attributes or []}}
    }
    if retry is not None:
        subscribe["retryPolicy"] = retry
    if batch is not None:
        subscribe["batchNotify"] = batch
    return MonitorFactory(fleet=fleet, definition=monitor_definition(subscribeParam=subscribe))


class EventFactory(factory.django.DjangoModelFactory):
    """An event as the engine stores it (without notifying anybody)."""

    class Meta:
        model = Event

    monitor = factory.SubFactory(MonitorFactory)
    fleet = factory.LazyAttribute(lambda e: e.monitor.fleet)
    vehicle = factory.LazyAttribute(lambda e: VehicleFactory(fleet=e.monitor.fleet))
    vin = factory.LazyAttribute(lambda e: e.vehicle.vin)
    vehicle_public_id = factory.LazyAttribute(lambda e: e.vehicle.pk)
    event_date = factory.LazyFunction(timezone.now)
    refresh = False
    values = factory.LazyFunction(lambda: [dict(LEVEL_VALUE)])
    extensions = factory.LazyFunction(list)


def raise_event(*, monitor: Monitor, vehicle: Vehicle | None = None, event_date: datetime | None = None, **fields: Any) -> Event:
    """What the engine does: create the event and send `events_raised` in the same transaction."""
    with transaction.atomic():
        event = EventFactory(
            monitor=monitor,
            vehicle=vehicle or VehicleFactory(fleet=monitor.fleet),
            event_date=event_date or timezone.now(),
            **fields,
        )
        events_raised.send(sender=Event, events=[event])
    return event


def raise_events(*, monitors: list[Monitor]) -> list[Event]:
    """One event per monitor (each for a new vehicle) raised together, as one evaluation does."""
    with transaction.atomic():
        events = [EventFactory(monitor=monitor, vehicle=VehicleFactory(fleet=monitor.fleet)) for monitor in monitors]
        events_raised.send(sender=Event, events=events)
    return events


def delivery_for(event: Event) -> Delivery:
    return Delivery.objects.get(delivery_events__event=event)


def attempt(delivery: Delivery, now: datetime) -> services.AttemptOutcome:
    """One run of the delivery task by the task holding the lease, at `now`."""
    delivery.refresh_from_db()
    return services.delivery_attempt(delivery_id=delivery.pk, task_id=delivery.task_id, now=now)


def make_delivery(monitor: Monitor, state: str, *, error: str = "") -> Delivery:
    return Delivery.objects.create(
        monitor=monitor, fleet=monitor.fleet, state=state, webhook_id=f"msg_{uuid.uuid4().hex}",
        expires_at=timezone.now() + timedelta(days=7), last_error=error,
    )

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from monitors.definition import DefinitionError, FieldError, parse_monitor_definition
from monitors.models import Event, Monitor
from telemetry.models import Fleet


def monitor_list(*, fleet: Fleet) -> QuerySet[Monitor]:
    return Monitor.objects.alive().filter(fleet=fleet).order_by("created_at", "id")


def monitor_get(*, fleet: Fleet, monitor_id: str) -> Monitor:
    """Deleted monitors and other fleets' monitors answer 404 alike."""
    monitor = Monitor.objects.alive().filter(fleet=fleet, pk=monitor_id).first()
    if monitor is None:
        raise Http404("monitor not found")
    return monitor


def monitor_definition_get(*, monitor: Monitor) -> dict[str, Any]:
    """The stored definition in the API's key order: PostgreSQL's jsonb keeps keys shortest
    first, the parser rebuilds the reference's order. One saved under older, looser rules
    comes back as stored."""
    try:
        return parse_monitor_definition(monitor.definition, require_https=False).canonical
    except DefinitionError:
        return monitor.definition


@dataclass(frozen=True)
class InvalidDefinition:
    monitor: Monitor
    errors: list[FieldError]


def monitor_invalid_definitions(*, fleet_id: str | None = None) -> Iterator[InvalidDefinition]:
    """The monitors (deleted ones aside) whose stored definition the current rules refuse, as
    a PUT of it would be refused: stored before a rule existed, or written around the API."""
    monitors = Monitor.objects.alive().select_related("fleet").order_by("fleet_id", "created_at", "id")
    if fleet_id is not None:
        monitors = monitors.filter(fleet_id=fleet_id)
    for monitor in monitors.iterator():
        try:
            parse_monitor_definition(monitor.definition, require_https=settings.FLEETMON_REQUIRE_HTTPS_WEBHOOKS)
        except DefinitionError as exc:
            yield InvalidDefinition(monitor=monitor, errors=exc.errors)


def event_list(
    *,
    monitor: Monitor,
    vin: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Event]:
    events = Event.objects.filter(monitor=monitor).order_by("-event_date", "-id")
    if vin:
        events = events.filter(vin=vin.upper())
    if since is not None:
        events = events.filter(event_date__gte=since)
    if until is not None:
        events = events.filter(event_date__lt=until)
    return events

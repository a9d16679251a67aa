from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fleetmon_project.errors import field_errors
from monitors.compiled import compiled_monitor
from monitors.definition import DefinitionError, MonitorDefinition, parse_monitor_definition
from monitors.models import BoundaryEvaluation, DeadLetter, Monitor, MonitorStatus, Trigger
from monitors.signals import monitor_resumed
from monitors.tasks import enqueue_evaluation
from telemetry.models import Fleet


def monitor_definition_parse(*, raw: object) -> MonitorDefinition:
    """Validate a MonitorParameter body; every problem becomes a 400 entry naming its path."""
    try:
        return parse_monitor_definition(raw, require_https=settings.FLEETMON_REQUIRE_HTTPS_WEBHOOKS)
    except DefinitionError as exc:
        raise field_errors(
            [{"field": error.field, "message": error.message} for error in exc.errors],
            message="Invalid monitor definition: " + "; ".join(str(error) for error in exc.errors),
        ) from None


def _apply_definition(monitor: Monitor, definition: MonitorDefinition) -> None:
    monitor.label = definition.spec.label
    monitor.definition = definition.canonical
    monitor.bool_exp = definition.spec.bool_exp
    monitor.trigger_names = list(definition.expression.names)
    monitor.truth_table = definition.expression.truth_table
    monitor.has_time_triggers = definition.spec.has_time_triggers


def _schedule_time_boundary(monitor: Monitor) -> None:
    if monitor.has_time_triggers:
        monitor.next_time_boundary = compiled_monitor(monitor).next_time_boundary(timezone.now())
    else:
        monitor.next_time_boundary = None


def _sync_triggers(monitor: Monitor) -> None:
    monitor.triggers.all().delete()
    Trigger.objects.bulk_create(
        Trigger(monitor=monitor, position=position, name=trigger.name, kind=trigger.kind, params=trigger.params)
        for position, trigger in enumerate(monitor.spec.triggers)
    )


def _save_definition(monitor: Monitor, definition: MonitorDefinition) -> Monitor:
    _apply_definition(monitor, definition)
    _schedule_time_boundary(monitor)
    monitor.save()
    _sync_triggers(monitor)
    return monitor


@transaction.atomic
def monitor_create(*, fleet: Fleet, definition: MonitorDefinition) -> Monitor:
    return _save_definition(Monitor(fleet=fleet), definition)


@transaction.atomic
def monitor_replace(*, monitor: Monitor, definition: MonitorDefinition) -> Monitor:
    """A new definition starts a new generation: every vehicle is re-evaluated from scratch."""
    monitor = Monitor.objects.select_for_update().get(pk=monitor.pk)
    monitor.generation += 1
    return _save_definition(monitor, definition)


@transaction.atomic
def monitor_set_status(*, monitor: Monitor, status: str, now: datetime | None = None) -> Monitor:
    """Pause, or resume: Running from Paused or Failed. A resume starts the webhook's failure
    streak over and re-enables it (monitor_resumed), so a Failed monitor is Running until its
    webhook fails FLEETMON_FAILING_THRESHOLD times again, or a delivery gives up."""
    now = now or timezone.now()
    monitor = Monitor.objects.select_for_update().get(pk=monitor.pk)
    if status == monitor.status:
        return monitor
    if status == MonitorStatus.PAUSED:
        monitor.pause_started(now)
    elif monitor.status == MonitorStatus.PAUSED:
        # Nothing seen during the pause is notified: vehicles restart from "never evaluated",
        # so a condition still true fires at the next evaluation, and points dated within any
        # pause are skipped even when they arrive after it. A Failed monitor kept evaluating,
        # so it keeps its generation.
        monitor.generation += 1
        monitor.pause_ended(now)
        _schedule_time_boundary(monitor)
    monitor.status = status
    monitor.status_reason = ""
    monitor.save()
    if status == MonitorStatus.RUNNING:
        monitor_resumed.send(sender=Monitor, monitor=monitor)
    return monitor


@transaction.atomic
def monitor_delete(*, monitor: Monitor) -> None:
    """Soft delete: the monitor never evaluates or notifies again, its history stays for operators."""
    Monitor.objects.filter(pk=monitor.pk).update(deleted_at=timezone.now(), next_time_boundary=None)


@transaction.atomic
def dead_letter_replay(*, dead_letters: Iterable[DeadLetter], now: datetime | None = None) -> int:
    """Evaluate again what was held aside, from scratch: the letter goes (a new failure counts
    from one), a vehicle's points, still unevaluated, are applied in eventDate order, then the
    instant the failed evaluation was for, if any. Returns how many were replayed."""
    now = now or timezone.now()
    replayed = 0
    for letter in DeadLetter.objects.select_for_update().filter(pk__in=[letter.pk for letter in dead_letters]):
        boundary_id = None
        if letter.at is not None:
            # An instant goes back in the outbox, a boundary's or one vehicle's (its share of a
            # boundary, a reminder, an expiry), so that a lost replay message is rescued like any
            # boundary's. Points need no row: the sweeper finds those of a vehicle no longer held.
            boundary_id = BoundaryEvaluation.objects.create(
                at=letter.at, monitor_ids=letter.monitor_ids, vehicle_ids=letter.vehicle_ids, enqueued_at=now
            ).pk
        letter.delete()
        enqueue_evaluation(
            vehicle_ids=letter.vehicle_ids, at=letter.at, monitor_ids=letter.monitor_ids, boundary_id=boundary_id
        )
        replayed += 1
    return replayed

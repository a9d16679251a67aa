"""What Celery Beat drives: time-window boundaries, refresh reminders, dwell expiries, and the rescue of points
whose evaluation was never enqueued. Each sweep claims due rows with SKIP LOCKED, so sweeps
that overlap (a slow run, a second Beat by mistake) never double the work."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fleetmon_project.metrics import EVALUATION_ERRORS
from monitors.compiled import compiled_monitor
from monitors.deadletters import boundary_given_up, held_vehicles, retry_delay
from monitors.dwell import DwellState
from monitors.models import ACTIVE_STATUSES, BoundaryEvaluation, DeadLetter, Monitor, MonitorVehicleState
from telemetry.models import VehicleState
from telemetry.selectors import vehicles_pending_since

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500
# A claimed reminder or dwell expiry is not claimed again before its evaluation had time to
# run; one still due after that lost its message and is sent again.
REFRESH_CLAIM_LEASE = timedelta(seconds=60)
# A boundary evaluation still pending this long after its message is presumed lost. Longer
# than the points' rescue delay: a copy is cheap (it finds its row gone), but under an
# evaluation backlog every waiting row would otherwise get one per sweep.
BOUNDARY_RESCUE_AFTER = timedelta(minutes=2)
# When a monitor's next window boundary cannot be computed, try again this much later.
BOUNDARY_RETRY_AFTER = timedelta(hours=1)


def vehicle_chunks(vehicle_ids: Iterable[str]) -> list[list[str]]:
    """The vehicles in sorted, de-duplicated chunks of one evaluation task each."""
    ids = sorted(set(vehicle_ids))
    size = settings.FLEETMON_EVALUATION_CHUNK
    return [ids[start : start + size] for start in range(0, len(ids), size)]


@dataclass(frozen=True)
class EvaluationRequest:
    vehicle_ids: list[str]
    at: datetime | None
    monitor_ids: list[str] | None
    boundary_id: int | None = None  # the BoundaryEvaluation row the evaluation completes
    retry_id: int | None = None  # the DeadLetter the evaluation retries
    expiries: bool = False  # evaluate the monitors' dwell expiries due by `at`, nothing else


def time_boundaries_sweep(*, now: datetime | None = None) -> list[EvaluationRequest]:
    """Evaluate the vehicles of monitors whose time windows opened or closed since last time,
    and enqueue again the boundary evaluations whose message was lost."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Monitor.objects.active()
            .filter(has_time_triggers=True, next_time_boundary__lte=now)
            .select_for_update(skip_locked=True)
            .order_by("next_time_boundary")[:SWEEP_BATCH]
        )
        by_fleet: dict[str, list[str]] = defaultdict(list)
        for monitor in due:
            try:
                monitor.next_time_boundary = compiled_monitor(monitor).next_time_boundary(now)
            except Exception:
                # One broken definition must not stall every monitor's windows: it is evaluated
                # now (the engine skips it if it cannot be) and tried again later, so a fixed
                # bug or definition picks its schedule up again.
                logger.exception("time windows of monitor %s cannot be computed", monitor.pk)
                EVALUATION_ERRORS.inc()
                monitor.next_time_boundary = now + BOUNDARY_RETRY_AFTER
            by_fleet[monitor.fleet_id].append(monitor.pk)
        Monitor.objects.bulk_update(due, ["next_time_boundary"])
        rows = []
        for fleet_id, monitor_ids in by_fleet.items():
            vehicle_ids = VehicleState.objects.filter(
                vehicle__fleet_id=fleet_id, last_seen_at__isnull=False
            ).values_list("vehicle_id", flat=True)
            rows += [
                BoundaryEvaluation(at=now, monitor_ids=monitor_ids, vehicle_ids=chunk, enqueued_at=now)
                for chunk in vehicle_chunks(vehicle_ids)
            ]
        BoundaryEvaluation.objects.bulk_create(rows)

        lost = list(
            BoundaryEvaluation.objects.filter(enqueued_at__lte=now - BOUNDARY_RESCUE_AFTER)
            .select_for_update(skip_locked=True)
            .order_by("enqueued_at")[:SWEEP_BATCH]
        )
        max_attempts = settings.FLEETMON_EVALUATION_MAX_ATTEMPTS
        abandoned = [row for row in lost if row.attempts >= max_attempts]
        for row in abandoned:
            boundary_given_up(row, now=now)
        BoundaryEvaluation.objects.filter(pk__in=[row.pk for row in abandoned]).delete()
        lost = [row for row in lost if row.attempts < max_attempts]
        for row in lost:
            row.enqueued_at, row.attempts = now, row.attempts + 1
        BoundaryEvaluation.objects.bulk_update(lost, ["enqueued_at", "attempts"])
    return [
        EvaluationRequest(vehicle_ids=row.vehicle_ids, at=row.at, monitor_ids=row.monitor_ids, boundary_id=row.pk)
        for row in [*rows, *lost]
    ]


def _due_states(due_field: str, now: datetime, **conditions: object) -> list[MonitorVehicleState]:
    """The (vehicle, monitor) states of active monitors whose `due_field` has come, oldest first,
    locked with SKIP LOCKED; held vehicles are their dead letter's business."""
    return list(
        MonitorVehicleState.objects.filter(
            **{f"{due_field}__lte": now},
            **conditions,
            monitor__status__in=ACTIVE_STATUSES,
            monitor__deleted_at__isnull=True,
        )
        .exclude(vehicle_id__in=held_vehicles())
        .select_for_update(skip_locked=True, of=("self",))
        .order_by(due_field)[:SWEEP_BATCH]
    )


def refresh_reminders_sweep(*, now: datetime | None = None) -> list[EvaluationRequest]:
    """Re-evaluate (vehicle, monitor) pairs whose refresh reminder is due, without new telemetry."""
    now = now or timezone.now()
    with transaction.atomic():
        due = _due_states("next_refresh_at", now, value=True)
        by_vehicle: dict[str, list[str]] = defaultdict(list)
        for state in due:
            state.next_refresh_at = now + REFRESH_CLAIM_LEASE
            by_vehicle[state.vehicle_id].append(state.monitor_id)
        MonitorVehicleState.objects.bulk_update(due, ["next_refresh_at"])
    return [
        EvaluationRequest(vehicle_ids=[vehicle_id], at=now, monitor_ids=monitor_ids)
        for vehicle_id, monitor_ids in by_vehicle.items()
    ]


def dwell_expiries_sweep(*, now: datetime | None = None) -> list[EvaluationRequest]:
    """Evaluate the (vehicle, monitor) pairs whose dwell completes, without new telemetry, at
    its own instant (`since + minDuration`, the event's eventDate). A claim lasts
    REFRESH_CLAIM_LEASE: the evaluation clears or moves `dwell_due_at` in its commit, so one
    still due afterwards lost its message and is sent again; a copy finds nothing left due."""
    now = now or timezone.now()
    with transaction.atomic():
        due = _due_states("dwell_due_at", now)
        by_instant: dict[tuple[str, datetime], list[str]] = defaultdict(list)
        for state in due:
            # The instant is the dwell's, not the claim's: a re-sent expiry keeps its eventDate.
            expiry = DwellState.decode(state.dwell).due
            state.dwell_due_at = None if expiry is None else now + REFRESH_CLAIM_LEASE
            if expiry is not None:
                by_instant[state.vehicle_id, expiry].append(state.monitor_id)
        MonitorVehicleState.objects.bulk_update(due, ["dwell_due_at"])
    return [
        EvaluationRequest(vehicle_ids=[vehicle_id], at=at, monitor_ids=monitor_ids, expiries=True)
        for (vehicle_id, at), monitor_ids in by_instant.items()
    ]


def unevaluated_points_sweep(*, now: datetime | None = None) -> list[EvaluationRequest]:
    """Points stored but never evaluated (the enqueue was lost to a crash or a broker flush),
    and the due retries of failed evaluations. A held vehicle's points are its dead letter's
    business: rescuing them would only retry it unbounded."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.FLEETMON_POINT_RESCUE_AFTER)
    vehicle_ids = list(
        vehicles_pending_since(cutoff=cutoff)
        .exclude(pk__in=held_vehicles())
        .order_by()
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    requests = [EvaluationRequest(vehicle_ids=vehicle_ids, at=None, monitor_ids=None)] if vehicle_ids else []
    with transaction.atomic():
        due = list(
            DeadLetter.objects.filter(retry_at__lte=now)
            .select_for_update(skip_locked=True)
            .order_by("retry_at")[:SWEEP_BATCH]
        )
        for letter in due:
            # Claimed for one delay: a retry whose message is lost is sent again then.
            letter.retry_at = now + retry_delay()
        DeadLetter.objects.bulk_update(due, ["retry_at"])
    return requests + [
        EvaluationRequest(vehicle_ids=letter.vehicle_ids, at=letter.at, monitor_ids=letter.monitor_ids, retry_id=letter.pk)
        for letter in due
    ]

"""The event engine: applies stored telemetry to vehicle state and evaluates monitors.

Every evaluation of a vehicle runs in one transaction holding that vehicle's `VehicleState`
row lock, so two workers never evaluate the same vehicle at once, and the points it applied
are marked evaluated in the same commit as the events they raised: a redelivered task finds
nothing left to do and raises nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from django.db import transaction
from django.utils import timezone

from monitors.compiled import compiled_monitor
from monitors.evaluation import CompiledMonitor, Evaluation, Position, VehicleSnapshot
from monitors.extensions import build_extensions
from monitors.models import Event, Monitor, MonitorVehicleState
from monitors.signals import event_raised
from telemetry.models import TelemetryPoint, Vehicle, VehicleState
from telemetry.state import LatestState, decode_records, encode_records, merge_point

logger = logging.getLogger(__name__)


@dataclass
class _Runtime:
    monitor: Monitor
    compiled: CompiledMonitor
    refresh: timedelta | None
    state: MonitorVehicleState
    dirty: bool = False


def _lock_vehicle_state(vehicle_id: str) -> VehicleState | None:
    """Create-if-missing then lock; None when the vehicle no longer exists."""
    if not Vehicle.objects.filter(pk=vehicle_id).exists():
        return None
    VehicleState.objects.bulk_create([VehicleState(vehicle_id=vehicle_id)], ignore_conflicts=True)
    return VehicleState.objects.select_for_update().select_related("vehicle").get(vehicle_id=vehicle_id)


def _latest(row: VehicleState) -> LatestState:
    return LatestState(
        data=decode_records(row.data),
        latitude=row.latitude,
        longitude=row.longitude,
        position_at=row.position_at,
        last_seen_at=row.last_seen_at,
    )


def _store_latest(row: VehicleState, latest: LatestState) -> None:
    row.data = encode_records(latest.data)
    row.latitude, row.longitude, row.position_at = latest.latitude, latest.longitude, latest.position_at
    row.last_seen_at = latest.last_seen_at
    row.save()


def _snapshot(latest: LatestState, changed_keys: frozenset[str]) -> VehicleSnapshot:
    position = None
    if latest.position_at is not None:
        position = Position(latitude=latest.latitude, longitude=latest.longitude, at=latest.position_at)
    return VehicleSnapshot(
        data=latest.data, position=position, last_seen_at=latest.last_seen_at, changed_keys=changed_keys
    )


class VehicleEvaluator:
    """Edge detection and refresh reminders for one vehicle across its fleet's active monitors."""

    def __init__(self, vehicle: Vehicle, monitor_ids: Sequence[str] | None = None) -> None:
        self.vehicle = vehicle
        monitors = Monitor.objects.active().filter(fleet_id=vehicle.fleet_id)
        if monitor_ids is not None:
            monitors = monitors.filter(pk__in=monitor_ids)
        monitors = list(monitors)
        states = {
            state.monitor_id: state
            for state in MonitorVehicleState.objects.filter(vehicle=vehicle, monitor__in=monitors)
        }
        self.runtimes = []
        for monitor in monitors:
            state = states.get(monitor.pk) or MonitorVehicleState(
                monitor=monitor, vehicle=vehicle, generation=monitor.generation
            )
            if state.generation != monitor.generation:
                # Redefined or resumed since: this vehicle starts from "never evaluated".
                state.generation, state.value, state.since = monitor.generation, None, None
                state.last_notified_at = state.next_refresh_at = None
            refresh = monitor.refresh_event
            self.runtimes.append(
                _Runtime(
                    monitor=monitor,
                    compiled=compiled_monitor(monitor),
                    refresh=timedelta(seconds=refresh) if refresh else None,
                    state=state,
                )
            )

    def evaluate(self, latest: LatestState, changed_keys: frozenset[str], instant: datetime) -> int:
        """Evaluate every monitor at `instant`; returns how many events were raised."""
        if not self.runtimes:
            return 0
        snapshot = _snapshot(latest, changed_keys)
        raised = 0
        for runtime in self.runtimes:
            outcome = runtime.compiled.evaluate(snapshot, instant)
            raised += self._transition(runtime, outcome, latest, instant)
        return raised

    def _transition(self, runtime: _Runtime, outcome: Evaluation, latest: LatestState, instant: datetime) -> int:
        state = runtime.state
        state.last_evaluated_at = instant
        runtime.dirty = True
        if not outcome.result:
            if state.value is not False:
                state.value, state.since = False, instant
            state.next_refresh_at = None
            return 0
        if state.value is not True:
            state.value, state.since = True, instant
            return self._notify(runtime, outcome, latest, instant, refresh=False)
        due = runtime.refresh is not None and (
            state.last_notified_at is None or instant >= state.last_notified_at + runtime.refresh
        )
        return self._notify(runtime, outcome, latest, instant, refresh=True) if due else 0

    def _notify(
        self, runtime: _Runtime, outcome: Evaluation, latest: LatestState, instant: datetime, *, refresh: bool
    ) -> int:
        state = runtime.state
        state.last_notified_at = instant
        state.next_refresh_at = instant + runtime.refresh if runtime.refresh else None
        monitor = runtime.monitor
        event, created = Event.objects.get_or_create(
            monitor=monitor,
            vehicle_public_id=self.vehicle.pk,
            event_date=instant,
            refresh=refresh,
            defaults={
                "fleet_id": monitor.fleet_id,
                "vehicle": self.vehicle,
                "vin": self.vehicle.vin,
                "values": list(outcome.values),
                "extensions": build_extensions(monitor.extended_event_param, latest),
            },
        )
        if not created:
            return 0
        logger.info(
            "event raised",
            extra={"fleet": monitor.fleet_id, "monitor": monitor.pk, "vin": self.vehicle.vin, "refresh": refresh},
        )
        event_raised.send(sender=Event, event=event)
        return 1

    def save(self) -> None:
        dirty = [runtime.state for runtime in self.runtimes if runtime.dirty]
        new = [state for state in dirty if state.pk is None]
        MonitorVehicleState.objects.bulk_create(new)
        MonitorVehicleState.objects.bulk_update(
            [state for state in dirty if state not in new],
            ["generation", "value", "since", "last_evaluated_at", "last_notified_at", "next_refresh_at"],
        )


def vehicle_evaluate(
    *,
    vehicle_id: str,
    at: datetime | None = None,
    monitor_ids: Sequence[str] | None = None,
    now: datetime | None = None,
) -> int:
    """Apply the vehicle's unevaluated points in eventDate order, evaluating monitors at each
    point's own eventDate; then, with `at`, evaluate again at that instant on the last known
    state (time windows closing, refresh reminders). Returns the number of events raised."""
    now = now or timezone.now()
    with transaction.atomic():
        row = _lock_vehicle_state(vehicle_id)
        if row is None:
            return 0
        points = list(
            TelemetryPoint.objects.filter(vehicle_id=vehicle_id, evaluated_at__isnull=True).order_by("event_date", "id")
        )
        latest = _latest(row)
        if not points and (at is None or latest.last_seen_at is None):
            # A vehicle that never reported is not evaluated: `!inZone` must not fire on silence.
            return 0
        evaluator = VehicleEvaluator(row.vehicle, monitor_ids=monitor_ids if not points else None)
        raised = 0
        for point in points:
            merge = merge_point(
                latest, event_date=point.event_date, data=point.data, latitude=point.latitude, longitude=point.longitude
            )
            if merge.updated:
                raised += evaluator.evaluate(latest, merge.changed_keys, point.event_date)
        if at is not None:
            raised += evaluator.evaluate(latest, frozenset(), at)
        if points:
            _store_latest(row, latest)
            TelemetryPoint.objects.filter(pk__in=[point.pk for point in points]).update(evaluated_at=now)
        evaluator.save()
    return raised


def vehicles_evaluate(
    *, vehicle_ids: Iterable[str], at: datetime | None = None, monitor_ids: Sequence[str] | None = None
) -> int:
    return sum(vehicle_evaluate(vehicle_id=vid, at=at, monitor_ids=monitor_ids) for vid in vehicle_ids)

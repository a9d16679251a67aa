from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from django.db import models

from monitors.events import monitor_event
from monitors.spec import MonitorSpec
from telemetry.models import Fleet, Vehicle, new_public_id


class MonitorStatus(models.TextChoices):
    RUNNING = "Running"
    PAUSED = "Paused"
    # Set by notifications while the webhook keeps failing (still evaluated, cleared on
    # success), or once it is disabled for failing too long (nothing sent until re-enabled).
    FAILED = "Failed"


ACTIVE_STATUSES = (MonitorStatus.RUNNING, MonitorStatus.FAILED)


class TriggerKind(models.TextChoices):
    ZONE = "zone"
    TIME = "time"
    DATA = "data"


class MonitorQuerySet(models.QuerySet):
    def alive(self) -> MonitorQuerySet:
        return self.filter(deleted_at__isnull=True)

    def active(self) -> MonitorQuerySet:
        return self.alive().filter(status__in=ACTIVE_STATUSES)


class Monitor(models.Model):
    id = models.CharField(primary_key=True, max_length=24, default=new_public_id, editable=False)
    fleet = models.ForeignKey(Fleet, on_delete=models.CASCADE, related_name="monitors")
    label = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=MonitorStatus.choices, default=MonitorStatus.RUNNING)
    # Why the monitor is Failed, for operators (written by notifications); blank otherwise.
    status_reason = models.TextField(blank=True, default="")
    definition = models.JSONField(help_text="The canonical MonitorParameter, as GET returns it.")
    # The compiled boolExp, so workers rebuild the evaluator without parsing.
    bool_exp = models.TextField()
    trigger_names = models.JSONField()
    truth_table = models.BigIntegerField()
    has_time_triggers = models.BooleanField(default=False)
    next_time_boundary = models.DateTimeField(null=True, blank=True)
    # Bumped by PUT and by resume: per-vehicle states of older generations count as never evaluated.
    generation = models.PositiveIntegerField(default=1)
    # Every pause as [paused, resumed] ISO instants (resumed null while paused): telemetry
    # dated within one is never evaluated, even when it arrives later. A list on the row, not
    # a table, so the engine's one query for a fleet's monitors brings them along.
    pauses = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = MonitorQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["next_time_boundary"],
                name="monitor_time_boundary_idx",
                condition=models.Q(has_time_triggers=True, deleted_at__isnull=True),
            ),
            models.Index(fields=["fleet", "status"], name="monitor_fleet_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.id})"

    def pause_started(self, at: datetime) -> None:
        self.pauses = [*self.pauses, [at.isoformat(), None]]
        self.__dict__.pop("pause_intervals", None)

    def pause_ended(self, at: datetime) -> None:
        if self.pauses and self.pauses[-1][1] is None:
            self.pauses = [*self.pauses[:-1], [self.pauses[-1][0], at.isoformat()]]
        self.__dict__.pop("pause_intervals", None)

    @cached_property
    def pause_intervals(self) -> list[tuple[datetime, datetime]]:
        """The finished pauses, oldest first, as half-open [paused, resumed) intervals; parsed
        once per instance, as the engine shares one monitor across a chunk's vehicles."""
        return [
            (datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in self.pauses if end is not None
        ]

    @property
    def spec(self) -> MonitorSpec:
        """The definition's typed reading, built once per definition: a replaced `definition`
        (PUT, the admin) is read afresh."""
        spec = self.__dict__.get("_spec")
        if spec is None or spec.canonical is not self.definition:
            spec = self.__dict__["_spec"] = MonitorSpec(self.definition)
        return spec


class Trigger(models.Model):
    """One row per trigger of the definition, kept in step with it for the admin and for
    reporting (events by monitor type); the definition stays the source of truth."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="triggers")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=TriggerKind.choices)
    params = models.JSONField()

    class Meta:
        ordering = ["monitor", "position"]
        constraints = [models.UniqueConstraint(fields=["monitor", "name"], name="trigger_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class MonitorVehicleState(models.Model):
    """The expression's value for one vehicle: what edge detection and refreshes need."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="vehicle_states")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="monitor_states")
    generation = models.PositiveIntegerField()
    value = models.BooleanField(null=True, help_text="null: never evaluated in this generation")
    since = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    next_refresh_at = models.DateTimeField(null=True, blank=True)
    # minDuration triggers: when each one's condition started holding, and when the next dwell
    # completes (monitors.dwell.DwellState). Empty for monitors without minDuration.
    dwell = models.JSONField(default=dict, blank=True)
    # The dwell expiry's outbox: written in the transaction that schedules the expiry, cleared
    # by the commit of the evaluation that reaches it; the sweep claims it for a lease, so a
    # lost message is sent again (monitors.sweeps.dwell_expiries_sweep).
    dwell_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["monitor", "vehicle"], name="monitor_vehicle_state_unique")
        ]
        indexes = [
            models.Index(
                fields=["next_refresh_at"],
                name="state_refresh_due_idx",
                condition=models.Q(next_refresh_at__isnull=False),
            ),
            models.Index(
                fields=["dwell_due_at"],
                name="state_dwell_due_idx",
                condition=models.Q(dwell_due_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.monitor_id}/{self.vehicle_id}: {self.value}"


class Event(models.Model):
    fleet = models.ForeignKey(Fleet, on_delete=models.CASCADE, related_name="events")
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="events")
    # Kept when the vehicle is removed: the operator's history must not lose events.
    vehicle = models.ForeignKey(Vehicle, on_delete=models.SET_NULL, null=True, related_name="events")
    vin = models.CharField(max_length=17, db_index=True)
    vehicle_public_id = models.CharField(max_length=24)
    event_date = models.DateTimeField()
    refresh = models.BooleanField(default=False)
    values = models.JSONField(default=list)
    extensions = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-event_date", "-id"]
        constraints = [
            # A redelivered evaluation can never raise the same event twice.
            models.UniqueConstraint(
                fields=["monitor", "vehicle_public_id", "event_date", "refresh"], name="event_unique_occurrence"
            )
        ]
        indexes = [models.Index(fields=["monitor", "-event_date"], name="event_monitor_date_idx")]

    def __str__(self) -> str:
        kind = "refresh" if self.refresh else "event"
        return f"{kind} {self.monitor_id} {self.vin} @ {self.event_date.isoformat()}"

    def to_monitor_event(self) -> dict[str, Any]:
        """This event as the webhook template's `MonitorEvent` (monitors.events)."""
        return monitor_event(
            fleet_id=self.fleet_id,
            vin=self.vin,
            event_date=self.event_date,
            values=self.values,
            extensions=self.extensions,
            refresh=self.refresh,
        )


class BoundaryEvaluation(models.Model):
    """A time-window boundary's evaluation of some vehicles, enqueued but not yet done.

    The sweep advances `Monitor.next_time_boundary` and writes these rows in one transaction;
    the evaluation deletes its row in its own, and a copy of the message that finds its row
    gone does nothing. A row still here two minutes on means its message was lost (broker
    flush, dead worker), and the sweep enqueues it again: a window closing is never
    forgotten (monitors.sweeps.BOUNDARY_RESCUE_AFTER)."""

    at = models.DateTimeField()
    monitor_ids = models.JSONField()
    vehicle_ids = models.JSONField()
    enqueued_at = models.DateTimeField()
    # Messages sent for it; at FLEETMON_EVALUATION_MAX_ATTEMPTS it becomes a DeadLetter, so
    # one that can never succeed is not retried forever.
    attempts = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["enqueued_at"], name="boundary_eval_enqueued_idx")]

    def __str__(self) -> str:
        return f"boundary {self.at.isoformat()} of {len(self.vehicle_ids)} vehicles"


class DeadLetterKind(models.TextChoices):
    # A vehicle's evaluation: its unevaluated points, then `at` for `monitor_ids` when set.
    VEHICLE = "vehicle"
    # A window boundary's evaluation of some vehicles whose messages never completed.
    BOUNDARY = "boundary"


class DeadLetter(models.Model):
    """Evaluation work that keeps failing, held aside instead of being retried forever.

    A vehicle whose evaluation raises gets a row at its first failure: its points stay
    unevaluated (nothing is lost, their order is kept), every other evaluation of it waits,
    and the rescue sweep retries it every FLEETMON_POINT_RESCUE_AFTER seconds. A success
    removes the row; the FLEETMON_EVALUATION_MAX_ATTEMPTS-th failure gives it up
    (`given_up_at`): no more retries until an operator replays it from the admin. A boundary
    evaluation whose messages never completed is recorded given up at once."""

    kind = models.CharField(max_length=16, choices=DeadLetterKind.choices)
    fleet = models.ForeignKey(Fleet, on_delete=models.CASCADE, null=True, related_name="+")
    # Set for kind `vehicle`: the vehicle held until the row is gone.
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    vehicle_ids = models.JSONField()
    monitor_ids = models.JSONField(null=True, blank=True, help_text="null: every active monitor of the fleet")
    at = models.DateTimeField(null=True, blank=True, help_text="the instant evaluated after the points, if any")
    error = models.TextField()
    traceback = models.TextField(blank=True)
    attempts = models.PositiveIntegerField()
    first_failed_at = models.DateTimeField(help_text="for a boundary: when it was first enqueued")
    last_failed_at = models.DateTimeField()
    retry_at = models.DateTimeField(null=True, blank=True, help_text="null once given up")
    given_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_failed_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["vehicle"], name="dead_letter_one_per_vehicle")]
        indexes = [
            models.Index(fields=["retry_at"], name="dead_letter_retry_idx", condition=models.Q(retry_at__isnull=False))
        ]

    def __str__(self) -> str:
        state = "given up" if self.given_up_at else "retrying"
        subject = f"vehicle {self.vehicle_id}" if self.vehicle_id else f"{len(self.vehicle_ids)} vehicles"
        return f"{self.kind} {subject}, {self.attempts} attempts ({state})"

from __future__ import annotations

from typing import Any

from django.db import models

from fleetmon_project.isodates import format_rfc3339
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
    # The last pause: telemetry dated within it is never evaluated, even when it arrives later.
    paused_at = models.DateTimeField(null=True, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
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

    @property
    def refresh_event(self) -> int | None:
        return self.definition.get("subscribeParam", {}).get("refreshEvent")

    @property
    def extended_event_param(self) -> list[str]:
        return self.definition.get("extendedEventParam", [])

    @property
    def trigger_kinds(self) -> list[str]:
        triggers = self.definition.get("triggerParam", {}).get("triggers", [])
        return sorted({kind for trigger in triggers for kind in TriggerKind.values if kind in trigger})


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

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["monitor", "vehicle"], name="monitor_vehicle_state_unique")
        ]
        indexes = [
            models.Index(
                fields=["next_refresh_at"],
                name="state_refresh_due_idx",
                condition=models.Q(next_refresh_at__isnull=False),
            )
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
        """The webhook template's `MonitorEvent`: what a webhook carries and the API shows."""
        return {
            "fleetId": self.fleet_id,
            "vin": self.vin,
            "eventDate": format_rfc3339(self.event_date),
            "values": self.values,
            "extensions": self.extensions,
            "refresh": self.refresh,
        }


class BoundaryEvaluation(models.Model):
    """A time-window boundary's evaluation of some vehicles, enqueued but not yet done.

    The sweep advances `Monitor.next_time_boundary` and writes these rows in one transaction;
    the evaluation deletes its row in its own, and a copy of the message that finds its row
    gone does nothing. A row still here two minutes on means its message was lost (broker
    flush, dead worker), and the sweep enqueues it again: a window closing is never
    forgotten (monitors.sweeps.BOUNDARY_RESCUE_AFTER, BOUNDARY_MAX_ATTEMPTS)."""

    at = models.DateTimeField()
    monitor_ids = models.JSONField()
    vehicle_ids = models.JSONField()
    enqueued_at = models.DateTimeField()
    # Messages sent for it; past BOUNDARY_MAX_ATTEMPTS it is given up (logged), so one that
    # can never succeed is not retried forever.
    attempts = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["enqueued_at"], name="boundary_eval_enqueued_idx")]

    def __str__(self) -> str:
        return f"boundary {self.at.isoformat()} of {len(self.vehicle_ids)} vehicles"

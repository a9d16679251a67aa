from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import models

from monitors.models import Event, Monitor
from telemetry.models import Fleet


class WebhookSecret(models.Model):
    """Per-fleet signing secrets; after a rotation the old one keeps signing until `expires_at`."""

    fleet = models.ForeignKey(Fleet, on_delete=models.CASCADE, related_name="webhook_secrets")
    secret = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Secrets are created lazily by whichever worker signs first; this keeps two racing
            # workers from each creating an "active" one.
            models.UniqueConstraint(
                fields=["fleet"], condition=models.Q(expires_at__isnull=True), name="webhook_secret_one_active"
            )
        ]

    def __str__(self) -> str:
        return f"secret of {self.fleet_id} from {self.created_at:%Y-%m-%d %H:%M}"


class DeliveryState(models.TextChoices):
    BATCHING = "batching"  # collecting events until batchNotify's size or timeWindow
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class IllegalTransition(Exception):
    """A delivery was asked for a transition its state does not allow."""


class Delivery(models.Model):
    """One webhook request and its retries (Saleor-style outbox row). The body is frozen when
    the delivery is sealed, so every attempt sends the same bytes under the same `webhook-id`.

    Its life, the methods below being the only code that moves it (health's bulk stop writes
    `given_up_fields`)::

        batching --seal--> pending                       (batchNotify size or timeWindow reached;
                                                          at once without batchNotify)
        pending --queue--> pending                       (a new message: its Celery task id)
        pending --lease--> pending                       (a task starts an attempt)
        pending --schedule_retry--> pending              (failed; another attempt later)
        pending --mark_delivered--> delivered            (2xx)
        pending --give_up--> failed                      (retry policy exhausted, retention over,
                                                          monitor deleted, endpoint disabled)
        delivered / failed --reopen_for_replay--> pending (same webhook-id, same body)

    Transitions only change fields, refusing one the state does not allow with
    IllegalTransition; the caller holds the row lock and saves.
    """

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="deliveries")
    fleet = models.ForeignKey(Fleet, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    # Which events may share this request: "" for the whole monitor, else one vehicle's id.
    batch_key = models.CharField(max_length=24, blank=True, default="")
    webhook_id = models.CharField(max_length=40, unique=True)
    is_test = models.BooleanField(default=False)
    body = models.TextField(blank=True, default="", help_text="exact JSON bytes sent, frozen when sealed")
    # $vin/$vid/$monitorID/$fleetID of this request (from its first event), fixed when sealed:
    # the URL and headers are rendered from them at each attempt.
    variables = models.JSONField(default=dict, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    # attempt_count when the current round (first send or a replay) began: the retry policy
    # counts the attempts after it.
    retry_base = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The lease: until then the delivery belongs to the Celery task `task_id` (sending it, or
    # waiting for its countdown retry); other tasks and the sweeper leave it alone.
    in_flight_until = models.DateTimeField(null=True, blank=True)
    # The task holding the lease, or else the one last queued for the delivery.
    task_id = models.CharField(max_length=64, blank=True, default="")
    # When a message was last queued for it: the sweeper queues another only a lease later.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # FLEETMON_EVENT_RETENTION after its first event was raised: no attempt after that.
    expires_at = models.DateTimeField()
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    # What `queue` and `lease` change, for callers saving only that.
    QUEUED_FIELDS = ("task_id", "enqueued_at", "updated_at")
    LEASED_FIELDS = ("attempt_count", "task_id", "in_flight_until", "updated_at")
    DELIVERED_FIELDS = ("state", "delivered_at", "next_attempt_at", "in_flight_until", "last_error", "updated_at")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        # The sweeper's two reads are each a range of one partial index, so a sweep reads the
        # rows it acts on, not every open delivery (a backlog of queued deliveries is due, but
        # has its messages on the way): batches whose window closed by (state,
        # next_attempt_at); deliveries queued over a lease ago by (enqueued_at, ...).
        indexes = [
            models.Index(
                fields=["state", "next_attempt_at"],
                name="delivery_state_due_idx",
                condition=models.Q(state__in=["batching", "pending"]),
            ),
            models.Index(
                fields=["enqueued_at", "next_attempt_at"],
                name="delivery_requeue_idx",
                condition=models.Q(state="pending"),
            ),
            models.Index(fields=["monitor", "state"], name="delivery_monitor_state_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.state})"

    def may_lease(self, *, task_id: str, now: datetime) -> bool:
        """Whether task `task_id` may make an attempt at `now`: pending, due, and not leased
        to another task."""
        due = self.next_attempt_at is None or self.next_attempt_at <= now
        leased_to_other = self.task_id != task_id and self.in_flight_until is not None and self.in_flight_until > now
        return self.state == DeliveryState.PENDING and due and not leased_to_other

    def is_held_by(self, task_id: str) -> bool:
        """Still pending and `task_id`'s: what follows its failed attempt is that task's to decide
        (a task whose lease ran out mid-request finds another one's id here)."""
        return self.state == DeliveryState.PENDING and self.task_id == task_id

    def seal(self, *, variables: dict[str, str], body: str, now: datetime) -> None:
        """Freeze the request every attempt sends, and make it due now."""
        self._require("seal", DeliveryState.BATCHING)
        self.variables = variables
        self.body = body
        self.state = DeliveryState.PENDING
        self.next_attempt_at = now

    def queue(self, *, now: datetime, task_id: str | None = None) -> None:
        """Record a new message for it, under a new Celery task id (or `task_id`, that of the
        task which will send it itself); whichever of its messages runs first sends it (see
        `lease`)."""
        self._require("queue", DeliveryState.PENDING)
        self.task_id = task_id or uuid.uuid4().hex
        self.enqueued_at = now

    def lease(self, *, task_id: str, now: datetime, until: datetime) -> None:
        """Task `task_id` starts an attempt: counted, and the delivery is its own until `until`."""
        if not self.may_lease(task_id=task_id, now=now):
            raise IllegalTransition(f"{self} is not pending, not due or leased to another task than {task_id}")
        self.attempt_count += 1
        self.task_id = task_id
        self.in_flight_until = until

    def mark_delivered(self, *, now: datetime) -> None:
        self._require("mark delivered", DeliveryState.PENDING)
        self.state = DeliveryState.DELIVERED
        self.delivered_at = now
        self.next_attempt_at = None
        self.in_flight_until = None
        self.last_error = ""

    def schedule_retry(self, *, task_id: str, error: str, at: datetime, hold_until: datetime | None) -> None:
        """After task `task_id`'s failed attempt, the next one at `at`: by that task itself, which
        keeps the lease until `hold_until`, or, when None, by whichever task the sweeper queues."""
        self._require("retry", DeliveryState.PENDING)
        if not self.is_held_by(task_id):
            raise IllegalTransition(f"{self} is not held by task {task_id} but by {self.task_id!r}, which retries it")
        self.last_error = error
        self.next_attempt_at = at
        self.in_flight_until = hold_until
        if hold_until is None:
            self.task_id = ""

    def give_up(self, *, error: str) -> None:
        self._require("give up", DeliveryState.PENDING)
        for field, value in self.given_up_fields(error=error).items():
            setattr(self, field, value)

    @staticmethod
    def given_up_fields(*, error: str) -> dict[str, Any]:
        """What `give_up` sets, for a bulk update of many deliveries."""
        return {"state": DeliveryState.FAILED, "last_error": error, "next_attempt_at": None, "in_flight_until": None}

    def reopen_for_replay(self, *, now: datetime) -> None:
        """Due again now with a fresh retry policy; the body and webhook-id stay."""
        self._require("replay", DeliveryState.DELIVERED, DeliveryState.FAILED)
        self.state = DeliveryState.PENDING
        self.retry_base = self.attempt_count
        self.next_attempt_at = now
        self.delivered_at = None
        self.last_error = ""

    def _require(self, transition: str, *states: str) -> None:
        if self.state not in states:
            allowed = " or ".join(states)
            raise IllegalTransition(f"cannot {transition} {self}: only a {allowed} delivery can be")


class DeliveryEvent(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="delivery_events")
    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="delivery_link")

    class Meta:
        ordering = ["event__event_date", "event_id"]

    def __str__(self) -> str:
        return f"event {self.event_id} in delivery {self.delivery_id}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    # Null while the request is in flight; stays null if the worker died during it.
    finished_at = models.DateTimeField(null=True, blank=True)
    url = models.TextField(help_text="target with query values redacted")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    task_id = models.CharField(max_length=64, blank=True, default="")

    OUTCOME_FIELDS = ("finished_at", "status_code", "duration_ms", "response_excerpt", "error")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="attempt_unique_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookHealth(models.Model):
    """The failure streak of a monitor's webhook (test sends excluded), the "endpoint" whose
    health notifications.services.health judges: it turns the monitor `Failed` at
    FLEETMON_FAILING_THRESHOLD, disables the endpoint after FLEETMON_ENDPOINT_DISABLE_AFTER
    without a success, and starts over on the next success, a resume or a replay."""

    monitor = models.OneToOneField(Monitor, on_delete=models.CASCADE, primary_key=True, related_name="webhook_health")
    consecutive_failures = models.PositiveIntegerField(default=0)
    # The first failure of the current streak: null while the webhook is healthy.
    failing_since = models.DateTimeField(null=True, blank=True)
    # Set when the streak outlasted FLEETMON_ENDPOINT_DISABLE_AFTER: nothing is sent until it
    # is cleared (resume, replay, or a success of an attempt already in flight).
    disabled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        state = "disabled" if self.disabled_at is not None else "enabled"
        return f"{self.monitor_id}: {self.consecutive_failures} failures in a row ({state})"

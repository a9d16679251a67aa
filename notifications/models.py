from __future__ import annotations

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


class Delivery(models.Model):
    """One webhook request and its retries (Saleor-style outbox row). The body is frozen when
    the delivery is sealed, so every attempt sends the same bytes under the same `webhook-id`."""

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
    # The lease: until then the delivery belongs to the Celery task `claimed_by` (sending it,
    # or waiting for its countdown retry); other tasks and the sweeper leave it alone.
    in_flight_until = models.DateTimeField(null=True, blank=True)
    # The task holding the lease, or else the one last queued for the delivery.
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    # When a message was last queued for it: the sweeper queues another only a lease later.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # FLEETMON_EVENT_RETENTION after its first event was raised: no attempt after that.
    expires_at = models.DateTimeField()
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due_idx",
                condition=models.Q(state__in=["batching", "pending"]),
            ),
            models.Index(fields=["monitor", "state"], name="delivery_monitor_state_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.state})"


class DeliveryEvent(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="delivery_events")
    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="delivery_link")

    class Meta:
        ordering = ["event__event_date", "event_id"]


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
    health notifications.health judges: it turns the monitor `Failed` at
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

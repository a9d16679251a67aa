from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

VIN_PATTERN = r"^[A-HJ-NPR-Z0-9]{17}$"


def new_public_id() -> str:
    """Opaque 24-hex ids like the reference's (`0a123bc5d1e873066454b4d9`): not guessable,
    not enumerable, stable across databases."""
    return secrets.token_hex(12)


class Fleet(models.Model):
    id = models.CharField(primary_key=True, max_length=24, default=new_public_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="fleets")
    label = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.label} ({self.id})"


class Vehicle(models.Model):
    id = models.CharField(primary_key=True, max_length=24, default=new_public_id, editable=False)
    fleet = models.ForeignKey(Fleet, on_delete=models.CASCADE, related_name="vehicles")
    vin = models.CharField(
        max_length=17,
        unique=True,
        validators=[RegexValidator(VIN_PATTERN, "17 characters of the ISO 3779 alphabet (no I, O, Q)")],
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The `seq` of the vehicle's last point stored. Ingestion claims the next numbers under this
    # row's lock until it commits, so a vehicle's points become visible in `seq` order and a
    # watermark (VehicleState.applied_seq) can say which are applied without touching them.
    points_stored = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.vin

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Only ingestion moves the counter, under the row's lock. An instance read before a
        # batch committed (an admin's change form) would otherwise write its stale count back,
        # and the next batches would reuse numbers the watermark has already passed.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name for field in self._meta.concrete_fields if not field.primary_key and field.name != "points_stored"
            ]
        super().save(*args, **kwargs)


class TelemetryPoint(models.Model):
    """A point as received, stored before the API answers 202 and never updated: it is applied
    once its vehicle's watermark (VehicleState.applied_seq) passes its `seq`, so a sweeper can
    finish what a crash interrupted."""

    # No index of its own: both composite indexes below begin with it, and every point written
    # pays for each index of the table (migration 0007).
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="points", db_index=False)
    seq = models.BigIntegerField(editable=False, help_text="Its number among the vehicle's points, from 1.")
    event_date = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["event_date", "id"]
        constraints = [
            # Also what the engine reads: a vehicle's points past its watermark.
            models.UniqueConstraint(fields=["vehicle", "seq"], name="point_vehicle_seq_unique"),
        ]
        indexes = [
            models.Index(fields=["vehicle", "event_date"], name="point_vehicle_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} @ {self.event_date.isoformat()}"


# A point is received after the points of its vehicle stored before it: its batch claims its
# number only once theirs committed. Only the clocks of several API hosts can disagree, by far
# less than this, among themselves or with PostgreSQL's. Reads that bound received_at by it, so
# as to probe only the partitions of the days around the points they want, read again without
# bounds whatever falls short of them.
RECEIVED_AT_SLACK = timedelta(hours=1)


class VehicleState(models.Model):
    """The latest known value of each key and of the position, per vehicle.

    `data` maps a key to `{"value", "at", "previous", "hasPrevious"}` (`at` as RFC 3339); the
    row is also the per-vehicle lock that serialises evaluations across workers.
    """

    vehicle = models.OneToOneField(Vehicle, on_delete=models.CASCADE, primary_key=True, related_name="state")
    data = models.JSONField(default=dict, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    position_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # The watermark: the vehicle's points up to this `seq` are applied, written in the same
    # commit as the state they moved.
    applied_seq = models.BigIntegerField(default=0)
    # When the point at the watermark was received: the points past it were received after it
    # (give or take the API hosts' clocks), which lets the engine read only the recent days'
    # partitions of the points table.
    applied_received_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"state of {self.vehicle_id}"


def new_client_id() -> str:
    """Public, yet unguessable: knowing one client's id tells nothing about another's."""
    return secrets.token_hex(16)


class ApiClient(models.Model):
    """Credentials of a client written for the Stellantis reference: HTTP Basic with the
    owner's username and this secret, plus `client_id` in the query. Requests act as `owner`,
    exactly as with the owner's token. Only a digest of the secret is stored
    (fleetmon_project.authentication.secret_digest)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_clients")
    client_id = models.CharField(max_length=64, unique=True, default=new_client_id, editable=False)
    label = models.CharField(max_length=255, blank=True)
    secret_hash = models.CharField(max_length=128, editable=False)
    is_active = models.BooleanField(default=True, help_text="Unticked, the client is refused at once (401).")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "API client"

    def __str__(self) -> str:
        return f"{self.label or 'API client'} ({self.client_id})"

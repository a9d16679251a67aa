from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from telemetry.models import ApiClient, Fleet, Vehicle


def fleet_list(*, owner: AbstractBaseUser) -> QuerySet[Fleet]:
    return Fleet.objects.filter(owner=owner).order_by("created_at", "id")


def fleet_get(*, owner: AbstractBaseUser, fleet_id: str) -> Fleet:
    """Another owner's fleet is indistinguishable from a missing one (404, never 403)."""
    fleet = Fleet.objects.filter(owner=owner, pk=fleet_id).first()
    if fleet is None:
        raise Http404("fleet not found")
    return fleet


def vehicle_list(*, fleet: Fleet, vin_prefix: str | None = None) -> QuerySet[Vehicle]:
    vehicles = fleet.vehicles.order_by("created_at", "id")
    return vehicles.filter(vin__startswith=vin_prefix) if vin_prefix else vehicles


def vehicle_get(*, fleet: Fleet, vehicle_id: str) -> Vehicle:
    vehicle = fleet.vehicles.filter(pk=vehicle_id).first()
    if vehicle is None:
        raise Http404("vehicle not found")
    return vehicle


def api_client_get_active(*, client_id: str) -> ApiClient | None:
    """One query per authenticated request: a deactivated client or a rotated secret is
    seen at once, whatever the verification cache holds."""
    return (
        ApiClient.objects.select_related("owner")
        .filter(client_id=client_id, is_active=True, owner__is_active=True)
        .first()
    )

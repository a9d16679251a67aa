from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from fleetmon_project.errors import conflict
from telemetry.models import Fleet, Vehicle


def fleet_create(*, owner: AbstractBaseUser, label: str) -> Fleet:
    return Fleet.objects.create(owner=owner, label=label)


def fleet_update(*, fleet: Fleet, label: str) -> Fleet:
    fleet.label = label
    fleet.save(update_fields=["label", "updated_at"])
    return fleet


def fleet_delete(*, fleet: Fleet) -> None:
    fleet.delete()


def vehicle_create(*, fleet: Fleet, vin: str) -> Vehicle:
    vin = vin.upper()
    try:
        with transaction.atomic():
            return Vehicle.objects.create(fleet=fleet, vin=vin)
    except IntegrityError:
        raise conflict(f"VIN {vin} is already registered", field="vin") from None


def vehicle_delete(*, vehicle: Vehicle) -> None:
    vehicle.delete()

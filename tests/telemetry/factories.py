from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import factory
from django.contrib.auth import get_user_model

from telemetry.ingestion import ValidPoint
from telemetry.models import ApiClient, Fleet, TelemetryPoint, Vehicle
from telemetry.services import api_client_create, points_store

VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


def random_vin() -> str:
    return "".join(random.choice(VIN_ALPHABET) for _ in range(17))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"owner{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")


class FleetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fleet

    owner = factory.SubFactory(UserFactory)
    label = factory.Sequence(lambda n: f"Fleet {n}")


class VehicleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vehicle

    fleet = factory.SubFactory(FleetFactory)
    vin = factory.LazyFunction(random_vin)


def store_points(vehicle: Vehicle, points: Iterable[Mapping[str, Any]]) -> list[TelemetryPoint]:
    """Points stored as ingestion stores them, numbered after the vehicle's last one; each is
    given by TelemetryPoint's fields: `event_date`, and optionally `data`, `latitude`, `longitude`."""
    valid = [
        ValidPoint(
            vehicle_id=vehicle.pk,
            event_date=point["event_date"],
            latitude=point.get("latitude"),
            longitude=point.get("longitude"),
            data=point.get("data") or {},
        )
        for point in points
    ]
    points_store(points=valid)
    return list(TelemetryPoint.objects.filter(vehicle=vehicle).order_by("-seq")[: len(valid)])[::-1]


def store_point(vehicle: Vehicle, **fields: Any) -> TelemetryPoint:
    return store_points(vehicle, [fields])[0]


def api_client_with_secret(*, owner, label: str = "", is_active: bool = True) -> tuple[ApiClient, str]:  # noqa: ANN001
    """An API client through the real service, with the secret only the creator ever sees."""
    client, secret = api_client_create(owner=owner, label=label)
    if not is_active:
        client.is_active = False
        client.save(update_fields=["is_active"])
    return client, secret


def point(**overrides: Any) -> dict[str, Any]:
    """A point as a client posts it to /api/v1/telemetry, a minute old, for VIN VF3ABCDE0FG123456."""
    body = {
        "vin": "VF3ABCDE0FG123456",
        "eventDate": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "position": {"latitude": 48.85, "longitude": 2.35},
        "data": {"vehicle.energy.electric.level": 55, "vehicle.kinetic.moving": True},
    }
    body.update(overrides)
    return body

from __future__ import annotations

import random

import factory
from django.contrib.auth import get_user_model

from telemetry.models import Fleet, Vehicle

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

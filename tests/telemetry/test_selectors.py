"""Tests of telemetry.selectors' reads that have a PostgreSQL path of their own."""

from __future__ import annotations

import pytest

from telemetry.selectors import vehicle_ids_by_vin
from tests.telemetry.factories import FleetFactory, VehicleFactory

pytestmark = pytest.mark.django_db


def test_vins_resolve_across_the_owners_fleets_and_never_to_another_owners_vehicle() -> None:
    mine = FleetFactory()
    also_mine = FleetFactory(owner=mine.owner)
    theirs = FleetFactory()
    first = VehicleFactory(fleet=mine, vin="VF3AAAAA000000001")
    second = VehicleFactory(fleet=also_mine, vin="VF3AAAAA000000002")
    VehicleFactory(fleet=theirs, vin="VF3AAAAA000000003")

    vins = {"VF3AAAAA000000001", "VF3AAAAA000000002", "VF3AAAAA000000003", "VF3UNKNOWN0000000"}
    found = vehicle_ids_by_vin(owner=mine.owner, vins=vins)

    assert found == {"VF3AAAAA000000001": first.pk, "VF3AAAAA000000002": second.pk}
    assert vehicle_ids_by_vin(owner=mine.owner, vins=set()) == {}

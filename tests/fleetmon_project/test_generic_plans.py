"""The hot path's statements keep plans bounded by their batch when prepared: a generic plan
gets the batch's ids as an array parameter and must probe an index per id, not compare every
row of a table with every id."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from monitors import engine
from telemetry.ingestion import ValidPoint
from telemetry.selectors import vehicle_ids_by_vin
from telemetry.services import points_store
from tests.plans import array_filters, generic_plans
from tests.telemetry.factories import VehicleFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements"),
]


@pytest.fixture
def vehicles(fleet):
    return [VehicleFactory(fleet=fleet) for _ in range(5)]


def test_ingestion_looks_up_vins_and_claims_sequence_numbers_by_index(user, vehicles):
    points = [
        ValidPoint(vehicle_id=vehicle.pk, event_date=datetime(2026, 1, 1, tzinfo=UTC), latitude=None, longitude=None, data={})
        for vehicle in vehicles[:3]
    ]
    with generic_plans() as plans:
        found = vehicle_ids_by_vin(owner=user, vins=[vehicle.vin for vehicle in vehicles[:3]])
        points_store(points=points)
    assert found == {vehicle.vin: vehicle.pk for vehicle in vehicles[:3]}
    assert len(plans) >= 3  # the lookup, the claim, the insert
    assert array_filters(plans) == []


def test_the_pending_read_finds_its_vehicles_by_index(vehicles):
    with generic_plans() as plans:
        engine._vehicles_pending_read([vehicle.pk for vehicle in vehicles[:2]], retry_id=None)
    assert plans
    assert array_filters(plans) == []

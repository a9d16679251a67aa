"""Data migrations, run backwards and forwards against the real database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.migrations import migrate, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("telemetry", "0003_api_client")]
AFTER = [("telemetry", "0004_points_written_once")]
T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def test_points_are_numbered_and_each_watermark_stops_before_the_first_unevaluated_point(user):
    apps = migrate(BEFORE)
    Fleet, Vehicle = apps.get_model("telemetry", "Fleet"), apps.get_model("telemetry", "Vehicle")
    Point, State = apps.get_model("telemetry", "TelemetryPoint"), apps.get_model("telemetry", "VehicleState")
    fleet = Fleet.objects.create(owner_id=user.pk, label="f")
    caught_up, behind, never, silent = (
        Vehicle.objects.create(fleet=fleet, vin=f"VF3ABCDE0FG12345{n}") for n in range(4)
    )
    for vehicle, evaluated in ((caught_up, [T0, T0]), (behind, [T0, T0, None, None]), (never, [None])):
        for evaluated_at in evaluated:
            Point.objects.create(vehicle=vehicle, event_date=T0, evaluated_at=evaluated_at)
    State.objects.create(vehicle=caught_up)
    State.objects.create(vehicle=behind)
    try:
        apps = migrate(AFTER)
        Vehicle, Point = apps.get_model("telemetry", "Vehicle"), apps.get_model("telemetry", "TelemetryPoint")
        State = apps.get_model("telemetry", "VehicleState")
        assert list(Point.objects.filter(vehicle_id=behind.pk).order_by("id").values_list("seq", flat=True)) == [1, 2, 3, 4]
        assert dict(Vehicle.objects.values_list("pk", "points_stored")) == {
            caught_up.pk: 2, behind.pk: 4, never.pk: 1, silent.pk: 0
        }
        assert dict(State.objects.values_list("pk", "applied_seq")) == {caught_up.pk: 2, behind.pk: 2}

        Point = migrate(BEFORE).get_model("telemetry", "TelemetryPoint")
        evaluated = Point.objects.filter(evaluated_at__isnull=False)
        assert sorted(evaluated.values_list("vehicle_id", flat=True)) == sorted([caught_up.pk] * 2 + [behind.pk] * 2)
    finally:
        migrate_to_latest()

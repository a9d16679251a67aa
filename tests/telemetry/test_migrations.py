"""Data migrations, run backwards and forwards against the real database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

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


PARTITIONED = [("telemetry", "0005_points_partitioned_by_day")]


def point_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, vehicle_id, seq, received_at, data FROM telemetry_telemetrypoint ORDER BY id")
        return cursor.fetchall()


def point_table_shape() -> tuple[str, dict[str, str], dict[str, str]]:
    """The table's kind (r: plain, p: partitioned), and its constraints' and indexes'
    definitions by name."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = 'telemetry_telemetrypoint'::regclass")
        (kind,) = cursor.fetchone()
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'telemetry_telemetrypoint'::regclass"
        )
        constraints = dict(cursor.fetchall())
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'telemetry_telemetrypoint'")
        return kind, constraints, dict(cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's partitions")
def test_partitioning_keeps_every_point_in_its_day_s_partition_and_unpartitioning_gives_the_table_back(user):
    Point = migrate(AFTER).get_model("telemetry", "TelemetryPoint")
    Fleet, Vehicle = Point._meta.apps.get_model("telemetry", "Fleet"), Point._meta.apps.get_model("telemetry", "Vehicle")
    vehicle = Vehicle.objects.create(fleet=Fleet.objects.create(owner_id=user.pk, label="f"), vin="VF3ABCDE0FG123456")
    for seq, received_at in enumerate((T0, T0.replace(hour=23, minute=59), datetime(2026, 7, 4, tzinfo=UTC)), 1):
        point = Point.objects.create(vehicle=vehicle, seq=seq, event_date=T0, data={"n": seq})
        Point.objects.filter(pk=point.pk).update(received_at=received_at)
    rows, unpartitioned = point_rows(), point_table_shape()
    try:
        Point = migrate(PARTITIONED).get_model("telemetry", "TelemetryPoint")
        assert point_rows() == rows
        with connection.cursor() as cursor:
            cursor.execute("SELECT tableoid::regclass::text FROM telemetry_telemetrypoint ORDER BY id")
            assert [name for (name,) in cursor.fetchall()] == [
                "telemetry_telemetrypoint_p20260601", "telemetry_telemetrypoint_p20260601", "telemetry_telemetrypoint_p20260704"
            ]
        kind, constraints, indexes = point_table_shape()
        assert kind == "p"
        assert constraints["telemetry_telemetrypoint_pkey"] == "PRIMARY KEY (id, received_at)"
        assert constraints["point_vehicle_seq_unique"] == "UNIQUE (vehicle_id, seq, received_at)"
        assert constraints.keys() == unpartitioned[1].keys()
        assert indexes.keys() == unpartitioned[2].keys()
        # The ids go on after the copied ones.
        assert Point.objects.create(vehicle_id=vehicle.pk, seq=4, event_date=T0).pk == rows[-1][0] + 1

        migrate(AFTER)
        assert point_rows()[:3] == rows
        assert point_table_shape() == unpartitioned
    finally:
        migrate_to_latest()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's partitioned indexes")
def test_the_points_foreign_key_loses_its_own_indexes_and_gets_them_back_on_reversal(user):
    migrate([("telemetry", "0006_watermark_received_at")])
    with_them = point_table_shape()
    try:
        migrate([("telemetry", "0007_point_vehicle_index_dropped")])
        kind, constraints, indexes = point_table_shape()
        assert sorted(indexes) == [
            "point_vehicle_date_idx",
            "point_vehicle_seq_unique",
            "telemetry_telemetrypoint_pkey",
            "telemetry_telemetrypoint_received_at_b120e64f",
        ]
        assert constraints == with_them[1], "the foreign key itself stays"

        migrate([("telemetry", "0006_watermark_received_at")])
        assert point_table_shape() == with_them
    finally:
        migrate_to_latest()


def table_options(table: str) -> list[str] | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [table])
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's storage parameters")
def test_vehicle_and_state_pages_keep_room_for_their_rows_next_versions():
    assert table_options("telemetry_vehicle") == table_options("telemetry_vehiclestate") == ["fillfactor=70"]
    try:
        migrate([("telemetry", "0007_point_vehicle_index_dropped")])
        assert table_options("telemetry_vehicle") is None and table_options("telemetry_vehiclestate") is None
    finally:
        migrate_to_latest()

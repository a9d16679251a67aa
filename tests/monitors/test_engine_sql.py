"""The engine's hand-written PostgreSQL reads answer as the ORM querysets they stand for:
if a queryset's condition changes, these fail until the SQL follows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitors import engine
from monitors.deadletters import evaluation_failed
from monitors.models import Monitor, MonitorStatus, MonitorVehicleState
from telemetry.models import RECEIVED_AT_SLACK, Vehicle, VehicleState
from telemetry.retention import partition_name
from tests.monitors.factories import MonitorFactory
from tests.plans import partitions_after, relations_scanned, rows_read
from tests.telemetry.factories import FleetFactory, VehicleFactory, random_vin, store_points

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL written by hand is PostgreSQL's"),
]


def _vehicle(fleet, *, stored: int, applied: int | None) -> Vehicle:
    vehicle = VehicleFactory(fleet=fleet)
    Vehicle.objects.filter(pk=vehicle.pk).update(points_stored=stored)
    if applied is not None:
        VehicleState.objects.create(vehicle=vehicle, applied_seq=applied)
    return vehicle


def test_the_pending_read_answers_as_the_orm(fleet):
    never_evaluated = _vehicle(fleet, stored=2, applied=None)
    behind = _vehicle(fleet, stored=3, applied=1)
    caught_up = _vehicle(fleet, stored=2, applied=2)
    silent = _vehicle(fleet, stored=0, applied=None)
    held = _vehicle(fleet, stored=5, applied=1)
    letter = evaluation_failed(vehicle_id=held.pk, at=None, monitor_ids=None, error=RuntimeError("x"), now=timezone.now())
    assert letter is not None
    ids = sorted(vehicle.pk for vehicle in (never_evaluated, behind, caught_up, silent, held))

    assert engine._vehicles_pending_read(ids, retry_id=None) == engine._vehicles_pending_read_orm(ids, retry_id=None)
    assert engine._vehicles_pending_read(ids, retry_id=None) == {never_evaluated.pk: False, behind.pk: True}
    # Its own retry sees the held vehicle.
    assert engine._vehicles_pending_read(ids, retry_id=letter.pk) == engine._vehicles_pending_read_orm(
        ids, retry_id=letter.pk
    )
    assert held.pk in engine._vehicles_pending_read(ids, retry_id=letter.pk)


def test_the_locking_read_skips_held_vehicles_and_decodes_the_state(fleet):
    free = _vehicle(fleet, stored=1, applied=0)
    held = _vehicle(fleet, stored=1, applied=0)
    evaluation_failed(vehicle_id=held.pk, at=None, monitor_ids=None, error=RuntimeError("x"), now=timezone.now())
    VehicleState.objects.filter(vehicle=free).update(data={"k": {"value": 1}}, last_seen_at=datetime(2026, 1, 1, tzinfo=UTC))

    (row,) = engine._vehicle_states_lock(sorted([free.pk, held.pk]), retry_id=None)

    assert row == (free.pk, fleet.pk, free.vin, {"k": {"value": 1}}, None, None, None,
                   datetime(2026, 1, 1, tzinfo=UTC), 0, None, 1)


def test_the_monitors_read_answers_as_the_orm(fleet):
    running, failed, paused, deleted = (MonitorFactory(fleet=fleet) for _ in range(4))
    Monitor.objects.filter(pk=failed.pk).update(status=MonitorStatus.FAILED)
    Monitor.objects.filter(pk=paused.pk).update(status=MonitorStatus.PAUSED)
    Monitor.objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())
    MonitorFactory(fleet=FleetFactory(owner=fleet.owner))  # another fleet's

    read = [monitor.pk for monitor in engine._active_monitors_read([fleet.pk])]

    expected = Monitor.objects.active().filter(fleet_id__in=[fleet.pk]).order_by("created_at", "id")
    assert read == [monitor.pk for monitor in expected] == [running.pk, failed.pk]


def test_the_states_read_answers_as_the_orm(fleet):
    first, second, other = (MonitorFactory(fleet=fleet) for _ in range(3))
    chunk = [VehicleFactory(fleet=fleet) for _ in range(2)]
    outside = VehicleFactory(fleet=fleet)
    since = datetime(2026, 1, 1, tzinfo=UTC)
    for monitor in (first, second, other):
        for vehicle in (*chunk, outside):
            MonitorVehicleState.objects.create(
                monitor=monitor, vehicle=vehicle, generation=1, value=True, since=since,
                dwell={"started": {"d": "2026-01-01T00:00:00+00:00"}} if monitor is second else {},
            )
    vehicle_ids, monitor_ids = sorted(v.pk for v in chunk), [first.pk, second.pk]

    read = engine._monitor_states_read(vehicle_ids, monitor_ids)

    expected = MonitorVehicleState.objects.filter(vehicle_id__in=vehicle_ids, monitor_id__in=monitor_ids)
    assert sorted(read, key=lambda s: (s.monitor_id, s.vehicle_id)) == sorted(
        (engine.MonitorState(*values) for values in expected.values_list(*engine._STATE_FIELDS)),
        key=lambda s: (s.monitor_id, s.vehicle_id),
    )
    assert len(read) == 4 and {state.vehicle_id for state in read} == set(vehicle_ids)


def test_the_states_read_probes_the_chunks_vehicles_not_the_fleets_states(fleet):
    """1,000 vehicles under 10 monitors, in a table never analyzed (a new deployment, or
    autovacuum off): a chunk of 50 reads its 500 states, not the 10,000 of the monitors once
    per vehicle."""
    monitors = [MonitorFactory(fleet=fleet) for _ in range(10)]
    vehicles = Vehicle.objects.bulk_create(Vehicle(fleet=fleet, vin=random_vin()) for _ in range(1000))
    MonitorVehicleState.objects.bulk_create(
        MonitorVehicleState(monitor=monitor, vehicle=vehicle, generation=1, value=False)
        for vehicle in vehicles
        for monitor in monitors
    )
    chunk = [vehicle.pk for vehicle in vehicles[::20]]

    with CaptureQueriesContext(connection) as captured:
        read = engine._monitor_states_read(chunk, [monitor.pk for monitor in monitors])

    assert len(read) == 500
    (sql,) = (query["sql"] for query in captured.captured_queries)
    assert rows_read(sql, MonitorVehicleState._meta.db_table, index_entries=True) <= 2 * len(read)


def test_the_points_read_probes_the_partitions_of_the_hours_around_it_not_the_days_ahead(fleet):
    """Retention keeps a week of empty daily partitions ahead: the bounded read prunes them rather
    than probing each for every vehicle."""
    vehicle = VehicleFactory(fleet=fleet)
    first, second = store_points(vehicle, [{"event_date": datetime(2026, 6, 1, tzinfo=UTC)}] * 2)
    mark = engine._Watermark(seq=1, received_at=first.received_at)

    with CaptureQueriesContext(connection) as captured:
        read = engine._points_read({vehicle.pk: mark}, since=first.received_at - RECEIVED_AT_SLACK)

    assert [row[1] for row in read] == [second.seq]
    (sql,) = (query["sql"] for query in captured.captured_queries)
    scanned = relations_scanned(sql)
    assert partition_name(second.received_at.date()) in scanned
    assert not scanned & partitions_after((timezone.now() + RECEIVED_AT_SLACK).date())

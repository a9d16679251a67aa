"""Points are numbered per vehicle as they are stored, and stored once: the engine's progress
is a watermark in the vehicle's state, never a write to the points."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitors import engine
from telemetry.ingestion import ValidPoint
from telemetry.models import RECEIVED_AT_SLACK, TelemetryPoint, Vehicle, VehicleState
from telemetry.retention import partition_name
from telemetry.selectors import PendingPoints, points_pending, points_pending_summary, vehicles_pending_since
from telemetry.services import points_store
from tests.plans import partitions_after, relations_scanned, rows_read
from tests.telemetry.factories import VehicleFactory, point, store_point, store_points

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
# Row versions (xmin) and row locks that other connections wait on: what only PostgreSQL has.
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL's row locks and xmin")


def seqs(vehicle) -> list[int]:
    return list(TelemetryPoint.objects.filter(vehicle=vehicle).order_by("id").values_list("seq", flat=True))


@pytest.mark.django_db
def test_points_are_numbered_per_vehicle_in_the_order_of_the_batch_and_across_batches(api, fleet):
    first = VehicleFactory(fleet=fleet, vin="VF3ABCDE0FG123456")
    second = VehicleFactory(fleet=fleet, vin="VF3ABCDE0FG654321")
    batch = [point(), point(vin=second.vin), point(), point(vin=second.vin), point()]
    assert api.post("/api/v1/telemetry", batch, format="json").status_code == 202
    assert api.post("/api/v1/telemetry", [point(vin=second.vin)], format="json").status_code == 202

    assert seqs(first) == [1, 2, 3]
    assert seqs(second) == [1, 2, 3]
    assert dict(Vehicle.objects.values_list("vin", "points_stored")) == {first.vin: 3, second.vin: 3}
    assert points_pending_summary().count == 6


@pytest.mark.django_db
def test_a_rejected_batch_claims_no_number(api, fleet):
    vehicle = VehicleFactory(fleet=fleet, vin="VF3ABCDE0FG123456")
    assert api.post("/api/v1/telemetry", [point(), point(eventDate="yesterday")], format="json").status_code == 400
    assert api.post("/api/v1/telemetry", point(), format="json").status_code == 202
    assert seqs(vehicle) == [1]


@postgresql_only
@pytest.mark.django_db
def test_evaluation_moves_the_watermark_and_never_writes_a_point_again(fleet):
    vehicle = VehicleFactory(fleet=fleet)
    store_points(vehicle, [{"event_date": T0, "data": {"vehicle.kinetic.moving": True}}] * 2)
    versions = set(TelemetryPoint.objects.extra(select={"version": "xmin::text"}).values_list("id", "version"))

    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], now=T0)
    store_point(vehicle, event_date=T0 + timedelta(seconds=1))

    assert VehicleState.objects.get(vehicle=vehicle).applied_seq == 2
    assert [p.seq for p in points_pending()] == [3]
    # xmin is the transaction that wrote the row version: unchanged means never rewritten.
    assert versions <= set(TelemetryPoint.objects.extra(select={"version": "xmin::text"}).values_list("id", "version"))
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], now=T0)
    assert VehicleState.objects.get(vehicle=vehicle).applied_seq == 3
    assert points_pending_summary().count == 0


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_batch_waits_for_the_one_before_it_of_the_same_vehicle_and_evaluations_never_wait(fleet):
    vehicle = VehicleFactory(fleet=fleet)
    claimed, release, second_stored = threading.Event(), threading.Event(), threading.Event()

    def in_thread(body) -> threading.Thread:
        def run() -> None:
            try:
                body()
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def first() -> None:
        with transaction.atomic():
            store_point(vehicle, event_date=T0)
            claimed.set()
            release.wait(10)

    def second() -> None:
        store_point(vehicle, event_date=T0 + timedelta(seconds=1))
        second_stored.set()

    threads = [in_thread(first)]
    assert claimed.wait(10)
    threads.append(in_thread(second))
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '5s'")  # an evaluation that waited would fail, not hang
    try:
        assert engine.vehicles_evaluate(vehicle_ids=[vehicle.pk]) == 0
        assert not second_stored.wait(0.5)  # behind the first batch's lock on the vehicle
    finally:
        release.set()
        for thread in threads:
            thread.join(10)
    assert second_stored.is_set()

    assert list(TelemetryPoint.objects.order_by("seq").values_list("seq", "event_date")) == [
        (1, T0),
        (2, T0 + timedelta(seconds=1)),
    ]
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk])
    assert VehicleState.objects.get(vehicle=vehicle).applied_seq == 2


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_from_many_threads_number_every_point_once(fleet):
    vehicles = [VehicleFactory(fleet=fleet) for _ in range(5)]
    errors: list[BaseException] = []

    def post(order: list) -> None:
        try:
            for _ in range(10):
                points_store(points=[_valid(vehicle) for vehicle in order])
        except BaseException as exc:  # a deadlock would land here
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(order,)) for order in (vehicles, vehicles[::-1], vehicles[1:] + vehicles[:1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    for vehicle in vehicles:
        assert sorted(seqs(vehicle)) == list(range(1, 31))
    assert set(Vehicle.objects.values_list("points_stored", flat=True)) == {30}


def _valid(vehicle) -> ValidPoint:
    return ValidPoint(vehicle_id=vehicle.pk, event_date=T0, latitude=None, longitude=None, data={})


@pytest.mark.django_db
def test_the_admin_lists_points_applied_or_waiting(admin_client, fleet):
    evaluated, waiting = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    store_point(evaluated, event_date=T0)
    engine.vehicles_evaluate(vehicle_ids=[evaluated.pk], now=T0)
    store_point(evaluated, event_date=T0 + timedelta(seconds=1))
    store_point(waiting, event_date=T0)

    def listed(applied: str) -> list[tuple[str, int]]:
        response = admin_client.get("/admin/telemetry/telemetrypoint/", {"applied": applied})
        assert response.status_code == 200
        return sorted((p.vehicle.vin, p.seq) for p in response.context["cl"].result_list)

    assert listed("yes") == [(evaluated.vin, 1)]
    assert listed("no") == sorted([(evaluated.vin, 2), (waiting.vin, 1)])
    page = admin_client.get(f"/admin/telemetry/telemetrypoint/{TelemetryPoint.objects.get(vehicle=waiting).pk}/change/")
    assert page.status_code == 200 and b"applied" in page.content.lower()


@pytest.mark.django_db
def test_the_oldest_pending_point_of_a_vehicle_never_evaluated_counts(fleet):
    evaluated, never = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    store_point(evaluated, event_date=T0)
    engine.vehicles_evaluate(vehicle_ids=[evaluated.pk], now=T0)
    first = store_point(never, event_date=T0)
    store_point(evaluated, event_date=T0)

    assert not VehicleState.objects.filter(vehicle=never).exists()
    assert points_pending_summary().oldest_received_at == first.received_at


@pytest.mark.django_db
def test_the_oldest_pending_point_received_by_a_skewed_clock_still_counts(fleet):
    vehicle = VehicleFactory(fleet=fleet)
    first = store_point(vehicle, event_date=T0)
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], now=T0)
    # As stored by an API host whose clock runs two hours late: outside the probe's bounds.
    late = store_point(vehicle, event_date=T0 + timedelta(seconds=1))
    late_received = first.received_at - timedelta(hours=2)
    TelemetryPoint.objects.filter(pk=late.pk).update(received_at=late_received)

    assert points_pending_summary().oldest_received_at == late_received
    assert list(vehicles_pending_since(cutoff=late_received).values_list("pk", flat=True)) == [vehicle.pk]


@postgresql_only
@pytest.mark.django_db
def test_the_oldest_pending_point_is_not_sought_in_the_partitions_ahead(fleet):
    """Retention keeps the days past and a week ahead: the probe for the first point past each
    watermark reads the partitions around now, not the days ahead."""
    vehicle = VehicleFactory(fleet=fleet)
    store_point(vehicle, event_date=T0)
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], now=T0)
    second = store_point(vehicle, event_date=T0 + timedelta(seconds=1))

    with CaptureQueriesContext(connection) as captured:
        assert points_pending_summary().oldest_received_at == second.received_at

    (sql,) = (query["sql"] for query in captured.captured_queries)
    scanned = relations_scanned(sql)
    assert partition_name(second.received_at.date()) in scanned
    assert not scanned & partitions_after((timezone.now() + RECEIVED_AT_SLACK).date())


@postgresql_only
@pytest.mark.django_db
def test_the_oldest_pending_point_is_probed_by_its_number_not_sought_among_the_backlog(fleet):
    vehicle = VehicleFactory(fleet=fleet)
    store_point(vehicle, event_date=T0)
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], now=T0)
    backlog = store_points(vehicle, [{"event_date": T0 + timedelta(seconds=n)} for n in range(1, 201)])

    with CaptureQueriesContext(connection) as captured:
        assert points_pending_summary() == PendingPoints(count=200, oldest_received_at=backlog[0].received_at)

    (sql,) = (query["sql"] for query in captured.captured_queries)
    assert rows_read(sql, partition_name(backlog[0].received_at.date())) == 1


@pytest.mark.django_db
def test_a_point_received_before_its_watermarks_time_by_a_skewed_clock_is_still_applied(fleet, caplog):
    vehicle = VehicleFactory(fleet=fleet)
    first = store_point(vehicle, event_date=T0)
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], now=T0)
    assert VehicleState.objects.get(vehicle=vehicle).applied_received_at == first.received_at
    # As stored by an API host whose clock runs two hours late.
    late = store_point(vehicle, event_date=T0 + timedelta(seconds=1))
    TelemetryPoint.objects.filter(pk=late.pk).update(received_at=first.received_at - timedelta(hours=2))

    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], now=T0)

    state = VehicleState.objects.get(vehicle=vehicle)
    assert (state.applied_seq, state.applied_received_at) == (2, first.received_at - timedelta(hours=2))
    assert "points received outside their watermark's bounds; read again" in caplog.text


@pytest.mark.django_db
def test_a_point_received_ahead_of_the_databases_clock_is_still_applied(fleet, caplog):
    vehicle = VehicleFactory(fleet=fleet)
    store_point(vehicle, event_date=T0)
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], now=T0)
    # As stored by an API host whose clock runs two hours ahead of PostgreSQL's.
    early = store_point(vehicle, event_date=T0 + timedelta(seconds=1))
    TelemetryPoint.objects.filter(pk=early.pk).update(received_at=early.received_at + timedelta(hours=2))

    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], now=T0)

    assert VehicleState.objects.get(vehicle=vehicle).applied_seq == 2
    reread = "points received outside their watermark's bounds; read again" in caplog.text
    assert reread == (connection.vendor == "postgresql")  # the only one with a bound ahead


@pytest.mark.django_db
def test_a_gap_left_by_the_received_at_bound_is_read_again_even_when_newer_points_make_up_the_count(fleet):
    vehicle = VehicleFactory(fleet=fleet)
    first = store_point(vehicle, event_date=T0)
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], now=T0)
    skewed, newer = (store_point(vehicle, event_date=T0 + timedelta(seconds=n)) for n in (1, 2))
    TelemetryPoint.objects.filter(pk=skewed.pk).update(received_at=first.received_at - timedelta(hours=2))
    mark = engine._Watermark(seq=1, received_at=first.received_at)

    # As when the counter was read with one point due and the next committed before the read:
    # one point read, as many as were due, yet not the one the watermark needs next.
    points, watermarks = engine._points_past_watermarks({vehicle.pk: (mark, 1)})

    assert [event_date for event_date, *_ in points[vehicle.pk]] == [skewed.event_date, newer.event_date]
    assert watermarks[vehicle.pk].seq == 3


@pytest.mark.django_db
def test_saving_a_vehicle_read_before_a_batch_keeps_the_batchs_numbers(fleet):
    vehicle = VehicleFactory(fleet=fleet)
    stale = Vehicle.objects.get(pk=vehicle.pk)
    store_points(vehicle, [{"event_date": T0}, {"event_date": T0}])

    stale.vin = "VF3ABCDE0FG999999"
    stale.save()  # as the admin's change form does, with the count it read

    assert Vehicle.objects.values_list("vin", "points_stored").get(pk=vehicle.pk) == ("VF3ABCDE0FG999999", 2)
    store_point(vehicle, event_date=T0)
    assert seqs(vehicle) == [1, 2, 3]


@pytest.mark.django_db
def test_a_batch_whose_vehicle_was_deleted_meanwhile_is_refused_whole(fleet):
    from rest_framework.exceptions import APIException

    kept, gone = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    points, gone_id = [_valid(kept), _valid(gone)], gone.pk
    gone.delete()

    with pytest.raises(APIException) as refused, transaction.atomic():  # the caller's transaction
        points_store(points=points)

    assert refused.value.status_code == 409 and gone_id in str(refused.value.detail)
    assert not TelemetryPoint.objects.exists()
    assert Vehicle.objects.get(pk=kept.pk).points_stored == 0

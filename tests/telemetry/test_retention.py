"""Telemetry retention: daily partitions of the points on PostgreSQL (by received_at), whole
days dropped past FLEETMON_TELEMETRY_RETENTION, batched deletes on SQLite."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection, transaction

from fleetmon_project.celery import app
from telemetry import retention
from telemetry.models import RECEIVED_AT_SLACK, TelemetryPoint, Vehicle, VehicleState
from telemetry.retention import DEFAULT_PARTITION, partition_name, points_retention_apply
from telemetry.tasks import sweep_telemetry_retention
from tests.telemetry.factories import VehicleFactory, store_points

# Far from the days the test database's migration partitioned (around the real today).
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's partitions")


@pytest.fixture(autouse=True)
def _thirty_days(settings):
    settings.FLEETMON_TELEMETRY_RETENTION = 30


def store_received(vehicle: Vehicle, *received: datetime, applied: bool = True) -> list[TelemetryPoint]:
    """A point received at each instant, as ingestion stores it; applied (the vehicle's
    watermark past it) unless told otherwise."""
    points = []
    for at in received:
        with mock.patch("telemetry.services.timezone.now", return_value=at):
            points += store_points(vehicle, [{"event_date": at}])
    if applied:
        vehicle.refresh_from_db()
        VehicleState.objects.update_or_create(vehicle=vehicle, defaults={"applied_seq": vehicle.points_stored})
    # As if committed: PostgreSQL drops no partition whose rows' deferred foreign-key checks
    # are still pending in the test's transaction.
    connection.check_constraints()
    return points


def partition_of(point: TelemetryPoint) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TelemetryPoint._meta.db_table} WHERE id = %s", [point.pk])
        return cursor.fetchone()[0]


def partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass",
            [TelemetryPoint._meta.db_table],
        )
        return {name for (name,) in cursor.fetchall()}


def days(first: date, count: int) -> set[str]:
    return {partition_name(first + timedelta(days=n)) for n in range(count)}


def received_ats() -> list[datetime]:
    return sorted(TelemetryPoint.objects.values_list("received_at", flat=True))


@postgresql_only
@pytest.mark.django_db
def test_points_land_in_the_partition_of_the_day_they_were_received(fleet):
    points_retention_apply(now=NOW)
    vehicle = VehicleFactory(fleet=fleet)

    late, early = store_received(vehicle, NOW.replace(hour=23, minute=59), NOW.replace(hour=0) + timedelta(days=1))

    assert partition_of(late) == partition_name(date(2026, 6, 15))
    assert partition_of(early) == partition_name(date(2026, 6, 16))


@postgresql_only
@pytest.mark.django_db
def test_retention_creates_the_partitions_of_today_and_the_days_ahead_once(fleet):
    first = points_retention_apply(now=NOW)
    again = points_retention_apply(now=NOW + timedelta(hours=1))

    assert first.created == [date(2026, 6, 15) + timedelta(days=n) for n in range(retention.PARTITION_DAYS_AHEAD + 1)]
    assert again.created == []
    assert days(date(2026, 6, 15), retention.PARTITION_DAYS_AHEAD + 1) <= partitions()


@postgresql_only
@pytest.mark.django_db
def test_a_point_received_on_a_day_without_partition_is_kept_in_the_default_partition(fleet):
    vehicle = VehicleFactory(fleet=fleet)

    (point,) = store_received(vehicle, NOW)

    assert partition_name(NOW.date()) not in partitions()
    assert partition_of(point) == DEFAULT_PARTITION
    assert TelemetryPoint.objects.get().pk == point.pk


@postgresql_only
@pytest.mark.django_db
def test_creating_a_partition_moves_into_it_the_points_of_its_day_the_default_partition_holds(fleet, caplog):
    vehicle = VehicleFactory(fleet=fleet)
    stored = store_received(vehicle, NOW - timedelta(days=2), NOW, NOW + timedelta(hours=1))

    with caplog.at_level(logging.WARNING, logger="telemetry.retention"):
        run = points_retention_apply(now=NOW)

    assert {date(2026, 6, 13), date(2026, 6, 15)} <= set(run.created)
    moved = list(TelemetryPoint.objects.filter(vehicle=vehicle).order_by("seq"))
    assert [(p.pk, p.seq, p.received_at) for p in moved] == [(p.pk, p.seq, p.received_at) for p in stored]
    assert [partition_of(p) for p in moved] == [partition_name(date(2026, 6, 13))] + [partition_name(NOW.date())] * 2
    assert "moved 2 point(s)" in caplog.text


@postgresql_only
@pytest.mark.django_db
def test_retention_drops_the_partitions_entirely_past_it_and_keeps_the_rest(fleet):
    vehicle = VehicleFactory(fleet=fleet)
    # The cut-off is 2026-05-16 12:00: the 15th is entirely past it, the 16th only partly.
    for day in (date(2026, 5, 10), date(2026, 5, 15), date(2026, 5, 16), date(2026, 6, 1)):
        retention.point_partition_create(day=day)
    store_received(vehicle, *(datetime(2026, 5, d, 6, tzinfo=UTC) for d in (10, 15, 16)), datetime(2026, 6, 1, tzinfo=UTC))

    run = points_retention_apply(now=NOW)

    assert run.dropped == [date(2026, 5, 10), date(2026, 5, 15)]
    assert partition_name(date(2026, 5, 15)) not in partitions()
    assert {partition_name(date(2026, 5, 16)), partition_name(date(2026, 6, 1))} <= partitions()
    assert received_ats() == [datetime(2026, 5, 16, 6, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)]


@postgresql_only
@pytest.mark.django_db
def test_points_past_the_retention_in_the_default_partition_are_deleted_in_batches(fleet):
    vehicle = VehicleFactory(fleet=fleet)
    old = [datetime(2026, 5, 1, tzinfo=UTC) + timedelta(hours=n) for n in range(5)]
    store_received(vehicle, *old, NOW)

    run = points_retention_apply(now=NOW, batch_size=2)

    assert run.deleted == 5
    assert received_ats() == [NOW]
    assert partition_of(TelemetryPoint.objects.get()) == partition_name(NOW.date())


@pytest.mark.django_db
def test_points_received_past_the_retention_are_gone_and_the_others_kept(fleet):
    """On either database: SQLite deletes them in batches, PostgreSQL drops their days."""
    vehicle = VehicleFactory(fleet=fleet)
    if connection.vendor == "postgresql":
        retention.point_partition_create(day=date(2026, 5, 1))
    store_received(vehicle, *(datetime(2026, 5, 1, h, tzinfo=UTC) for h in range(3)), datetime(2026, 6, 1, tzinfo=UTC))

    points_retention_apply(now=NOW, batch_size=2)

    assert received_ats() == [datetime(2026, 6, 1, tzinfo=UTC)]


@pytest.mark.django_db
def test_retention_keeps_points_not_applied_yet_and_says_so(fleet, caplog):
    held = VehicleFactory(fleet=fleet)
    store_received(held, datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 2, tzinfo=UTC), applied=False)
    caught_up = VehicleFactory(fleet=fleet)
    store_received(caught_up, datetime(2026, 4, 30, tzinfo=UTC), datetime(2026, 5, 1, 12, tzinfo=UTC))

    with caplog.at_level(logging.WARNING, logger="telemetry.retention"):
        run = points_retention_apply(now=NOW)

    assert run.cutoff == datetime(2026, 5, 1, tzinfo=UTC) - RECEIVED_AT_SLACK
    assert received_ats() == [
        datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 1, 12, tzinfo=UTC), datetime(2026, 5, 2, tzinfo=UTC)
    ]
    assert "not applied yet" in caplog.text


@pytest.mark.django_db
def test_retention_keeps_a_later_pending_point_stamped_earlier_by_a_late_clock(fleet):
    held = VehicleFactory(fleet=fleet)
    # The second point came through an API host whose clock ran 30 minutes late: it bears
    # the day before its vehicle's oldest pending point.
    store_received(held, datetime(2026, 5, 1, 0, 20, tzinfo=UTC), datetime(2026, 4, 30, 23, 50, tzinfo=UTC), applied=False)

    run = points_retention_apply(now=NOW)

    assert run.cutoff == datetime(2026, 5, 1, 0, 20, tzinfo=UTC) - RECEIVED_AT_SLACK
    assert received_ats() == [datetime(2026, 4, 30, 23, 50, tzinfo=UTC), datetime(2026, 5, 1, 0, 20, tzinfo=UTC)]


@contextmanager
def in_thread(body) -> Iterator[threading.Thread]:  # noqa: ANN001
    errors: list[BaseException] = []

    def run() -> None:
        try:
            body()
        except BaseException as exc:  # handed to the test below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    yield thread
    thread.join(timeout=30)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_create_each_partition_once_and_lose_no_point(fleet, settings):
    # Days no other test partitions, as these outlive the test (DDL is not flushed), and a
    # retention that drops none of the partitions other tests use.
    later = datetime.now(UTC) + timedelta(days=400)
    settings.FLEETMON_TELEMETRY_RETENTION = 1000
    vehicle = VehicleFactory(fleet=fleet)
    (point,) = store_received(vehicle, later)
    start = threading.Barrier(2)
    runs: list[retention.RetentionRun] = []

    def apply() -> None:
        start.wait()
        runs.append(points_retention_apply(now=later))

    try:
        with in_thread(apply), in_thread(apply):
            pass
        created = sorted(runs[0].created + runs[1].created)
        assert created == [later.date() + timedelta(days=n) for n in range(retention.PARTITION_DAYS_AHEAD + 1)]
        assert partition_of(TelemetryPoint.objects.get()) == partition_name(later.date())
        assert TelemetryPoint.objects.get().pk == point.pk
    finally:
        with connection.cursor() as cursor:
            for name in days(later.date(), retention.PARTITION_DAYS_AHEAD + 1):
                cursor.execute(f"DROP TABLE IF EXISTS {name}")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_busy_points_table_makes_retention_wait_for_its_next_run_not_block_ingestion(settings, monkeypatch, caplog):
    monkeypatch.setattr(retention, "_LOCK_TIMEOUT", "200ms")
    later = datetime.now(UTC) + timedelta(days=500)
    settings.FLEETMON_TELEMETRY_RETENTION = 1000
    reading, done = threading.Event(), threading.Event()

    def long_read() -> None:
        with transaction.atomic():
            TelemetryPoint.objects.exists()  # a backtest's read, holding its lock until commit
            reading.set()
            done.wait(timeout=10)

    with in_thread(long_read):
        reading.wait(timeout=10)
        with caplog.at_level(logging.WARNING, logger="telemetry.retention"):
            run = points_retention_apply(now=later)
        done.set()

    assert run.created == []
    assert "points table busy" in caplog.text


def test_beat_runs_retention_hourly_on_the_sweeps_queue():
    (entry,) = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == sweep_telemetry_retention.name]

    assert entry["schedule"] == 3600
    assert entry["options"]["queue"] == "sweeps"
    assert app.amqp.router.route({}, sweep_telemetry_retention.name)["queue"].name == "sweeps"


@pytest.mark.django_db
def test_the_retention_task_applies_the_retention(fleet):
    vehicle = VehicleFactory(fleet=fleet)
    store_received(vehicle, datetime.now(UTC) - timedelta(days=90), datetime.now(UTC))

    sweep_telemetry_retention.delay()

    assert TelemetryPoint.objects.count() == 1


def test_a_retention_below_one_day_stops_the_process():
    env = {**os.environ, "FLEETMON_TELEMETRY_RETENTION": "0"}
    result = subprocess.run(
        [sys.executable, "-c", "import fleetmon_project.settings"], env=env, capture_output=True, text=True
    )

    assert result.returncode != 0
    assert "FLEETMON_TELEMETRY_RETENTION=0 must be at least 1" in result.stderr



"""Tests of fleetmon_project.rows: a row inserted and a known row's fields updated as save() writes
them, and joined rows read into model instances as a queryset reads them."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection

from fleetmon_project import rows
from fleetmon_project.rows import model_columns, models_from_row, row_fields_update, row_insert
from monitors.models import Monitor
from notifications.models import DeliveryAttempt
from telemetry.models import Fleet
from tests.monitors.factories import MonitorFactory
from tests.notifications.factories import delivery_for, raise_event, webhook_monitor
from tests.telemetry.factories import FleetFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_only_the_named_fields_are_written():
    fleet = FleetFactory(label="before")
    owner = fleet.owner_id
    fleet.label = "after"
    fleet.owner = UserFactory()

    row_fields_update(fleet, fields=("label",))

    stored = Fleet.objects.get(pk=fleet.pk)
    assert (stored.label, stored.owner_id) == ("after", owner)


def test_an_auto_now_field_is_stamped_on_the_row_and_the_instance():
    fleet = FleetFactory()
    before = Fleet.objects.get(pk=fleet.pk).updated_at

    row_fields_update(fleet, fields=("label", "updated_at"))

    assert fleet.updated_at > before
    assert Fleet.objects.get(pk=fleet.pk).updated_at == fleet.updated_at


def test_each_write_builds_its_statement_once_per_process_and_stamps_every_time():
    rows._update_statement.cache_clear()
    fleet = FleetFactory()
    stamps = []
    for label in ("first", "second"):
        fleet.label = label
        row_fields_update(fleet, fields=("label", "updated_at"))
        stamps.append(fleet.updated_at)
    row_fields_update(fleet, fields=("label",))

    assert rows._update_statement.cache_info().misses == 2  # one per set of fields
    assert stamps[1] > stamps[0]
    assert Fleet.objects.get(pk=fleet.pk).label == "second"


def test_a_row_gone_is_an_error_not_a_silent_no_op():
    fleet = FleetFactory()
    Fleet.objects.filter(pk=fleet.pk).delete()

    with pytest.raises(DatabaseError, match="the row is gone"):
        row_fields_update(fleet, fields=("label",))


def test_an_inserted_row_gets_its_generated_key_and_its_defaults():
    delivery = delivery_for(raise_event(monitor=webhook_monitor(fleet=FleetFactory(), target="http://x/")))
    attempt = DeliveryAttempt(delivery=delivery, number=1, started_at=delivery.created_at, url="http://x/", task_id="t")

    row_insert(attempt)

    assert attempt.pk is not None and not attempt._state.adding
    stored = DeliveryAttempt.objects.get(pk=attempt.pk)
    assert (stored.delivery_id, stored.number, stored.url, stored.task_id) == (delivery.pk, 1, "http://x/", "t")
    assert (stored.duration_ms, stored.error, stored.finished_at) == (0, "", None)


def test_an_inserted_row_has_its_auto_now_fields_stamped():
    fleet = Fleet(owner=UserFactory(), label="new")

    row_insert(fleet)

    stored = Fleet.objects.get(pk=fleet.pk)
    assert fleet.created_at is not None and stored.created_at == fleet.created_at
    assert stored.updated_at == fleet.updated_at is not None


def _joined_row(monitor: Monitor) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_columns(Monitor, 'monitor')}, {model_columns(Fleet, 'fleet')}, 42"
            f" FROM {Monitor._meta.db_table} AS monitor JOIN {Fleet._meta.db_table} AS fleet"
            " ON fleet.id = monitor.fleet_id WHERE monitor.id = %s",
            [monitor.pk],
        )
        return cursor.fetchone()


def test_joined_rows_read_as_a_queryset_reads_them():
    monitor = MonitorFactory(pauses=[["2026-01-01T00:00:00+00:00", None]])

    (read_monitor, read_fleet), rest = models_from_row(_joined_row(monitor), Monitor, Fleet)

    expected = Monitor.objects.get(pk=monitor.pk)
    assert {f.attname: getattr(read_monitor, f.attname) for f in Monitor._meta.concrete_fields} == {
        f.attname: getattr(expected, f.attname) for f in Monitor._meta.concrete_fields
    }
    assert isinstance(read_monitor.definition, dict) and read_monitor.pauses == [["2026-01-01T00:00:00+00:00", None]]
    assert (read_fleet.pk, read_fleet.label) == (monitor.fleet_id, monitor.fleet.label)
    assert rest == [42]


def test_models_read_from_a_row_save_as_rows_read_from_the_database():
    monitor = MonitorFactory()
    (read_monitor, _), _ = models_from_row(_joined_row(monitor), Monitor, Fleet)

    read_monitor.label = "renamed"
    read_monitor.save()  # an update of the existing row, not an insert of a second one

    assert Monitor.objects.filter(fleet_id=monitor.fleet_id).count() == 1
    assert Monitor.objects.get(pk=monitor.pk).label == "renamed"

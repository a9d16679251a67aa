from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone
from psycopg.pq import Format

from fleetmon_project.postgres import UtcTimestamptzLoader
from monitors.models import MonitorVehicleState
from tests.monitors.factories import MonitorFactory
from tests.telemetry.factories import VehicleFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's timestamptz loader"),
]


def _connection_loader() -> type:
    connection.ensure_connection()
    return connection.connection.adapters.get_loader(1184, Format.TEXT)


def test_utc_connections_parse_timestamptz_in_c() -> None:
    assert _connection_loader() is UtcTimestamptzLoader


def test_loaded_datetimes_are_what_djangos_loader_gives() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT '2026-03-29 01:59:59.999999+00'::timestamptz, '2026-01-01 10:00:00.123+02'::timestamptz,"
            " NULL::timestamptz, '0001-01-01 00:00:00+00'::timestamptz"
        )
        row = cursor.fetchone()
    assert row == (
        datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 1, 1, 8, 0, 0, 123000, tzinfo=UTC),
        None,
        datetime(1, 1, 1, tzinfo=UTC),
    )
    # Not just equal: the very tzinfo Django's loader sets, so nothing downstream can tell.
    assert row[0].tzinfo is UTC and row[1].tzinfo is UTC


def test_model_datetimes_round_trip() -> None:
    monitor = MonitorFactory()
    vehicle = VehicleFactory(fleet=monitor.fleet)
    since = timezone.now().replace(microsecond=123456)
    MonitorVehicleState.objects.create(monitor=monitor, vehicle=vehicle, generation=1, value=True, since=since)
    assert MonitorVehicleState.objects.values_list("since", flat=True).get() == since


def test_a_session_not_in_utc_keeps_djangos_loader() -> None:
    paris = type(connections[DEFAULT_DB_ALIAS])({**connection.settings_dict, "TIME_ZONE": "Europe/Paris"}, DEFAULT_DB_ALIAS)
    paris.ensure_connection()
    try:
        loader = paris.connection.adapters.get_loader(1184, Format.TEXT)
        assert loader is not UtcTimestamptzLoader
        assert loader.timezone == ZoneInfo("Europe/Paris")
    finally:
        paris.close()

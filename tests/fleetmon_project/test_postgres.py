from __future__ import annotations

import ast
import os
import subprocess
import sys
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


def _prepared_statements_in_session() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


def test_a_repeated_statement_is_prepared_on_the_server_with_its_parameters_bound_there() -> None:
    threshold = connection.settings_dict["OPTIONS"].get("prepare_threshold")
    if threshold is None:
        pytest.skip("DATABASE_PREPARED_STATEMENTS is off in this environment")
    statement = "SELECT count(*) FROM telemetry_vehicle WHERE vin = %s"
    with connection.cursor() as cursor:
        # psycopg prepares a statement once it has run it `prepare_threshold` times.
        for _ in range(threshold + 1):
            cursor.execute(statement, ["VF3PREPARED000001"])
    assert "SELECT count(*) FROM telemetry_vehicle WHERE vin = $1" in _prepared_statements_in_session()


def _database_options(**env: str) -> dict[str, object]:
    code = "from django.conf import settings; print(settings.DATABASES['default'].get('OPTIONS', {}))"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fleetmon_project.settings",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
        **env,
    }
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    options: dict[str, object] = ast.literal_eval(done.stdout.strip())
    return options


@pytest.mark.parametrize(("setting", "prepared"), [
    ("true", {"server_side_binding": True, "prepare_threshold": 5}),
    ("false", {}),
])
def test_prepared_statements_follow_their_setting(setting: str, prepared: dict[str, object]) -> None:
    options = _database_options(DATABASE_PREPARED_STATEMENTS=setting)
    assert {key: options[key] for key in ("server_side_binding", "prepare_threshold") if key in options} == prepared


def test_a_silent_database_host_is_given_up_on_within_about_a_minute() -> None:
    options = _database_options()
    # Probes start after 30 s idle, three 10 s apart; unacknowledged writes fail after 60 s.
    assert options["keepalives"] == 1
    assert (options["keepalives_idle"], options["keepalives_interval"], options["keepalives_count"]) == (30, 10, 3)
    assert options["tcp_user_timeout"] == 60_000
    assert options["connect_timeout"] == 10


def test_connection_options_in_the_database_url_override_the_defaults() -> None:
    url = "postgres://postgres@127.0.0.1:5432/unused?keepalives_idle=5&connect_timeout=3"
    options = _database_options(DATABASE_URL=url)
    assert (int(str(options["keepalives_idle"])), int(str(options["connect_timeout"]))) == (5, 3)
    assert options["keepalives_count"] == 3


def test_connections_to_postgresql_carry_the_keepalive_options() -> None:
    connection.ensure_connection()
    dsn = connection.connection.info.dsn
    assert "keepalives_idle=30" in dsn
    assert "tcp_user_timeout=60000" in dsn

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitors.models import Event
from tests.monitors.factories import MonitorFactory
from tests.telemetry.factories import VehicleFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def monitor(fleet):
    return MonitorFactory(fleet=fleet)


def make_event(monitor, vehicle, seconds: int, refresh: bool = False) -> Event:
    return Event.objects.create(
        fleet=monitor.fleet,
        monitor=monitor,
        vehicle=vehicle,
        vin=vehicle.vin,
        vehicle_public_id=vehicle.pk,
        event_date=T0 + timedelta(seconds=seconds),
        refresh=refresh,
        values=[{"data": "vehicle.odometer", "value": {"type": "string", "body": {"literalValue": "12"}}}],
        extensions=[],
    )


def test_events_are_listed_newest_first_in_the_template_shape(api, fleet, monitor):
    vehicle = VehicleFactory(fleet=fleet)
    make_event(monitor, vehicle, 0)
    make_event(monitor, vehicle, 60, refresh=True)
    body = api.get(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/events").json()
    assert body["total"] == 2
    newest, oldest = body["_embedded"]["events"]
    assert newest["eventDate"] == "2026-06-01T10:01:00.000Z" and newest["refresh"] is True
    assert oldest["refresh"] is False
    assert set(oldest) == {"id", "monitorId", "fleetId", "vin", "eventDate", "values", "extensions", "refresh"}
    assert (oldest["vin"], oldest["fleetId"], oldest["monitorId"]) == (vehicle.vin, fleet.pk, monitor.pk)


def test_events_filter_by_vin_and_time_range(api, fleet, monitor):
    first, second = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    for seconds in (0, 60, 120):
        make_event(monitor, first, seconds)
    make_event(monitor, second, 30)
    url = f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/events"
    by_vin = api.get(url, {"vin": second.vin.lower()}).json()
    assert [e["vin"] for e in by_vin["_embedded"]["events"]] == [second.vin]
    window = api.get(url, {"since": "2026-06-01T10:00:30Z", "until": "2026-06-01T10:02:00Z"}).json()
    assert [e["eventDate"] for e in window["_embedded"]["events"]] == [
        "2026-06-01T10:01:00.000Z",
        "2026-06-01T10:00:30.000Z",
    ]


@pytest.mark.parametrize(
    "query, field",
    [
        ({"since": "yesterday"}, "since"),
        ({"colour": "red"}, "colour"),
        ({"since": "٢٠٢٦-06-01T10:00:00Z"}, "since"),  # Arabic-Indic digits, read as 2026 by Django
        ({"until": "2026-06-01T10:00:00"}, "until"),  # RFC 3339 requires the offset
        ({"until": "0001-01-01T00:00:00+01:00"}, "until"),  # year 0 in UTC
    ],
)
def test_bad_event_filters_answer_400(api, fleet, monitor, query, field):
    response = api.get(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/events", query)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_filter_with_an_offset_postgresql_cannot_store_is_compared_in_utc(api, fleet, monitor):
    url = f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/events"
    assert api.get(url, {"since": "2026-06-01T10:00:00+22:25"}).status_code == 200


def test_events_of_a_deleted_monitor_are_kept_but_not_served(api, fleet, monitor):
    from monitors.services import monitor_delete

    make_event(monitor, VehicleFactory(fleet=fleet), 0)
    monitor_delete(monitor=monitor)
    assert api.get(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/events").status_code == 404
    assert Event.objects.filter(monitor=monitor).count() == 1


def test_events_survive_vehicle_removal(api, fleet, monitor):
    vehicle = VehicleFactory(fleet=fleet)
    make_event(monitor, vehicle, 0)
    api.delete(f"/api/v1/fleets/{fleet.pk}/vehicles/{vehicle.pk}")
    body = api.get(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/events").json()
    assert [e["vin"] for e in body["_embedded"]["events"]] == [vehicle.vin]


def test_empty_filter_value_is_rejected(api, fleet, monitor):
    response = api.get(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/events?until=")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "until", "message": "must not be empty"}]

"""extendedEventParam: extensions built from a vehicle's latest state, in the template's shape,
each body the reference API's model for its type without HAL links."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from monitors.extensions import build_extensions
from telemetry.reference import derive_data, derive_trip
from telemetry.state import KeyRecord, LatestState, merge_point
from tests.notifications.support import assert_extension_models, assert_monitor_events
from tests.telemetry.test_reference import STATUS

AT = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)
STAMP = "2026-06-01T10:00:00.000Z"
VIN = "VF3ABCDE0FG123456"


def state(**data) -> LatestState:
    return LatestState(
        data={key: KeyRecord(value=value, at=AT) for key, value in data.items()},
        latitude=48.85,
        longitude=2.35,
        position_at=AT,
        last_seen_at=AT,
    )


def body_with(extensions: list[dict]) -> dict:
    event = {"fleetId": "f", "vin": VIN, "eventDate": "2026-06-01T10:00:00.000Z"}
    event.update(values=[], extensions=extensions, refresh=False)
    return {"monitorId": "m", "attributes": [], "events": [event]}


def assert_reference_models(extensions: list[dict]) -> None:
    """The template's MonitorEvents, and each body against the API model its type names."""
    assert_monitor_events(body_with(extensions))
    assert_extension_models(body_with(extensions))


def test_alert_codes_become_alert_objects_valid_in_the_template():
    extensions = build_extensions(["vehicle.alerts"], state(**{"vehicle.alert": ["A1", "B2"]}), vin=VIN)
    assert extensions == [
        {"type": "vehicle.alerts", "body": {"alerts": [{"value": "A1", "createdAt": STAMP}, {"value": "B2", "createdAt": STAMP}]}}
    ]
    assert_monitor_events(body_with(extensions))


def test_a_status_received_comes_back_in_every_extension_as_reference_models():
    latest = state(**derive_data(STATUS), **derive_trip({"_links": {}, "id": "T1", "distance": 3.5}))
    params = ["vehicle.position", "vehicle.status", "vehicle.doorsState", "vehicle.trip", "vehicle.telemetry"]
    extensions = build_extensions(params, latest, vin=VIN)
    assert [extension["type"] for extension in extensions] == params
    assert_reference_models(extensions)
    position, status, doors, trip, telemetry = (extension["body"] for extension in extensions)
    assert position["position"]["geometry"]["coordinates"] == [2.35, 48.85]
    assert status["status"]["vin"] == VIN and status["status"]["energies"][0]["level"] == 55.5
    assert "_links" not in status["status"]["stolen"]  # the template's bodies carry no HAL links
    assert doors == {"doorState": {**{k: v for k, v in STATUS["doorsState"].items() if k != "createdAt"}, "createdAt": STAMP}}
    assert trip == {"trip": {"id": "T1", "distance": 3.5, "vin": VIN, "createdAt": STAMP}}
    assert telemetry["telemetry"]["vehicle"]["battery"] == {"voltage": 12.4}


def test_telemetry_requests_are_merged_into_one_telemetry_item():
    latest = state(**{"vehicle.telemetry.vehicle.battery": {"voltage": 12.4}, "environment.air.temp": 31})
    merge_point(latest, event_date=AT + timedelta(minutes=1), data={"vehicle.energy.fuel.level": 40})
    extensions = build_extensions(
        ["vehicle.position", "vehicle.telemetry.vehicle.battery", "environment.air.temp", "vehicle.odometer"], latest, vin=VIN
    )
    assert [extension["type"] for extension in extensions] == ["vehicle.position", "vehicle.telemetry"]
    # The data key asks for its section; the fuel level is in no section asked for.
    assert extensions[1]["body"]["telemetry"] == {
        "createdAt": STAMP,
        "vehicle": {"battery": {"voltage": 12.4}},
        "environment": {"air": {"temp": 31}},
    }
    assert_reference_models(extensions)


def test_data_never_reported_is_omitted():
    params = ["vehicle.alerts", "vehicle.doorsState", "vehicle.trip", "vehicle.telemetry", "vehicle.odometer"]
    assert build_extensions(params, state(), vin=VIN) == []
    assert build_extensions(["vehicle.status", "vehicle.position"], LatestState(), vin=VIN) == []

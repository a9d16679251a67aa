"""extendedEventParam: extensions built from a vehicle's latest state, in the template's shape,
each body the reference API's model for its type without HAL links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitors.extensions import build_extensions
from telemetry.alerts import alert_id
from telemetry.reference import derive_data, derive_trip
from telemetry.state import KeyRecord, LatestState, merge_point
from tests.notifications.support import assert_extension_models, assert_monitor_events
from tests.reference import assert_api_schema_without_links
from tests.telemetry.reference_status import STATUS

AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
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


VEHICLE = {"vin": VIN, "vehicle_id": "0a123bc5d1e873066454b4d9"}


def assert_reference_models(extensions: list[dict]) -> None:
    """The template's MonitorEvents, and each body against the API model its type names."""
    assert_monitor_events(body_with(extensions))
    assert_extension_models(body_with(extensions))


def test_active_alerts_are_reference_alerts_without_links_dated_from_their_start():
    latest = state(**{"vehicle.alert": ["RiskOfIce", {"type": "OilLevelLow", "severity": "Warning"}, "A1"]})
    latest.data["vehicle.alert"].started = {"RiskOfIce": AT - timedelta(hours=1), "OilLevelLow": AT}

    [extension] = build_extensions(["vehicle.alerts"], latest, **VEHICLE)

    assert extension["type"] == "vehicle.alerts"
    oil, ice = extension["body"]["alerts"]  # the latest started first; "A1" is no reference alert
    assert ice == {
        "id": alert_id(vehicle_id=VEHICLE["vehicle_id"], type="RiskOfIce", started_at=AT - timedelta(hours=1)),
        "vin": VIN,
        "active": True,
        "type": "RiskOfIce",
        "startedAt": "2026-06-01T09:00:00.000Z",
        "createdAt": "2026-06-01T09:00:00.000Z",
        "updatedAt": STAMP,
    }
    assert (oil["type"], oil["severity"], oil["startedAt"]) == ("OilLevelLow", "Warning", STAMP)
    for alert in (oil, ice):
        assert_api_schema_without_links(alert, "Alert")
    assert_reference_models([extension])


def test_no_active_alert_is_an_empty_list_and_alerts_sent_whole_go_as_sent():
    assert build_extensions(["vehicle.alerts"], state(**{"vehicle.alert": []}), **VEHICLE) == [
        {"type": "vehicle.alerts", "body": {"alerts": []}}
    ]
    sent = [{"type": "RiskOfIce", "active": True}]
    assert build_extensions(["vehicle.alerts"], state(**{"vehicle.alerts": sent}), **VEHICLE) == [
        {"type": "vehicle.alerts", "body": {"alerts": sent}}
    ]


def test_a_status_received_comes_back_in_every_extension_as_reference_models():
    latest = state(**derive_data(STATUS), **derive_trip({"_links": {}, "id": "T1", "distance": 3.5}))
    params = ["vehicle.position", "vehicle.status", "vehicle.doorsState", "vehicle.trip", "vehicle.telemetry"]
    extensions = build_extensions(params, latest, **VEHICLE)
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
        ["vehicle.position", "vehicle.telemetry.vehicle.battery", "environment.air.temp", "vehicle.odometer"],
        latest,
        **VEHICLE,
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
    assert build_extensions(params, state(), **VEHICLE) == []
    assert build_extensions(["vehicle.status", "vehicle.position"], LatestState(), **VEHICLE) == []

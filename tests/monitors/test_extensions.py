"""extendedEventParam: extensions built from a vehicle's latest state, in the template's shape."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from monitors.extensions import build_extensions
from telemetry.alerts import alert_id
from telemetry.state import KeyRecord, LatestState
from tests.notifications.support import assert_monitor_events
from tests.reference import assert_api_schema

AT = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)


def state(**data) -> LatestState:
    return LatestState(
        data={key: KeyRecord(value=value, at=AT) for key, value in data.items()},
        latitude=48.85,
        longitude=2.35,
        position_at=AT,
        last_seen_at=AT,
    )


def body_with(extensions: list[dict]) -> dict:
    event = {"fleetId": "f", "vin": "VR3SAMPLE00000000", "eventDate": "2026-06-01T10:00:00.000Z"}
    event.update(values=[], extensions=extensions, refresh=False)
    return {"monitorId": "m", "attributes": [], "events": [event]}


VEHICLE = {"vin": "VR3SAMPLE00000000", "vehicle_id": "0a123bc5d1e873066454b4d9"}


def test_active_alerts_are_reference_alerts_without_links_dated_from_their_start():
    latest = state(**{"vehicle.alert": ["RiskOfIce", {"type": "OilLevelLow", "severity": "Warning"}, "A1"]})
    latest.data["vehicle.alert"].started = {"RiskOfIce": AT - timedelta(hours=1), "OilLevelLow": AT}

    [extension] = build_extensions(["vehicle.alerts"], latest, **VEHICLE)

    assert extension["type"] == "vehicle.alerts"
    oil, ice = extension["body"]["alerts"]  # the latest started first; "A1" is no reference alert
    assert ice == {
        "id": alert_id(vehicle_id=VEHICLE["vehicle_id"], type="RiskOfIce", started_at=AT - timedelta(hours=1)),
        "vin": VEHICLE["vin"],
        "active": True,
        "type": "RiskOfIce",
        "startedAt": "2026-06-01T09:00:00.000Z",
        "createdAt": "2026-06-01T09:00:00.000Z",
        "updatedAt": "2026-06-01T10:00:00.000Z",
    }
    assert (oil["type"], oil["severity"], oil["startedAt"]) == ("OilLevelLow", "Warning", "2026-06-01T10:00:00.000Z")
    for alert in (oil, ice):
        # The reference's Alert requires `_links`, which extension bodies leave out.
        assert_api_schema({**alert, "_links": {"self": {"href": "https://example.test/a"}}}, "Alert")
    assert_monitor_events(body_with([extension]))


def test_no_active_alert_is_an_empty_list_and_alerts_sent_whole_go_as_sent():
    assert build_extensions(["vehicle.alerts"], state(**{"vehicle.alert": []}), **VEHICLE) == [
        {"type": "vehicle.alerts", "body": {"alerts": []}}
    ]
    sent = [{"type": "RiskOfIce", "active": True}]
    assert build_extensions(["vehicle.alerts"], state(**{"vehicle.alerts": sent}), **VEHICLE) == [
        {"type": "vehicle.alerts", "body": {"alerts": sent}}
    ]


def test_telemetry_requests_are_merged_into_one_extension():
    latest = state(**{"vehicle.telemetry.vehicle.battery": {"voltage": 12.4}, "environment.air.temp": 31})
    extensions = build_extensions(
        ["vehicle.position", "vehicle.telemetry", "vehicle.telemetry.vehicle.battery", "environment.air.temp"],
        latest,
        **VEHICLE,
    )
    assert [extension["type"] for extension in extensions] == ["vehicle.position", "vehicle.telemetry"]
    assert set(extensions[1]["body"]["telemetry"]) == {"vehicle.battery", "environment.air.temp"}
    assert_monitor_events(body_with(extensions))


def test_data_never_reported_is_omitted():
    assert build_extensions(["vehicle.alerts", "vehicle.status", "vehicle.telemetry"], state(), **VEHICLE) == []

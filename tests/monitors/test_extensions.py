"""extendedEventParam: extensions built from a vehicle's latest state, in the template's shape."""

from __future__ import annotations

from datetime import datetime, timezone

from monitors.extensions import build_extensions
from telemetry.state import KeyRecord, LatestState
from tests.notifications.support import assert_monitor_events

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


def test_alert_codes_become_alert_objects_valid_in_the_template():
    extensions = build_extensions(["vehicle.alerts"], state(**{"vehicle.alert": ["A1", "B2"]}))
    stamp = "2026-06-01T10:00:00.000Z"
    assert extensions == [
        {"type": "vehicle.alerts", "body": {"alerts": [{"value": "A1", "createdAt": stamp}, {"value": "B2", "createdAt": stamp}]}}
    ]
    assert_monitor_events(body_with(extensions))


def test_telemetry_requests_are_merged_into_one_extension():
    latest = state(**{"vehicle.telemetry.vehicle.battery": {"voltage": 12.4}, "environment.air.temp": 31})
    extensions = build_extensions(
        ["vehicle.position", "vehicle.telemetry", "vehicle.telemetry.vehicle.battery", "environment.air.temp"], latest
    )
    assert [extension["type"] for extension in extensions] == ["vehicle.position", "vehicle.telemetry"]
    assert set(extensions[1]["body"]["telemetry"]) == {"vehicle.battery", "environment.air.temp"}
    assert_monitor_events(body_with(extensions))


def test_data_never_reported_is_omitted():
    assert build_extensions(["vehicle.alerts", "vehicle.status", "vehicle.telemetry"], state()) == []

"""Tests of telemetry.alerts: alerts derived from `vehicle.alert`, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from telemetry.alerts import (
    Alert,
    AlertPoint,
    Fix,
    active_alerts,
    alert_body,
    alert_id,
    alert_vehicle_id,
    derive_alerts,
    listed_types,
)
from telemetry.state import KeyRecord
from tests.reference import assert_api_schema

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
VID = "0a123bc5d1e873066454b4d9"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_an_alert_starts_at_the_first_point_listing_it_and_ends_at_the_first_not_listing_it():
    alerts = derive_alerts(
        vehicle_id=VID,
        points=[
            AlertPoint(at(0), []),
            AlertPoint(at(1), ["FuelLevelLow"], 48.0, 2.0),
            AlertPoint(at(2), ["FuelLevelLow", "OilLevelLow"]),
            AlertPoint(at(3), ["OilLevelLow"], 48.1, 2.1),
        ],
    )

    oil, fuel = alerts  # newest start first
    assert (fuel.type, fuel.started_at, fuel.ended_at, fuel.active) == ("FuelLevelLow", at(1), at(3), False)
    assert fuel.start_fix == Fix(48.0, 2.0, at(1)) and fuel.end_fix == Fix(48.1, 2.1, at(3))
    assert fuel.updated_at == at(3)
    assert (oil.type, oil.started_at, oil.ended_at, oil.active) == ("OilLevelLow", at(2), None, True)
    assert oil.updated_at == at(3)  # the last point listing it
    assert oil.start_fix is None and oil.end_fix is None


def test_a_type_listed_again_after_ending_is_a_new_alert_with_its_own_id():
    alerts = derive_alerts(
        vehicle_id=VID,
        points=[AlertPoint(at(0), ["RiskOfIce"]), AlertPoint(at(1), []), AlertPoint(at(2), ["RiskOfIce"])],
    )

    assert [(a.started_at, a.ended_at) for a in alerts] == [(at(2), None), (at(0), at(1))]
    assert alerts[0].id != alerts[1].id


def test_objects_name_their_type_and_may_give_a_severity_kept_while_listed():
    alerts = derive_alerts(
        vehicle_id=VID,
        points=[
            AlertPoint(at(0), [{"type": "EngineFault", "severity": "Warning"}]),
            AlertPoint(at(1), [{"type": "EngineFault"}]),
            AlertPoint(at(2), [{"type": "EngineFault", "severity": "Critical"}]),
        ],
    )

    assert [(a.type, a.severity, a.started_at) for a in alerts] == [("EngineFault", "Critical", at(0))]


def test_items_naming_no_reference_alert_type_are_left_out():
    assert listed_types(["FuelLevelLow", "low fuel", 7, {"code": "X"}, {"type": "Nope"}, None]) == {
        "FuelLevelLow": None
    }
    assert listed_types("FuelLevelLow") == {}
    assert listed_types([{"type": "RiskOfIce", "severity": "Apocalyptic"}]) == {"RiskOfIce": None}


def test_ids_are_stable_opaque_and_name_their_vehicle():
    first = alert_id(vehicle_id=VID, type="RiskOfIce", started_at=T0)

    assert first == alert_id(vehicle_id=VID, type="RiskOfIce", started_at=T0.astimezone(timezone(timedelta(hours=2))))
    assert first != alert_id(vehicle_id=VID, type="RiskOfIce", started_at=at(1))
    assert first != alert_id(vehicle_id=VID, type="OilLevelLow", started_at=T0)
    assert alert_vehicle_id(first) == VID
    assert alert_vehicle_id("abc") is None
    derived = derive_alerts(vehicle_id=VID, points=[AlertPoint(T0, ["RiskOfIce"])])
    assert derived[0].id == first


def test_active_alerts_of_a_state_record_keep_when_each_type_started():
    record = KeyRecord(
        value=["OilLevelLow", {"type": "FuelLevelLow", "severity": "Warning"}, "nonsense"],
        at=at(5),
        started={"OilLevelLow": at(1), "FuelLevelLow": at(3)},
    )

    alerts = active_alerts(vehicle_id=VID, record=record)

    assert [(a.type, a.started_at, a.updated_at, a.severity, a.active) for a in alerts] == [
        ("FuelLevelLow", at(3), at(5), "Warning", True),
        ("OilLevelLow", at(1), at(5), None, True),
    ]
    assert alerts[1].id == alert_id(vehicle_id=VID, type="OilLevelLow", started_at=at(1))


def test_a_record_without_starts_dates_its_alerts_from_the_record():
    record = KeyRecord(value=["OilLevelLow"], at=at(5))

    assert [a.started_at for a in active_alerts(vehicle_id=VID, record=record)] == [at(5)]


def test_alert_body_is_the_reference_alert_without_links():
    ended = Alert(
        id="x", vehicle_id=VID, type="RiskOfIce", started_at=T0, updated_at=at(2), ended_at=at(2), severity="Warning"
    )

    body = alert_body(vin="VF3ABCDE0FG123456", alert=ended)

    assert body == {
        "id": "x",
        "vin": "VF3ABCDE0FG123456",
        "active": False,
        "type": "RiskOfIce",
        "severity": "Warning",
        "startedAt": "2026-05-01T12:00:00.000Z",
        "endAt": "2026-05-01T12:02:00.000Z",
        "createdAt": "2026-05-01T12:00:00.000Z",
        "updatedAt": "2026-05-01T12:02:00.000Z",
    }
    assert_api_schema({**body, "_links": {"self": {"href": "https://h/x"}}}, "Alert")

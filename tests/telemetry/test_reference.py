"""telemetry/reference.py: the reference's Status/Telemetry/Position ⇄ flat data keys (pure)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from telemetry.datakeys import DATA_KEYS
from telemetry.reference import (
    DERIVED,
    POSITION_KEY,
    ROWS,
    derive_data,
    position_feature,
    status_body,
    status_problems,
    telemetry_body,
)
from telemetry.state import LatestState, merge_point
from tests.reference import assert_api_schema
from tests.telemetry.reference_status import LINKS, STAMP, STATUS, VIN

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def merged(data: dict, *, at: datetime = T0, state: LatestState | None = None, position=(48.85, 2.35)) -> LatestState:
    state = state or LatestState()
    merge_point(state, event_date=at, data=data, latitude=position[0], longitude=position[1])
    return state


def with_links(body: dict) -> dict:
    return {"_links": LINKS, **body}


def test_the_sample_validates_against_the_reference_status():
    assert_api_schema(STATUS, "Status")


def test_every_table_key_and_every_derived_key_is_a_data_trigger_key():
    assert {row.key for row in ROWS} | set(DERIVED) <= set(DATA_KEYS)


def test_a_status_gives_every_table_key_and_the_derived_ones():
    data = derive_data(STATUS)
    assert {row.key for row in ROWS} | set(DERIVED) <= set(data)
    assert data["vehicle.energy.electric.level"] == 55.5
    assert data["vehicle.energy.charging.status"] == "InProgress"
    assert data["vehicle.engines.thermic.oil.temp"] == 92.5
    assert data["vehicle.doorsState.lockedState"] == ["Locked"]
    assert data["vehicle.alarm.trigger.type"] == "RoofBreakIn"
    assert data["stolen.state"] is True
    assert data["vehicle.autonomy"] == 480  # the sum of the energies' autonomies
    assert data["vehicle.safety.beltWarning"] == "Omission"
    # A nested value's own dates would make each poll an onChange.
    assert data["vehicle.preconditioning.airConditioning"] == {"status": "Enabled", "startingCause": "Immediate"}
    assert data["vehicle.telemetry.vehicle.battery"] == {"createdAt": STAMP, "voltage": 12.4}
    assert "someFutureSection" not in str(data)


def test_round_trip_status_to_keys_to_status_keeps_every_key():
    data = derive_data(STATUS)
    body = status_body(vin=VIN, state=merged(data))
    assert_api_schema(with_links(body), "Status")
    assert derive_data(body) == derive_data(with_links(body))
    assert _without_dates(derive_data(body)) == _without_dates(data)


def _without_dates(value):
    # Sections come back re-dated by the point: their received createdAt is not kept.
    if isinstance(value, dict):
        return {k: _without_dates(v) for k, v in value.items() if k not in ("createdAt", "updatedAt")}
    if isinstance(value, list):
        return [_without_dates(v) for v in value]
    return value


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.key)
def test_each_key_alone_renders_where_the_table_says_and_derives_back(row):
    value = derive_data(STATUS)[row.key]
    state = merged({row.key: value})
    body = status_body(vin=VIN, state=state)
    if row.section.needs_whole:  # required fields no data key carries
        assert row.section.status[0] not in body
        return
    assert_api_schema(with_links(body), "Status")
    assert derive_data(body)[row.key] == value
    if row.section.telemetry is not None:
        item = telemetry_body(event_date=T0, data={row.key: value})
        assert_api_schema(with_links(item), "Telemetry")
        assert derive_data(item)[row.key] == value


def test_each_sub_object_is_dated_by_its_newest_value():
    state = merged(derive_data(STATUS))
    later = T0 + timedelta(minutes=5)
    merged({"environment.air.temp": 30, "vehicle.energy.fuel.level": 35}, at=later, state=state, position=(48.0, 2.0))
    body = status_body(vin=VIN, state=state)
    assert_api_schema(with_links(body), "Status")
    assert body["createdAt"] == "2026-06-01T10:05:00.000Z"
    assert body["environment"]["air"] == {"temp": 30, "createdAt": "2026-06-01T10:05:00.000Z"}
    assert body["environment"]["luminosity"] == {"day": True, "createdAt": "2026-06-01T10:00:00.000Z"}
    electric, fuel = body["energies"]
    assert (electric["createdAt"], fuel["createdAt"]) == ("2026-06-01T10:00:00.000Z", "2026-06-01T10:05:00.000Z")
    assert fuel["level"] == 35 and fuel["autonomy"] == 300  # the key over the verbatim copy
    assert electric["extension"]["electric"]["battery"]["load"]["createdAt"] == "2026-06-01T10:00:00.000Z"
    assert body["battery"] == {"voltage": 12.4, "createdAt": "2026-06-01T10:00:00.000Z"}
    assert body["stolen"]["id"] == "1" and "updatedAt" not in body


def test_flat_keys_alone_make_a_status_with_only_what_is_known():
    state = merged({"vehicle.energy.electric.level": 80, "vehicle.energy.charging.plugged": True}, position=(0, 0))
    state.position_at = state.latitude = state.longitude = None
    body = status_body(vin=VIN, state=state)
    assert body == {
        "vin": VIN,
        "createdAt": "2026-06-01T10:00:00.000Z",
        "energies": [
            {
                "type": "Electric",
                "level": 80,
                "extension": {"electric": {"charging": {"plugged": True}}},
                "createdAt": "2026-06-01T10:00:00.000Z",
            }
        ],
    }


def test_a_value_of_the_wrong_json_type_for_its_place_is_not_rendered():
    body = status_body(vin=VIN, state=merged({"vehicle.doorsState.lockedState": "Locked"}))
    assert "doorsState" not in body
    assert_api_schema(with_links(body), "Status")


def test_position_feature_carries_the_extras_of_its_own_fix_only():
    state = merged({POSITION_KEY: {"heading": 90, "fixStatus": "3D"}})
    feature = position_feature(vin=VIN, state=state)
    assert feature == {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
        "properties": {"vin": VIN, "createdAt": "2026-06-01T10:00:00.000Z", "heading": 90, "fixStatus": "3D"},
    }
    assert_api_schema(feature, "Position")
    merged({}, at=T0 + timedelta(minutes=1), state=state, position=(48.0, 2.0))
    assert position_feature(vin=VIN, state=state)["properties"] == {"vin": VIN, "createdAt": "2026-06-01T10:01:00.000Z"}


def test_no_position_no_feature():
    assert position_feature(vin=VIN, state=LatestState()) is None


def test_telemetry_body_filters_by_type_and_is_none_without_them():
    data = derive_data(STATUS)
    full = telemetry_body(event_date=T0, data=data)
    assert_api_schema(with_links(full), "Telemetry")
    assert full["createdAt"] == "2026-06-01T10:00:00.000Z"
    assert set(full) == {"createdAt", "vehicle", "environment", "privacy"}
    assert full["vehicle"]["ignition"] == {"type": "Start", "createdAt": "2026-06-01T10:00:00.000Z"}  # required there
    assert "createdAt" not in full["vehicle"]["battery"]  # BatteryBase: the item's date is the point's
    energies = telemetry_body(event_date=T0, data=data, types=["vehicle.energies", "environment"])
    assert set(energies) == {"createdAt", "vehicle", "environment"} and set(energies["vehicle"]) == {"energies"}
    alarm = telemetry_body(event_date=T0, data=data, types=["vehicle.alarm.status"])
    assert alarm["vehicle"] == {"alarm": {"status": {"activation": "Active"}}}
    assert telemetry_body(event_date=T0, data={"vehicle.trip": "T1"}) is None
    assert telemetry_body(event_date=T0, data=data, types=["vehicle.lighting"]) is None


def test_a_telemetry_item_derives_like_a_status():
    item = telemetry_body(event_date=T0, data=derive_data(STATUS))
    derived = derive_data(item)
    assert derived["vehicle.energy.charging.type"] == "Full"
    assert derived["environment.air.temp"] == 21.5
    assert derived["vehicle.autonomy"] == 480


def test_wiping_blades_in_telemetry_carry_their_required_date():
    item = telemetry_body(event_date=T0, data={"vehicle.telemetry.vehicle.wipingBlades": {"active": True}})
    assert item["vehicle"]["wipingBlades"] == {"active": True, "createdAt": "2026-06-01T10:00:00.000Z"}
    assert_api_schema(with_links(item), "Telemetry")


def problems(status) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    status_problems(status, "[3].status", lambda path, message: found.append((path, message)))
    return found


def test_a_valid_status_has_no_problems():
    assert problems(STATUS) == []
    assert problems(telemetry_body(event_date=T0, data=derive_data(STATUS))) == []


@pytest.mark.parametrize(
    "change, path, message",
    [
        (lambda s: s["energies"][0].update(level="55"), "[3].status.energies[0].level", "must be a number (got str)"),
        (lambda s: s["energies"][1].pop("type"), "[3].status.energies[1].type", "is required"),
        (lambda s: s.update(energies={"type": "Fuel"}), "[3].status.energies", "must be an array"),
        (lambda s: s["energies"][0]["extension"].update(electric=3), "[3].status.energies[0].extension.electric", "must be an object"),
        (lambda s: s["kinetic"].update(moving="yes"), "[3].status.kinetic.moving", "must be a boolean"),
        (lambda s: s["doorsState"].update(lockedStates="Locked"), "[3].status.doorsState.lockedStates", "must be an array"),
        (lambda s: s.update(battery=12.4), "[3].status.battery", "must be an object"),
        (lambda s: s["alarm"].update(status="Active"), "[3].status.alarm.status", "must be an object"),
    ],
)
def test_status_problems_name_the_path(change, path, message):
    status = copy.deepcopy(STATUS)
    change(status)
    [(found_path, found_message)] = problems(status)
    assert found_path == path and found_message.startswith(message)


def test_the_documented_table_lists_every_key():
    from pathlib import Path

    semantics = (Path(__file__).resolve().parents[2] / "docs" / "semantics.md").read_text(encoding="utf-8")
    table = semantics.split("## Reference shapes and data keys", 1)[1].split("\n## ", 1)[0]
    for key in [row.key for row in ROWS] + list(DERIVED):
        assert f"| `{key}` |" in table, key

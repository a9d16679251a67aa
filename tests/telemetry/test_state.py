from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telemetry.state import LatestState, decode_records, encode_records, merge_point

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_first_report_is_stored_but_is_not_a_change():
    state = LatestState()
    result = merge_point(state, event_date=T0, data={"environment.air.temp": 20})
    assert result.updated and result.changed_keys == frozenset()
    assert state.data["environment.air.temp"].value == 20
    assert state.data["environment.air.temp"].has_previous is False


def test_new_value_is_a_change_and_keeps_the_previous_one():
    state = LatestState()
    merge_point(state, event_date=T0, data={"environment.air.temp": 20})
    result = merge_point(state, event_date=T0 + timedelta(seconds=1), data={"environment.air.temp": 25})
    assert result.changed_keys == {"environment.air.temp"}
    record = state.data["environment.air.temp"]
    assert (record.value, record.previous, record.has_previous) == (25, 20, True)


def test_same_value_again_is_not_a_change():
    state = LatestState()
    merge_point(state, event_date=T0, data={"vehicle.kinetic.moving": True})
    result = merge_point(state, event_date=T0 + timedelta(seconds=1), data={"vehicle.kinetic.moving": True})
    assert result.updated and result.changed_keys == frozenset()


def test_older_point_does_not_overwrite_a_key():
    state = LatestState()
    merge_point(state, event_date=T0, data={"vehicle.energy.electric.level": 40})
    result = merge_point(state, event_date=T0 - timedelta(minutes=1), data={"vehicle.energy.electric.level": 90})
    assert state.data["vehicle.energy.electric.level"].value == 40
    assert result.updated is False and result.changed_keys == frozenset()


def test_older_point_still_brings_keys_never_seen():
    state = LatestState()
    merge_point(state, event_date=T0, data={"vehicle.energy.electric.level": 40})
    result = merge_point(state, event_date=T0 - timedelta(minutes=1), data={"environment.air.temp": 18})
    assert result.updated
    assert state.data["environment.air.temp"].value == 18
    assert state.last_seen_at == T0


def test_partial_points_merge():
    state = LatestState()
    merge_point(state, event_date=T0, data={"environment.air.temp": 18}, latitude=48.0, longitude=2.0)
    merge_point(state, event_date=T0 + timedelta(seconds=5), data={"vehicle.odometer": 1000})
    assert set(state.data) == {"environment.air.temp", "vehicle.odometer"}
    assert (state.latitude, state.longitude, state.position_at) == (48.0, 2.0, T0)
    assert state.last_seen_at == T0 + timedelta(seconds=5)


def test_older_position_is_ignored():
    state = LatestState()
    merge_point(state, event_date=T0, data={}, latitude=48.0, longitude=2.0)
    merge_point(state, event_date=T0 - timedelta(seconds=5), data={}, latitude=10.0, longitude=10.0)
    assert (state.latitude, state.longitude) == (48.0, 2.0)


def test_records_round_trip_through_json_form():
    state = LatestState()
    merge_point(state, event_date=T0, data={"vehicle.alert": ["a"]})
    merge_point(state, event_date=T0 + timedelta(seconds=1), data={"vehicle.alert": ["b"]})
    decoded = decode_records(encode_records(state.data))
    assert decoded == state.data


def test_the_state_keeps_when_each_listed_alert_started():
    state = LatestState()
    merge_point(state, event_date=T0, data={"vehicle.alert": ["RiskOfIce"]})
    merge_point(state, event_date=T0 + timedelta(minutes=1), data={"vehicle.alert": ["RiskOfIce", "OilLevelLow"]})
    merge_point(state, event_date=T0 + timedelta(minutes=2), data={"environment.air.temp": 2})
    merge_point(state, event_date=T0 + timedelta(minutes=3), data={"vehicle.alert": ["OilLevelLow", "nonsense"]})

    assert state.data["vehicle.alert"].started == {"OilLevelLow": T0 + timedelta(minutes=1)}
    merge_point(state, event_date=T0 + timedelta(minutes=4), data={"vehicle.alert": ["OilLevelLow", "RiskOfIce"]})
    assert state.data["vehicle.alert"].started == {
        "OilLevelLow": T0 + timedelta(minutes=1),
        "RiskOfIce": T0 + timedelta(minutes=4),  # listed again: a new alert
    }


def test_a_late_alert_list_does_not_move_the_starts():
    state = LatestState()
    merge_point(state, event_date=T0, data={"vehicle.alert": ["RiskOfIce"]})
    merge_point(state, event_date=T0 - timedelta(minutes=1), data={"vehicle.alert": []})

    assert state.data["vehicle.alert"].started == {"RiskOfIce": T0}


def test_alert_starts_survive_encoding_and_older_records_get_them_from_their_date():
    state = LatestState()
    merge_point(state, event_date=T0, data={"vehicle.alert": ["RiskOfIce"], "vehicle.odometer": 5})
    decoded = decode_records(encode_records(state.data))
    assert decoded["vehicle.alert"].started == {"RiskOfIce": T0}
    assert decoded["vehicle.odometer"].started is None

    legacy = LatestState(data=decode_records({"vehicle.alert": {"value": ["RiskOfIce"], "at": T0.isoformat()}}))
    merge_point(legacy, event_date=T0 + timedelta(minutes=1), data={"vehicle.alert": ["RiskOfIce", "OilLevelLow"]})
    assert legacy.data["vehicle.alert"].started == {"RiskOfIce": T0, "OilLevelLow": T0 + timedelta(minutes=1)}

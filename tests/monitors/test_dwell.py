"""monitors.dwell and minDuration in CompiledMonitor.evaluate: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitors.dwell import DwellState, dwell_step
from monitors.evaluation import Position, VehicleSnapshot, compile_monitor
from monitors.spec import MonitorSpec
from telemetry.state import KeyRecord

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
TEN = timedelta(minutes=10)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def step(state: DwellState, holds: bool, minutes: float, *, newest_point: float | None = None, duration=TEN):
    return dwell_step(
        state,
        holds={"p": holds},
        durations={"p": duration},
        instant=at(minutes),
        newest_point=at(newest_point) if newest_point is not None else None,
    )


def run(*observations: tuple[float, bool]) -> list[tuple[bool, datetime | None]]:
    """(satisfied, due) after each (minute, holds) observation, from a fresh state."""
    state, seen = DwellState(), []
    for minutes, holds in observations:
        result = step(state, holds, minutes)
        state = result.state
        seen.append(("p" in result.satisfied, state.due))
    return seen


# ----------------------------------------------------------------------------- dwell_step


@pytest.mark.parametrize(
    ("observations", "expected"),
    [
        pytest.param([(0, True)], [(False, at(10))], id="starts: due at since + minDuration"),
        pytest.param([(0, True), (5, True)], [(False, at(10)), (False, at(10))], id="still holding, not yet"),
        pytest.param([(0, True), (10, True)], [(False, at(10)), (True, None)], id="exactly at since + minDuration"),
        pytest.param([(0, True), (25, True)], [(False, at(10)), (True, None)], id="long after, no expiry left"),
        pytest.param([(0, True), (9, False)], [(False, at(10)), (False, None)], id="false before: cancelled"),
        pytest.param(
            [(0, True), (9, False), (12, True)],
            [(False, at(10)), (False, None), (False, at(22))],
            id="true again: counts from the new start",
        ),
        pytest.param([(0, True), (10, True), (11, False)], [(False, at(10)), (True, None), (False, None)], id="ends"),
        pytest.param([(0, False)], [(False, None)], id="never held"),
    ],
)
def test_a_dwell_is_satisfied_once_held_continuously_for_its_duration(observations, expected):
    assert run(*observations) == expected


def test_since_is_the_first_instant_seen_true_and_survives_later_truths():
    state = step(DwellState(), True, 0).state
    state = step(state, True, 4).state
    assert state.since == {"p": at(0)}
    assert state.at == at(4)


def test_a_late_instant_neither_starts_nor_ends_a_dwell():
    started = step(DwellState(), True, 10).state
    # Evaluated at minute 5 (a late point): false then says nothing about after minute 10.
    late_false = step(started, False, 5)
    assert late_false.state.since == {"p": at(10)} and late_false.state.at == at(10)
    assert late_false.state.due == at(20)
    # And a late truth does not start one where the latest instant saw none.
    stopped = step(DwellState(), False, 10).state
    late_true = step(stopped, True, 5)
    assert late_true.state.since == {} and late_true.state.due is None and late_true.satisfied == frozenset()


def test_a_late_instant_is_satisfied_only_if_the_dwell_had_completed_by_then():
    state = step(DwellState(), True, 0).state
    state = step(state, True, 30).state
    assert "p" in step(state, True, 12).satisfied  # since 0, minute 12 >= 10
    assert "p" not in step(state, True, 8).satisfied


def test_an_instant_before_the_vehicles_newest_point_is_late():
    # The state has not seen minute 10 (no dwell moved then), but the vehicle reported then.
    result = step(DwellState(), True, 5, newest_point=10)
    assert result.state.since == {} and result.satisfied == frozenset()


def test_due_is_the_earliest_pending_expiry_of_several_triggers():
    durations = {"a": timedelta(minutes=10), "b": timedelta(minutes=3)}
    first = dwell_step(DwellState(), holds={"a": True, "b": False}, durations=durations, instant=at(0))
    assert first.state.due == at(10)
    second = dwell_step(first.state, holds={"a": True, "b": True}, durations=durations, instant=at(2))
    assert second.state.due == at(5)  # b: 2 + 3
    third = dwell_step(second.state, holds={"a": True, "b": True}, durations=durations, instant=at(5))
    assert third.satisfied == {"b"} and third.state.due == at(10)


def test_state_round_trips_through_json():
    state = step(step(DwellState(), True, 0).state, True, 3).state
    assert DwellState.decode(state.encode()) == state
    assert DwellState.decode({}) == DwellState()
    assert DwellState.decode(None) == DwellState()


def test_same_schedule_ignores_the_instant_evaluated():
    state = step(DwellState(), True, 0).state
    assert step(state, True, 4).state.same_schedule(state)
    assert not step(state, False, 4).state.same_schedule(state)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=5), st.booleans()), min_size=1, max_size=30))
def test_satisfied_exactly_when_every_observation_since_the_start_of_the_streak_held(gaps_and_truths):
    """Against a brute-force oracle over increasing instants: satisfied at t iff holding at t
    and the streak of observations holding that ends at t began at least minDuration before."""
    state, instants, truths = DwellState(), [], []
    minute = 0
    for gap, holds in gaps_and_truths:
        minute += gap
        instants.append(minute)
        truths.append(holds)
        result = step(state, holds, minute)
        state = result.state
        streak_start = None
        for moment, truth in zip(instants, truths, strict=True):
            streak_start = (streak_start if streak_start is not None else moment) if truth else None
        expected = holds and streak_start is not None and minute - streak_start >= 10
        assert ("p" in result.satisfied) == expected
        assert state.due == (at(streak_start + 10) if holds and not expected else None)


# ----------------------------------------------------------------------------- CompiledMonitor


PARIS = {"latitude": 48.866667, "longitude": 2.333333}
INSIDE = (48.8584, 2.2945)
OUTSIDE = (45.764043, 4.835659)


def compiled(bool_exp: str, *triggers: dict):
    return compile_monitor(MonitorSpec({"triggerParam": {"triggers": list(triggers), "boolExp": bool_exp}}))


def parked_outside(min_duration: str = "PT10M") -> dict:
    zone = {"transition": "Out", "place": {"radius": 20, "center": PARIS}}
    return {"name": "parked", "zone": zone, "minDuration": min_duration}


LOW = {"name": "low", "data": {"data": "vehicle.energy.electric.level", "op": "lowerThan", "value": ["50"]}}


def snapshot(position, level=None) -> VehicleSnapshot:
    data = {"vehicle.energy.electric.level": KeyRecord(value=level, at=T0)} if level is not None else {}
    return VehicleSnapshot(
        data=data, position=Position(latitude=position[0], longitude=position[1], at=T0), last_seen_at=T0
    )


def test_a_monitor_without_min_duration_has_no_dwell_state():
    monitor = compiled("low", LOW)
    assert monitor.durations == {}
    assert monitor.evaluate(snapshot(OUTSIDE, 40), T0).dwell is None


def test_a_zone_with_min_duration_is_false_until_it_held_long_enough():
    monitor = compiled("parked", parked_outside())
    first = monitor.evaluate(snapshot(OUTSIDE), T0)
    assert (first.result, first.dwell.due) == (False, at(10))
    later = monitor.evaluate(snapshot(OUTSIDE), at(10), first.dwell)
    assert later.result is True and later.dwell.due is None
    back_inside = monitor.evaluate(snapshot(INSIDE), at(11), later.dwell)
    assert back_inside.result is False and back_inside.dwell.since == {}


def test_negating_a_dwell_is_true_until_the_dwell_completes():
    monitor = compiled("!parked", parked_outside())
    first = monitor.evaluate(snapshot(OUTSIDE), T0)
    assert first.result is True
    assert monitor.evaluate(snapshot(OUTSIDE), at(10), first.dwell).result is False


def test_values_list_a_dwelling_data_trigger_only_once_satisfied():
    low_for_a_while = {**LOW, "minDuration": "PT5M"}
    monitor = compiled("parked | low", parked_outside(), low_for_a_while)
    first = monitor.evaluate(snapshot(INSIDE, 40), T0)
    assert first.result is False and first.dwell.due == at(5)
    fired = monitor.evaluate(snapshot(INSIDE, 40), at(5), first.dwell)
    assert fired.result is True
    assert [value["data"] for value in fired.values] == ["vehicle.energy.electric.level"]


def test_triggers_without_min_duration_are_unaffected_by_the_others_dwell():
    monitor = compiled("parked & low", parked_outside(), LOW)
    first = monitor.evaluate(snapshot(OUTSIDE, 40), T0)
    assert first.result is False and first.dwell.since == {"parked": T0}
    assert monitor.evaluate(snapshot(OUTSIDE, 40), at(10), first.dwell).result is True
    assert monitor.evaluate(snapshot(OUTSIDE, 60), at(11), first.dwell).result is False

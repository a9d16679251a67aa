from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from monitors import evaluation, timewindows
from monitors.evaluation import (
    Evaluation,
    KeyState,
    Position,
    VehicleSnapshot,
    compile_monitor,
)
from monitors.spec import MonitorSpec
from telemetry.datakeys import DATA_KEYS, MOVING_KEY, ValueKind

PARIS_TZ = ZoneInfo("Europe/Paris")
UTC = UTC
NOW = datetime(2026, 5, 4, 15, 0, tzinfo=PARIS_TZ)  # a Monday, 15:00 CEST

PARIS = {"latitude": 48.866667, "longitude": 2.333333}
IN_PARIS = (48.8584, 2.2945)  # Eiffel Tower, ~3 km from the center
IN_LYON = (45.764043, 4.835659)

NUMBER_KEY = "vehicle.energy.electric.level"
BOOLEAN_KEY = "vehicle.energy.charging.plugged"
STRING_KEY = "vehicle.energy.charging.status"
LIST_KEY = "vehicle.alert"
OTHER_LIST_KEY = "vehicle.trip.state"
ANY_KEY = "vehicle.doorsState.lockedState"

ALWAYS_OPEN = {"times": [{"recurrence": "None", "start": "2020-01-01T00:00:00Z"}]}
NEVER_AGAIN = {"times": [{"recurrence": "None", "start": "2020-01-01T00:00:00Z", "duration": "PT1H"}]}


def reported(value, *, previous=None, has_previous=False) -> KeyState:
    return KeyState(value=value, at=NOW, previous=previous, has_previous=has_previous)


def snapshot(data=None, *, position=None, last_seen_at=NOW, changed=()) -> VehicleSnapshot:
    return VehicleSnapshot(
        data=data or {},
        position=Position(latitude=position[0], longitude=position[1], at=NOW) if position else None,
        last_seen_at=last_seen_at,
        changed_keys=frozenset(changed),
    )


def data_trigger(name: str, key: str, op: str, value=None) -> dict:
    condition = {"data": key, "op": op}
    if value is not None:
        condition["value"] = value
    return {"name": name, "data": condition}


def zone_trigger(name: str, transition: str, radius: float = 20, center=PARIS) -> dict:
    return {"name": name, "zone": {"transition": transition, "place": {"radius": radius, "center": center}}}


# [longitude, latitude]: a 0.2° square around central Paris, with a hole around the Louvre.
PARIS_SQUARE = [[2.25, 48.78], [2.45, 48.78], [2.45, 48.98], [2.25, 48.98], [2.25, 48.78]]
LOUVRE_HOLE = [[2.33, 48.85], [2.35, 48.85], [2.35, 48.87], [2.33, 48.87], [2.33, 48.85]]
IN_THE_HOLE = (48.86, 2.34)
ON_THE_HOLE_EDGE = (48.86, 2.33)


def polygon_trigger(name: str, transition: str) -> dict:
    polygon = {"type": "Polygon", "coordinates": [PARIS_SQUARE, LOUVRE_HOLE]}
    return {"name": name, "zone": {"transition": transition, "polygon": polygon}}


# Circles and polygons answer In and Out alike.
ZONE_SHAPES = pytest.mark.parametrize("zone", [zone_trigger, polygon_trigger], ids=["circle", "polygon"])


def time_trigger(name: str, time: dict) -> dict:
    return {"name": name, "time": time}


def monitor(bool_exp: str, *triggers: dict, **options):
    definition = {
        "label": "test",
        "subscribeParam": {},
        "extendedEventParam": [],
        "triggerParam": {"boolExp": bool_exp, "triggers": list(triggers)},
    }
    return compile_monitor(MonitorSpec(definition), **options)


def holds(key: str, op: str, operands, value) -> bool:
    compiled = monitor("d", data_trigger("d", key, op, operands))
    return compiled.evaluate(snapshot({key: reported(value)}), NOW).result


def test_keys_used_here_have_the_kinds_the_tests_assume():
    assert DATA_KEYS[NUMBER_KEY] is ValueKind.NUMBER
    assert DATA_KEYS[BOOLEAN_KEY] is ValueKind.BOOLEAN
    assert DATA_KEYS[STRING_KEY] is ValueKind.STRING
    assert DATA_KEYS[LIST_KEY] is ValueKind.LIST
    assert DATA_KEYS[OTHER_LIST_KEY] is ValueKind.LIST
    assert DATA_KEYS[ANY_KEY] is ValueKind.ANY
    assert DATA_KEYS[MOVING_KEY] is ValueKind.BOOLEAN


# --- NUMBER -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "operands", "value", "expected"),
    [
        ("equalsTo", ["50"], 50, True),
        ("equalsTo", ["50"], 50.0, True),
        ("equalsTo", ["50.0"], 50, True),
        ("equalsTo", ["1e3"], 1000, True),
        ("equalsTo", [" 50 "], 50, True),
        ("equalsTo", ["50"], 50.5, False),
        ("equalsTo", ["50"], 51, False),
        ("greaterThan", ["50"], 51, True),
        ("greaterThan", ["50"], 50.01, True),
        ("greaterThan", ["50"], 50, False),
        ("greaterThan", ["50"], 49, False),
        ("greaterThan", ["-5"], -4, True),
        ("lowerThan", ["50"], 49, True),
        ("lowerThan", ["50"], 12.5, True),
        ("lowerThan", ["50"], 50, False),
        ("lowerThan", ["50"], 51, False),
        ("lowerThan", ["-5"], -6, True),
        ("includedIn", ["10", "50"], 50, True),
        ("includedIn", ["10", "50"], 10.0, True),
        ("includedIn", ["10", "50"], 20, False),
        ("includedIn", ["12.5"], 12.5, True),
    ],
)
def test_number_comparisons_are_numeric(op, operands, value, expected):
    assert holds(NUMBER_KEY, op, operands, value) is expected


@pytest.mark.parametrize("op", ["equalsTo", "greaterThan", "lowerThan", "includedIn"])
@pytest.mark.parametrize("operand", ["abc", "", "50%", "0x10"])
def test_number_comparison_with_an_unparseable_operand_is_unsatisfied(op, operand):
    assert holds(NUMBER_KEY, op, [operand], 50) is False
    assert holds(NUMBER_KEY, op, [operand], 0) is False


def test_number_inclusion_ignores_only_the_unparseable_operands():
    assert holds(NUMBER_KEY, "includedIn", ["abc", "50"], 50) is True


@pytest.mark.parametrize("op", ["equalsTo", "greaterThan", "lowerThan", "includedIn"])
def test_number_comparison_with_nan_operand_is_unsatisfied(op):
    assert holds(NUMBER_KEY, op, ["nan"], 50) is False


@pytest.mark.parametrize("op", ["equalsTo", "greaterThan", "lowerThan", "includedIn"])
@pytest.mark.parametrize("value", ["50", True, None, [50], {"v": 50}])
def test_number_comparison_with_a_non_number_reported_is_unsatisfied(op, value):
    operands = ["1"] if value is True else ["50"]  # True == 1 in Python; not a number here
    assert holds(NUMBER_KEY, op, operands, value) is False


@pytest.mark.parametrize("op", ["equalsTo", "greaterThan", "lowerThan"])
def test_number_comparison_without_operand_is_unsatisfied(op):
    assert holds(NUMBER_KEY, op, [], 50) is False


def test_number_comparison_of_a_huge_integer_does_not_overflow():
    assert holds(NUMBER_KEY, "greaterThan", ["50"], 10**400) is True
    assert holds(NUMBER_KEY, "includedIn", ["50"], 10**400) is False


# --- BOOLEAN ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "operands", "value", "expected"),
    [
        ("equalsTo", ["true"], True, True),
        ("equalsTo", ["true"], False, False),
        ("equalsTo", ["false"], False, True),
        ("equalsTo", ["false"], True, False),
        ("equalsTo", ["TRUE"], True, True),
        ("equalsTo", ["False"], False, True),
        ("includedIn", ["true"], True, True),
        ("includedIn", ["true"], False, False),
        ("includedIn", ["true", "false"], False, True),
        ("includedIn", ["yes", "true"], True, True),
    ],
)
def test_boolean_comparisons_read_true_and_false_case_insensitively(op, operands, value, expected):
    assert holds(BOOLEAN_KEY, op, operands, value) is expected


@pytest.mark.parametrize("op", ["equalsTo", "includedIn"])
@pytest.mark.parametrize("operand", ["yes", "1", "", "t"])
def test_boolean_comparison_with_an_unparseable_operand_is_unsatisfied(op, operand):
    assert holds(BOOLEAN_KEY, op, [operand], True) is False
    assert holds(BOOLEAN_KEY, op, [operand], False) is False


@pytest.mark.parametrize("op", ["equalsTo", "includedIn"])
@pytest.mark.parametrize("value", ["true", 1, 1.0, None])
def test_boolean_comparison_with_a_non_boolean_reported_is_unsatisfied(op, value):
    assert holds(BOOLEAN_KEY, op, ["true"], value) is False


@pytest.mark.parametrize("op", ["greaterThan", "lowerThan"])
def test_ordering_a_boolean_is_unsatisfied(op):
    assert holds(BOOLEAN_KEY, op, ["false"], True) is False


# --- STRING and ANY ---------------------------------------------------------------------


@pytest.mark.parametrize("key", [STRING_KEY, ANY_KEY])
@pytest.mark.parametrize(
    ("op", "operands", "value", "expected"),
    [
        ("equalsTo", ["InProgress"], "InProgress", True),
        ("equalsTo", ["InProgress"], "inprogress", False),
        ("equalsTo", ["InProgress"], "InProgress ", False),
        ("equalsTo", ["InProgress"], "Finished", False),
        ("includedIn", ["Finished", "InProgress"], "InProgress", True),
        ("includedIn", ["Finished", "InProgress"], "Stopped", False),
        ("includedIn", [], "Stopped", False),
        ("equalsTo", ["5"], 5, False),
        ("equalsTo", ["true"], True, False),
        ("includedIn", ["5"], 5, False),
        ("greaterThan", ["A"], "B", False),
        ("lowerThan", ["B"], "A", False),
    ],
)
def test_string_comparisons_are_exact(key, op, operands, value, expected):
    assert holds(key, op, operands, value) is expected


def test_any_value_that_is_an_object_never_equals_a_string():
    assert holds(ANY_KEY, "equalsTo", ['{"state":"Locked"}'], {"state": "Locked"}) is False
    assert holds(ANY_KEY, "includedIn", ["Locked"], {"state": "Locked"}) is False


def test_key_outside_the_catalogue_is_compared_as_a_string():
    assert holds("vehicle.custom", "equalsTo", ["on"], "on") is True
    assert holds("vehicle.custom", "equalsTo", ["1"], 1) is False


def test_unknown_operator_is_unsatisfied():
    assert holds(STRING_KEY, "contains", ["In"], "InProgress") is False
    assert holds(LIST_KEY, "contains", ["x"], ["x"]) is False


# --- LIST -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [LIST_KEY, OTHER_LIST_KEY])
@pytest.mark.parametrize(
    ("op", "operands", "value", "expected"),
    [
        ("includedIn", ["lowBattery", "flatTyre"], ["lowBattery"], True),
        ("includedIn", ["lowBattery", "flatTyre"], ["oil", "flatTyre"], True),
        ("includedIn", ["lowBattery", "flatTyre"], ["oil"], False),
        ("includedIn", ["lowBattery"], [], False),
        ("includedIn", [], ["lowBattery"], False),
        ("equalsTo", ["lowBattery"], ["oil", "lowBattery"], True),
        ("equalsTo", ["lowBattery"], ["oil"], False),
        ("equalsTo", ["lowBattery"], [], False),
        ("equalsTo", [], ["lowBattery"], False),
        ("includedIn", ["lowBattery"], "lowBattery", False),
        ("equalsTo", ["lowBattery"], "lowBattery", False),
        ("greaterThan", ["a"], ["b"], False),
    ],
)
def test_list_comparisons_look_for_overlap_or_membership(key, op, operands, value, expected):
    assert holds(key, op, operands, value) is expected


@pytest.mark.parametrize(
    ("item", "operand", "expected"),
    [
        ({"type": "lowBattery", "severity": "high"}, "lowBattery", True),
        ({"name": "lowBattery"}, "lowBattery", True),
        ({"id": "A12"}, "A12", True),
        ({"id": 12}, "12", True),
        ({"type": "lowBattery", "name": "other"}, "other", False),  # type comes first
        ({"name": "first", "id": "second"}, "second", False),  # name before id
        ({"code": 7, "at": "x"}, '{"at":"x","code":7}', True),  # no identity: its JSON
        ({"code": 7}, "7", False),
        ({"severity": "high"}, "high", False),
    ],
)
def test_list_object_items_are_identified_by_type_name_id_or_json(item, operand, expected):
    assert holds(LIST_KEY, "includedIn", [operand], [item]) is expected
    assert holds(LIST_KEY, "equalsTo", [operand], ["unrelated", item]) is expected


# --- onChange ---------------------------------------------------------------------------

ALL_KINDS = [
    (NUMBER_KEY, 40, 50),
    (BOOLEAN_KEY, True, False),
    (STRING_KEY, "Finished", "InProgress"),
    (LIST_KEY, ["oil"], []),
    (ANY_KEY, {"state": "Locked"}, {"state": "Unlocked"}),
]


@pytest.mark.parametrize(("key", "value", "previous"), ALL_KINDS)
def test_on_change_holds_for_a_changed_key_of_any_kind(key, value, previous):
    compiled = monitor("d", data_trigger("d", key, "onChange"))
    state = reported(value, previous=previous, has_previous=True)
    assert compiled.evaluate(snapshot({key: state}, changed=[key]), NOW).result is True


@pytest.mark.parametrize(("key", "value", "previous"), ALL_KINDS)
def test_on_change_does_not_hold_when_the_key_did_not_change_in_this_point(key, value, previous):
    compiled = monitor("d", data_trigger("d", key, "onChange"))
    state = reported(value, previous=previous, has_previous=True)
    assert compiled.evaluate(snapshot({key: state}, changed=["vehicle.odometer"]), NOW).result is False


def test_on_change_does_not_hold_for_a_first_report():
    compiled = monitor("d", data_trigger("d", NUMBER_KEY, "onChange"))
    first = snapshot({NUMBER_KEY: reported(50)}, changed=[NUMBER_KEY])
    assert compiled.evaluate(first, NOW).result is False


def test_on_change_does_not_hold_for_a_key_never_reported():
    compiled = monitor("d", data_trigger("d", NUMBER_KEY, "onChange"))
    assert compiled.evaluate(snapshot({}, changed=[NUMBER_KEY]), NOW).result is False


def change_or_match():
    return monitor("d | n", data_trigger("d", NUMBER_KEY, "onChange"), data_trigger("n", STRING_KEY, "equalsTo", ["x"]))


def test_a_change_that_makes_the_expression_true_is_a_fresh_change():
    compiled = change_or_match()
    changed = snapshot({NUMBER_KEY: reported(50, previous=40, has_previous=True)}, changed=[NUMBER_KEY])
    assert compiled.evaluate(changed, NOW).fresh_change is True


def test_a_change_the_expression_does_not_need_is_not_a_fresh_change():
    compiled = change_or_match()
    state = {NUMBER_KEY: reported(50, previous=40, has_previous=True), STRING_KEY: reported("x")}
    outcome = compiled.evaluate(snapshot(state, changed=[NUMBER_KEY]), NOW)
    assert outcome.result is True and outcome.fresh_change is False


def test_two_changes_in_one_point_are_a_fresh_change():
    compiled = monitor("a | b", data_trigger("a", NUMBER_KEY, "onChange"), data_trigger("b", STRING_KEY, "onChange"))
    state = {
        NUMBER_KEY: reported(50, previous=40, has_previous=True),
        STRING_KEY: reported("y", previous="x", has_previous=True),
    }
    assert compiled.evaluate(snapshot(state, changed=[NUMBER_KEY, STRING_KEY]), NOW).fresh_change is True


def test_on_change_ignores_its_operands():
    compiled = monitor("d", data_trigger("d", NUMBER_KEY, "onChange", ["99"]))
    state = reported(50, previous=40, has_previous=True)
    assert compiled.evaluate(snapshot({NUMBER_KEY: state}, changed=[NUMBER_KEY]), NOW).result is True


# --- never reported -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "op", "operands"),
    [
        (NUMBER_KEY, "lowerThan", ["50"]),
        (NUMBER_KEY, "greaterThan", ["-1e9"]),
        (NUMBER_KEY, "equalsTo", ["0"]),
        (BOOLEAN_KEY, "equalsTo", ["false"]),
        (STRING_KEY, "includedIn", ["", "InProgress"]),
        (LIST_KEY, "includedIn", ["lowBattery"]),
        (ANY_KEY, "equalsTo", [""]),
    ],
)
def test_a_key_never_reported_satisfies_no_comparison(key, op, operands):
    compiled = monitor("d", data_trigger("d", key, op, operands))
    others = {k: reported(v) for k, v, _ in ALL_KINDS if k != key}
    assert compiled.evaluate(snapshot(others), NOW).result is False


def test_a_key_never_reported_is_false_under_negation_too():
    compiled = monitor("!d & z", data_trigger("d", NUMBER_KEY, "lowerThan", ["50"]), zone_trigger("z", "In"))
    assert compiled.evaluate(snapshot({}, position=IN_PARIS), NOW).result is True


# --- total on any reported value --------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)
OPERATIONS = ["equalsTo", "greaterThan", "lowerThan", "includedIn", "onChange", "bogus"]


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(sorted(DATA_KEYS)),
    op=st.sampled_from(OPERATIONS),
    operands=st.lists(st.text(max_size=6) | st.sampled_from(["50", "true", "lowBattery", "nan", "inf"]), max_size=3),
    value=json_values,
    has_previous=st.booleans(),
)
def test_evaluation_never_raises_whatever_was_reported(key, op, operands, value, has_previous):
    compiled = monitor("d", data_trigger("d", key, op, operands))
    state = reported(value, previous=None, has_previous=has_previous)
    result = compiled.evaluate(snapshot({key: state}, changed=[key]), NOW)
    assert isinstance(result.result, bool)
    assert len(result.values) == int(result.result)


# --- time triggers and the in-use rule ------------------------------------------------


def time_monitor(time=ALWAYS_OPEN, **options):
    return monitor("t", time_trigger("t", time), **options)


def test_time_holds_in_a_window_while_the_vehicle_is_moving():
    moving = snapshot({MOVING_KEY: reported(True)}, last_seen_at=NOW - timedelta(days=1))
    assert time_monitor().evaluate(moving, NOW).result is True


def test_time_does_not_hold_for_a_vehicle_reported_not_moving_even_if_just_seen():
    parked = snapshot({MOVING_KEY: reported(False)}, last_seen_at=NOW)
    assert time_monitor().evaluate(parked, NOW).result is False


def test_moving_reported_as_something_other_than_true_is_not_in_use():
    odd = snapshot({MOVING_KEY: reported("true")}, last_seen_at=NOW)
    assert time_monitor().evaluate(odd, NOW).result is False


@pytest.mark.parametrize(
    ("seconds_ago", "expected"),
    [(0, True), (299, True), (300, True), (301, False), (86_400, False), (-60, True)],
)
def test_vehicle_that_never_reports_motion_is_in_use_when_seen_lately(seconds_ago, expected):
    seen = snapshot({NUMBER_KEY: reported(40)}, last_seen_at=NOW - timedelta(seconds=seconds_ago))
    assert time_monitor().evaluate(seen, NOW).result is expected


def test_activity_window_is_configurable():
    compiled = time_monitor(activity_window_s=60)
    assert compiled.evaluate(snapshot(last_seen_at=NOW - timedelta(seconds=60)), NOW).result is True
    assert compiled.evaluate(snapshot(last_seen_at=NOW - timedelta(seconds=61)), NOW).result is False


def test_vehicle_never_seen_is_not_in_use():
    assert time_monitor().evaluate(snapshot(last_seen_at=None), NOW).result is False


def test_time_does_not_hold_outside_the_windows_even_when_moving():
    moving = snapshot({MOVING_KEY: reported(True)})
    assert time_monitor(NEVER_AGAIN).evaluate(moving, NOW).result is False


def test_time_trigger_follows_daily_windows_in_its_zone():
    weekday_afternoons = {
        "timeZone": "Europe/Paris",
        "times": [
            {
                "recurrence": "Daily",
                "start": "PT14H30M",
                "duration": "PT04H30M",
                "occurence": {"day": ["Mon"], "week": ["w1-w25", "w30"]},
            }
        ],
    }
    compiled = time_monitor(weekday_afternoons)
    moving = snapshot({MOVING_KEY: reported(True)})
    assert compiled.evaluate(moving, NOW).result is True
    assert compiled.evaluate(moving, NOW + timedelta(hours=4)).result is False
    assert compiled.evaluate(moving, NOW + timedelta(days=1)).result is False


WEEKDAY_EVENINGS = {
    "timeZone": "America/New_York",
    "times": [
        {"recurrence": "Daily", "start": "PT17H", "duration": "PT3H", "occurence": {"day": ["Mon", "Fri"]}},
        {"recurrence": "None", "start": "2026-03-08T06:30:00Z", "duration": "PT30M"},
    ],
}
# The second one open-ended: past its start, no boundary lies ahead.
ABSOLUTE_WINDOWS = {
    "times": [
        {"recurrence": "None", "start": "2026-03-01T00:00:00Z", "duration": "PT6H"},
        {"recurrence": "None", "start": "2026-03-10T12:00:00Z"},
    ],
}


@pytest.mark.parametrize("definition", [WEEKDAY_EVENINGS, ABSOLUTE_WINDOWS], ids=["daily", "absolute"])
@settings(max_examples=100, deadline=None)
@given(
    instants=st.lists(
        st.datetimes(min_value=datetime(2026, 2, 25), max_value=datetime(2026, 3, 20), timezones=st.just(UTC)),
        min_size=1,
        max_size=30,
    )
)
def test_a_time_trigger_answers_as_its_windows_whatever_order_instants_come_in(definition, instants):
    # The compiled trigger keeps the span between two boundaries it last found: points late,
    # early, repeated or across a DST change must still be judged by the windows themselves.
    compiled = time_monitor(definition)
    spec = timewindows.parse_time_trigger(definition)
    moving = snapshot({MOVING_KEY: reported(True)})
    for instant in instants:
        assert compiled.evaluate(moving, instant).result is timewindows.is_within(spec, instant)


def test_past_the_last_edge_of_absolute_windows_the_calendar_is_not_worked_out_again():
    compiled = time_monitor(ABSOLUTE_WINDOWS)
    moving = snapshot({MOVING_KEY: reported(True)})
    later = datetime(2026, 5, 4, tzinfo=UTC)
    with mock.patch.object(evaluation, "next_boundary", wraps=timewindows.next_boundary) as worked_out:
        results = [compiled.evaluate(moving, later + timedelta(seconds=s)).result for s in (5, 1, 9, 3, 86400 * 365)]
    assert results == [True] * 5
    assert worked_out.call_count == 2  # the first instant, then the one before it; none after


def test_a_time_trigger_near_the_limits_of_datetime_answers_as_its_windows():
    always = {"timeZone": "Pacific/Kiritimati", "times": [{"recurrence": "Daily", "start": "PT0S", "duration": "P7D"}]}
    compiled = time_monitor(always)
    spec = timewindows.parse_time_trigger(always)
    moving = snapshot({MOVING_KEY: reported(True)})
    for instant in (
        datetime(2026, 5, 6, tzinfo=UTC),
        timewindows.DAILY_LAST_INSTANT - timedelta(days=1),
        timewindows.DAILY_LAST_INSTANT + timedelta(seconds=1),
        datetime.max.replace(tzinfo=UTC),
        datetime.min.replace(tzinfo=UTC),
        timewindows.DAILY_FIRST_INSTANT,
        datetime(2026, 5, 6, tzinfo=UTC),
    ):
        assert compiled.evaluate(moving, instant).result is timewindows.is_within(spec, instant), instant


# --- zone triggers ----------------------------------------------------------------------


@ZONE_SHAPES
@pytest.mark.parametrize(
    ("transition", "position", "expected"),
    [("In", IN_PARIS, True), ("In", IN_LYON, False), ("Out", IN_LYON, True), ("Out", IN_PARIS, False)],
)
def test_zone_holds_while_the_latest_position_is_on_the_wanted_side(zone, transition, position, expected):
    compiled = monitor("z", zone("z", transition))
    assert compiled.evaluate(snapshot(position=position), NOW).result is expected


@ZONE_SHAPES
@pytest.mark.parametrize("transition", ["In", "Out"])
def test_zone_without_any_position_is_neither_in_nor_out(zone, transition):
    compiled = monitor("z", zone("z", transition))
    assert compiled.evaluate(snapshot(position=None), NOW).result is False


def test_zone_radius_is_in_kilometres_and_its_circle_is_inclusive():
    center = (PARIS["latitude"], PARIS["longitude"])
    edge = geodesic(kilometers=2.5).destination(center, 60)
    compiled = monitor("z", zone_trigger("z", "In", radius=2.5))
    assert compiled.evaluate(snapshot(position=(edge.latitude, edge.longitude)), NOW).result is True
    beyond = geodesic(kilometers=2.501).destination(center, 60)
    assert compiled.evaluate(snapshot(position=(beyond.latitude, beyond.longitude)), NOW).result is False


@pytest.mark.parametrize(
    ("transition", "position", "expected"),
    [("In", IN_THE_HOLE, False), ("In", ON_THE_HOLE_EDGE, True), ("Out", IN_THE_HOLE, True), ("Out", ON_THE_HOLE_EDGE, False)],
)
def test_polygon_zone_excludes_its_hole_but_not_the_hole_edge(transition, position, expected):
    compiled = monitor("z", polygon_trigger("z", transition))
    assert compiled.evaluate(snapshot(position=position), NOW).result is expected


def test_polygon_and_circle_zones_combine_in_one_expression():
    # In the square around Paris but out of the 1 km circle around its centre.
    compiled = monitor("square & !centre", polygon_trigger("square", "In"), zone_trigger("centre", "In", radius=1))
    assert compiled.evaluate(snapshot(position=IN_PARIS), NOW).result is True
    assert compiled.evaluate(snapshot(position=(PARIS["latitude"], PARIS["longitude"])), NOW).result is False


def test_polygon_is_built_once_when_compiled_not_per_point():
    with mock.patch.object(evaluation, "polygon_area", wraps=evaluation.polygon_area) as build:
        compiled = monitor("z", polygon_trigger("z", "In"))
        for position in (IN_PARIS, IN_LYON, IN_THE_HOLE, ON_THE_HOLE_EDGE):
            compiled.evaluate(snapshot(position=position), NOW)
    build.assert_called_once()


# --- boolExp ----------------------------------------------------------------------------


def reference_monitor():
    return monitor(
        "(outOfParis & (batteryIsLow | onMonday))",
        zone_trigger("outOfParis", "Out"),
        time_trigger(
            "onMonday",
            {
                "timeZone": "Europe/Paris",
                "times": [
                    {
                        "recurrence": "Daily",
                        "start": "PT14H30M",
                        "duration": "PT04H30M",
                        "occurence": {"day": ["Mon"], "week": ["w1-w25", "w30"]},
                    },
                    {"recurrence": "None", "start": "2026-01-03T12:00:00+01:00", "duration": "PT2H"},
                    {"recurrence": "None", "start": "2026-02-01T00:00:00Z"},
                ],
            },
        ),
        data_trigger("batteryIsLow", NUMBER_KEY, "lowerThan", ["50"]),
    )


@pytest.mark.parametrize(
    ("position", "level", "moving", "expected"),
    [
        (IN_LYON, 40, False, True),  # out of Paris, battery low
        (IN_LYON, 60, True, True),  # out of Paris, in use in a window
        (IN_LYON, 60, False, False),  # out of Paris, neither
        (IN_PARIS, 40, True, False),  # everything but out of Paris
        (None, 40, True, False),  # no position: not out of Paris
    ],
)
def test_reference_monitor_combines_its_triggers(position, level, moving, expected):
    state = snapshot({NUMBER_KEY: reported(level), MOVING_KEY: reported(moving)}, position=position)
    assert reference_monitor().evaluate(state, NOW).result is expected


@pytest.mark.parametrize(
    ("position", "moving", "expected"),
    [(IN_PARIS, False, True), (IN_PARIS, True, False), (IN_LYON, False, False), (IN_LYON, True, False)],
)
def test_negated_trigger_holds_when_the_trigger_does_not(position, moving, expected):
    compiled = monitor("z & !t", zone_trigger("z", "In"), time_trigger("t", ALWAYS_OPEN))
    state = snapshot({MOVING_KEY: reported(moving)}, position=position)
    assert compiled.evaluate(state, NOW).result is expected


def test_triggers_map_to_bits_in_declaration_order_not_expression_order():
    compiled = monitor(
        "b & !a",
        data_trigger("a", NUMBER_KEY, "lowerThan", ["50"]),
        data_trigger("b", STRING_KEY, "equalsTo", ["InProgress"]),
    )
    assert compiled.expression.names == ("a", "b")
    low = {NUMBER_KEY: reported(40), STRING_KEY: reported("InProgress")}
    high = {NUMBER_KEY: reported(60), STRING_KEY: reported("InProgress")}
    assert compiled.evaluate(snapshot(low), NOW).result is False
    assert compiled.evaluate(snapshot(high), NOW).result is True


@pytest.mark.parametrize("bits", range(8))
def test_every_combination_of_three_triggers_follows_the_expression(bits):
    compiled = monitor(
        "(a | b) & !c",
        data_trigger("a", NUMBER_KEY, "lowerThan", ["50"]),
        data_trigger("b", BOOLEAN_KEY, "equalsTo", ["true"]),
        data_trigger("c", STRING_KEY, "equalsTo", ["Failure"]),
    )
    a, b, c = bool(bits & 1), bool(bits & 2), bool(bits & 4)
    state = snapshot(
        {
            NUMBER_KEY: reported(40 if a else 60),
            BOOLEAN_KEY: reported(b),
            STRING_KEY: reported("Failure" if c else "InProgress"),
        }
    )
    assert compiled.evaluate(state, NOW).result is ((a or b) and not c)


# --- values -----------------------------------------------------------------------------


def value_of(key: str, value, op: str = "includedIn", operands=None) -> dict:
    compiled = monitor("d", data_trigger("d", key, op, operands))
    state = reported(value, previous=None if op != "onChange" else value, has_previous=op == "onChange")
    result = compiled.evaluate(snapshot({key: state}, changed=[key]), NOW)
    assert result.result is True
    (entry,) = result.values
    return entry


@pytest.mark.parametrize(
    ("key", "value", "operands", "literal"),
    [
        (NUMBER_KEY, 40, ["40"], "40"),
        (NUMBER_KEY, 12.5, ["12.5"], "12.5"),
        (NUMBER_KEY, -3, ["-3"], "-3"),
        (BOOLEAN_KEY, True, ["true"], "true"),
        (BOOLEAN_KEY, False, ["false"], "false"),
        (STRING_KEY, "InProgress", ["InProgress"], "InProgress"),
    ],
)
def test_values_render_scalars_as_literal_strings(key, value, operands, literal):
    assert value_of(key, value, operands=operands) == {
        "data": key,
        "value": {"type": "string", "body": {"literalValue": literal}},
    }


def test_values_render_an_object_value_as_compact_json():
    assert value_of(ANY_KEY, {"state": "Locked", "at": 1}, op="onChange") == {
        "data": ANY_KEY,
        "value": {"type": "string", "body": {"literalValue": '{"at":1,"state":"Locked"}'}},
    }


def test_values_render_alerts_as_alert_objects_wrapping_strings():
    assert value_of(LIST_KEY, ["lowBattery", "oil"], operands=["oil"]) == {
        "data": LIST_KEY,
        "value": {"type": "obj.alert", "body": {"objectValues": [{"value": "lowBattery"}, {"value": "oil"}]}},
    }


def test_values_keep_object_items_of_alerts_as_they_are():
    alert = {"type": "lowBattery", "severity": "high"}
    assert value_of(LIST_KEY, [alert, "oil"], operands=["lowBattery"]) == {
        "data": LIST_KEY,
        "value": {"type": "obj.alert", "body": {"objectValues": [alert, {"value": "oil"}]}},
    }


def test_values_render_other_lists_as_string_objects():
    assert value_of(OTHER_LIST_KEY, ["Driving"], operands=["Driving"]) == {
        "data": OTHER_LIST_KEY,
        "value": {"type": "string", "body": {"objectValues": [{"value": "Driving"}]}},
    }


def test_values_of_an_on_change_trigger_show_the_current_value():
    assert value_of(NUMBER_KEY, 42, op="onChange")["value"]["body"] == {"literalValue": "42"}


def test_values_list_only_the_satisfied_data_triggers_in_trigger_order():
    compiled = monitor(
        "z & (c | b | a)",
        data_trigger("c", STRING_KEY, "equalsTo", ["InProgress"]),
        zone_trigger("z", "In"),
        data_trigger("b", BOOLEAN_KEY, "equalsTo", ["true"]),
        data_trigger("a", NUMBER_KEY, "lowerThan", ["50"]),
    )
    state = snapshot(
        {STRING_KEY: reported("InProgress"), BOOLEAN_KEY: reported(False), NUMBER_KEY: reported(40)},
        position=IN_PARIS,
    )
    result = compiled.evaluate(state, NOW)
    assert result.result is True
    assert [entry["data"] for entry in result.values] == [STRING_KEY, NUMBER_KEY]


def test_values_are_empty_for_a_monitor_without_data_triggers():
    compiled = monitor("z", zone_trigger("z", "In"))
    assert compiled.evaluate(snapshot(position=IN_PARIS), NOW) == Evaluation(result=True, values=())


def test_values_are_empty_when_the_result_is_false():
    compiled = monitor("d & z", data_trigger("d", NUMBER_KEY, "lowerThan", ["50"]), zone_trigger("z", "In"))
    result = compiled.evaluate(snapshot({NUMBER_KEY: reported(40)}, position=IN_LYON), NOW)
    assert result == Evaluation(result=False, values=())


def test_values_omit_a_satisfied_trigger_under_a_negation_that_made_the_result_false():
    compiled = monitor("z | !d", data_trigger("d", NUMBER_KEY, "lowerThan", ["50"]), zone_trigger("z", "In"))
    result = compiled.evaluate(snapshot({NUMBER_KEY: reported(40)}, position=IN_PARIS), NOW)
    assert result.result is True
    assert [entry["data"] for entry in result.values] == [NUMBER_KEY]


# --- time boundaries --------------------------------------------------------------------


def test_monitor_reports_whether_it_has_time_triggers():
    assert time_monitor().has_time_triggers is True
    assert monitor("z", zone_trigger("z", "In")).has_time_triggers is False


def test_next_time_boundary_is_the_earliest_over_all_time_triggers():
    compiled = monitor(
        "a | b",
        time_trigger("a", {"times": [{"recurrence": "None", "start": "2026-06-01T00:00:00Z", "duration": "PT1H"}]}),
        time_trigger("b", {"times": [{"recurrence": "None", "start": "2026-05-10T00:00:00Z", "duration": "P30D"}]}),
    )
    after = datetime(2026, 5, 1, tzinfo=UTC)
    assert compiled.next_time_boundary(after) == datetime(2026, 5, 10, tzinfo=UTC)
    assert compiled.next_time_boundary(datetime(2026, 5, 10, tzinfo=UTC)) == datetime(2026, 6, 1, tzinfo=UTC)
    assert compiled.next_time_boundary(datetime(2026, 6, 1, tzinfo=UTC)) == datetime(2026, 6, 1, 1, tzinfo=UTC)
    assert compiled.next_time_boundary(datetime(2026, 6, 1, 1, tzinfo=UTC)) == datetime(2026, 6, 9, tzinfo=UTC)
    assert compiled.next_time_boundary(datetime(2026, 6, 9, tzinfo=UTC)) is None


def test_next_time_boundary_is_none_without_time_triggers():
    assert monitor("z", zone_trigger("z", "In")).next_time_boundary(NOW) is None


def test_next_time_boundary_is_none_once_every_window_is_over():
    assert time_monitor(NEVER_AGAIN).next_time_boundary(NOW) is None


# --- compiled once ----------------------------------------------------------------------


def test_evaluation_parses_nothing():
    compiled = reference_monitor()
    forbidden = AssertionError("parsed on the evaluation path")
    with (
        mock.patch.object(evaluation, "compile_expression", side_effect=forbidden),
        mock.patch.object(evaluation, "parse_time_trigger", side_effect=forbidden),
        mock.patch.object(timewindows, "parse_iso_duration", side_effect=forbidden),
        mock.patch.object(timewindows, "parse_rfc3339", side_effect=forbidden),
    ):
        state = snapshot({NUMBER_KEY: reported(40), MOVING_KEY: reported(True)}, position=IN_LYON)
        assert compiled.evaluate(state, NOW).result is True
        assert compiled.next_time_boundary(NOW) is not None


def test_compiled_monitor_is_reusable_across_snapshots_and_instants():
    compiled = reference_monitor()
    low = snapshot({NUMBER_KEY: reported(40)}, position=IN_LYON, last_seen_at=NOW)
    high = snapshot({NUMBER_KEY: reported(60)}, position=IN_LYON, last_seen_at=NOW)
    # Seen at NOW: in use at NOW, no longer an hour later.
    later = NOW + timedelta(hours=1)
    runs = [(low, NOW), (high, NOW), (high, later), (low, later), (high, NOW)]
    assert [compiled.evaluate(s, instant).result for s, instant in runs] == [True, True, False, True, True]

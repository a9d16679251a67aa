"""POST …/monitors/backtest and …/monitors/{mid}/backtest: replays in memory through the live
engine's evaluator, against the real database."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from fleetmon_project.isodates import format_rfc3339
from monitors import engine
from monitors.models import Event, MonitorVehicleState
from notifications.models import Delivery
from telemetry.models import VehicleState
from telemetry.selectors import points_pending
from tests.monitors.factories import PARIS, MonitorFactory, monitor_definition
from tests.monitors.scenarios import INSIDE, OUTSIDE, T0, feed
from tests.telemetry.factories import VehicleFactory

pytestmark = pytest.mark.django_db

LEVEL = "vehicle.energy.electric.level"
ZONE_OUT = {"transition": "Out", "place": {"radius": 20, "center": dict(PARIS)}}


def definition(*triggers, bool_exp, refresh=None, extensions=("vehicle.position", "vehicle.status")):
    subscribe = {"callback": {"webhook": {"target": "http://127.0.0.1:9/hook", "name": "r"}}}
    if refresh:
        subscribe["refreshEvent"] = refresh
    return monitor_definition(
        subscribeParam=subscribe,
        extendedEventParam=list(extensions),
        triggerParam={"triggers": list(triggers), "boolExp": bool_exp},
    )


PARKED_OR_LOW = definition(
    {"name": "parked", "zone": ZONE_OUT, "minDuration": "PT5M"},
    {"name": "low", "data": {"data": LEVEL, "op": "lowerThan", "value": ["50"]}},
    bool_exp="parked | low",
)
# Inside, out (parked from 120), a low battery at 240 while still out, back in and charged, out
# again at 1200 and silent afterwards: the dwell completes at 1500 with no point.
PATH = [
    (0, INSIDE, {LEVEL: 80}),
    (120, OUTSIDE, {LEVEL: 70}),
    (240, OUTSIDE, {LEVEL: 40}),
    (600, INSIDE, {LEVEL: 90}),
    (900, OUTSIDE, {LEVEL: 85}),
    (960, INSIDE, None),
    (1200, OUTSIDE, None),
]


@pytest.fixture
def vehicle(fleet):
    return VehicleFactory(fleet=fleet)


def window(seconds_from=0, seconds_until=3600) -> dict:
    return {"from": format_rfc3339(T0 + timedelta(seconds=seconds_from)), "until": format_rfc3339(T0 + timedelta(seconds=seconds_until))}


def backtest(api, fleet, body):
    return api.post(f"/api/v1/fleets/{fleet.pk}/monitors/backtest", body, format="json")


def stored_backtest(api, monitor, body):
    return api.post(f"/api/v1/fleets/{monitor.fleet_id}/monitors/{monitor.pk}/backtest", body, format="json")


def live_events(monitor) -> list[dict]:
    return [event.to_monitor_event() for event in Event.objects.filter(monitor=monitor).order_by("event_date", "id")]


def test_a_backtest_raises_what_the_live_engine_raised_on_the_same_points(api, fleet, vehicle):
    monitor = MonitorFactory(fleet=fleet, definition=PARKED_OR_LOW)
    feed(vehicle, *PATH)
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], at=T0 + timedelta(seconds=1500), expiries=True)
    live = live_events(monitor)
    assert [event["eventDate"] for event in live] == [
        format_rfc3339(T0 + timedelta(seconds=s)) for s in (240, 1200 + 300)
    ]

    response = stored_backtest(api, monitor, window())
    assert response.status_code == 200, response.json()
    assert response.json() == {"events": live, "total": 2, "evaluatedPoints": len(PATH), "vehicles": 1}
    # The same definition given in the body answers the same.
    adhoc = backtest(api, fleet, {"monitor": PARKED_OR_LOW, **window()})
    assert adhoc.json()["events"] == live


def snapshot_of_the_database() -> dict:
    return {
        "events": Event.objects.count(),
        "deliveries": Delivery.objects.count(),
        "states": sorted(
            MonitorVehicleState.objects.values_list("monitor_id", "value", "since", "last_notified_at", "dwell_due_at")
        ),
        "unevaluated": points_pending().count(),
        "vehicle_states": sorted(VehicleState.objects.values_list("vehicle_id", "last_seen_at")),
    }


def test_a_backtest_sends_stores_and_changes_nothing(api, fleet, vehicle):
    monitor = MonitorFactory(fleet=fleet, definition=PARKED_OR_LOW)
    feed(vehicle, *PATH[:3])
    feed(vehicle, *PATH[3:], evaluate=False)  # some points not evaluated yet: they stay so
    before = snapshot_of_the_database()
    assert before["events"] == 1 and before["unevaluated"] == 4

    assert stored_backtest(api, monitor, window()).json()["total"] == 2
    assert backtest(api, fleet, {"monitor": PARKED_OR_LOW, **window()}).json()["total"] == 2
    assert snapshot_of_the_database() == before


def test_window_boundaries_reminders_and_expiries_are_replayed_at_their_own_instants(api, fleet, vehicle):
    closes = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)  # 13:00 Paris, T0 + 3600
    body = definition(
        {"name": "z", "zone": ZONE_OUT},
        {"name": "t", "time": {"timeZone": "Europe/Paris", "times": [{"start": "PT12H", "duration": "PT1H"}]}},
        bool_exp="z & !t",
        refresh=600,
        extensions=(),
    )
    feed(vehicle, (600, OUTSIDE, {"vehicle.kinetic.moving": True}), evaluate=False)
    events = backtest(api, fleet, {"monitor": body, **window(0, 3600 + 1800)}).json()["events"]
    assert [(event["eventDate"], event["refresh"]) for event in events] == [
        (format_rfc3339(closes), False),
        (format_rfc3339(closes + timedelta(seconds=600)), True),
        (format_rfc3339(closes + timedelta(seconds=1200)), True),
    ]


def test_only_points_within_the_range_count_and_vins_select_vehicles(api, fleet, vehicle):
    other = VehicleFactory(fleet=fleet)
    low = definition({"name": "low", "data": {"data": LEVEL, "op": "lowerThan", "value": ["50"]}}, bool_exp="low")
    for car in (vehicle, other):
        feed(car, (0, None, {LEVEL: 40}), (3600, None, {LEVEL: 30}), (7200, None, {LEVEL: 20}), evaluate=False)
    both = backtest(api, fleet, {"monitor": low, **window(1, 7200)}).json()
    assert (both["evaluatedPoints"], both["vehicles"], both["total"]) == (2, 2, 2)
    # Each vehicle starts from "never evaluated" at `from`: its first point in range fires.
    assert [event["eventDate"] for event in both["events"]] == [format_rfc3339(T0 + timedelta(seconds=3600))] * 2
    one = backtest(api, fleet, {"monitor": low, **window(1, 7200), "vins": [other.vin.lower()]}).json()
    assert [event["vin"] for event in one["events"]] == [other.vin]


def test_unknown_vins_are_a_400_naming_them(api, fleet, vehicle):
    response = backtest(api, fleet, {"monitor": PARKED_OR_LOW, **window(), "vins": [vehicle.vin, "VF3NOTMINE0000001"]})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error == {"field": "vins", "message": "not vehicles of this fleet: VF3NOTMINE0000001"}


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"monitor": None}, "monitor", "is required"),
        ({"from": None}, "from", "is required"),
        ({"until": "tomorrow"}, "until", "is not an RFC 3339 date-time"),
        ({"until": format_rfc3339(T0)}, "until", "must be after 'from'"),
        ({"vins": []}, "vins", "must be a non-empty array of VINs"),
        ({"colour": "red"}, "colour", "unknown field 'colour'"),
    ],
)
def test_invalid_bodies_are_a_400_naming_the_field(api, fleet, change, field, fragment):
    body = {"monitor": PARKED_OR_LOW, **window()}
    body.update(change)
    body = {key: value for key, value in body.items() if value is not None}
    response = backtest(api, fleet, body)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == field and fragment in error["message"]


def test_an_invalid_definition_is_a_400_under_monitor(api, fleet):
    broken = copy.deepcopy(PARKED_OR_LOW)
    broken["triggerParam"]["triggers"][0]["minDuration"] = "P2D"
    broken["label"] = ""
    response = backtest(api, fleet, {"monitor": broken, **window()})
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == [
        "monitor.label",
        "monitor.triggerParam.triggers[0].minDuration",
    ]


def test_a_range_beyond_the_limit_is_a_400_naming_it(api, fleet, settings):
    settings.FLEETMON_BACKTEST_MAX_RANGE = 3600
    response = backtest(api, fleet, {"monitor": PARKED_OR_LOW, **window(0, 3601)})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "until" and "more than FLEETMON_BACKTEST_MAX_RANGE (3600 s" in error["message"]
    assert backtest(api, fleet, {"monitor": PARKED_OR_LOW, **window(0, 3600)}).status_code == 200


def test_more_points_than_the_limit_is_a_400_naming_it(api, fleet, vehicle, settings):
    settings.FLEETMON_BACKTEST_MAX_POINTS = len(PATH) - 1
    feed(vehicle, *PATH, evaluate=False)
    response = backtest(api, fleet, {"monitor": PARKED_OR_LOW, **window()})
    assert response.status_code == 400
    assert "more than FLEETMON_BACKTEST_MAX_POINTS (6)" in response.json()["errors"][0]["message"]
    settings.FLEETMON_BACKTEST_MAX_POINTS = len(PATH)
    assert backtest(api, fleet, {"monitor": PARKED_OR_LOW, **window()}).status_code == 200


def test_another_owners_fleet_or_monitor_is_a_404(api, other_api, fleet, other_fleet):
    monitor = MonitorFactory(fleet=fleet, definition=PARKED_OR_LOW)
    assert backtest(other_api, fleet, {"monitor": PARKED_OR_LOW, **window()}).status_code == 404
    assert stored_backtest(other_api, monitor, window()).status_code == 404
    # Not through a fleet of one's own either.
    url = f"/api/v1/fleets/{other_fleet.pk}/monitors/{monitor.pk}/backtest"
    assert other_api.post(url, window(), format="json").status_code == 404


def test_a_deleted_monitor_has_no_backtest(api, fleet):
    monitor = MonitorFactory(fleet=fleet, definition=PARKED_OR_LOW)
    assert api.delete(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}").status_code == 204
    assert stored_backtest(api, monitor, window()).status_code == 404


def test_the_schema_documents_both_backtests(api):
    paths = api.get("/api/schema", {"format": "json"}).json()["paths"]
    assert "post" in paths["/api/v1/fleets/{fleet_id}/monitors/backtest"]
    assert "post" in paths["/api/v1/fleets/{fleet_id}/monitors/{monitor_id}/backtest"]

"""The engine end to end: telemetry through the HTTP API, evaluation by real Celery worker
processes on Redis, time windows and reminders driven by a real Beat process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetmon_project.isodates import format_rfc3339
from monitors.models import Event
from telemetry.selectors import points_pending
from tests.e2e_support import wait_for
from tests.monitors.factories import PARIS, monitor_definition
from tests.telemetry.factories import VehicleFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

INSIDE = {"latitude": PARIS["latitude"], "longitude": PARIS["longitude"]}
OUTSIDE = {"latitude": 49.3, "longitude": 2.33}


@pytest.fixture
def vehicle(fleet):
    return VehicleFactory(fleet=fleet, vin="VF3ABCDE0FG123456")


def create_monitor(api, fleet, receiver, **overrides) -> str:
    overrides.setdefault(
        "subscribeParam",
        {"callback": {"webhook": {"target": f"{receiver.url}/hook", "name": "receiver"}}},
    )
    response = api.post(f"/api/v1/fleets/{fleet.pk}/monitors", monitor_definition(**overrides), format="json")
    assert response.status_code == 202, response.json()
    return response.json()["monitorId"]


def send(api, start: datetime, *points) -> None:
    """points: (seconds after start, position or None, data or None)."""
    body = []
    for offset, position, data in points:
        point = {"vin": "VF3ABCDE0FG123456", "eventDate": (start + timedelta(seconds=offset)).isoformat()}
        if position:
            point["position"] = position
        if data:
            point["data"] = data
        body.append(point)
    response = api.post("/api/v1/telemetry", body, format="json")
    assert response.status_code == 202, response.json()


def all_evaluated() -> bool:
    return not points_pending().exists()


def event_dates(monitor_id: str) -> list[datetime]:
    return list(Event.objects.filter(monitor_id=monitor_id).order_by("event_date").values_list("event_date", flat=True))


def battery_definition(receiver, **subscribe):
    return {
        "subscribeParam": {"callback": {"webhook": {"target": f"{receiver.url}/hook", "name": "r"}}, **subscribe},
        "triggerParam": {
            "triggers": [
                {"name": "low", "data": {"data": "vehicle.energy.electric.level", "op": "lowerThan", "value": ["50"]}}
            ],
            "boolExp": "low",
        },
    }


def test_zone_exits_fire_once_each_through_a_real_worker(api, fleet, vehicle, live_celery, webhook_receiver):
    live_celery.worker()
    monitor_id = create_monitor(api, fleet, webhook_receiver)
    start = datetime.now(UTC) - timedelta(minutes=10)
    send(api, start, (0, INSIDE, None), (60, OUTSIDE, None), (120, OUTSIDE, None))
    wait_for(all_evaluated, message="points evaluated")
    assert event_dates(monitor_id) == [start + timedelta(seconds=60)]
    send(api, start, (180, INSIDE, None), (240, OUTSIDE, None))
    wait_for(all_evaluated, message="points evaluated")
    assert event_dates(monitor_id) == [start + timedelta(seconds=60), start + timedelta(seconds=240)]


def test_battery_drops_fire_exactly_twice_and_late_points_do_not_flip(api, fleet, vehicle, live_celery, webhook_receiver):
    live_celery.worker()
    response = api.post(f"/api/v1/fleets/{fleet.pk}/monitors", {"label": "battery", **battery_definition(webhook_receiver)}, format="json")
    monitor_id = response.json()["monitorId"]
    start = datetime.now(UTC) - timedelta(minutes=10)
    level = "vehicle.energy.electric.level"
    for offset, value in zip((0, 60, 120, 180, 240), (60, 40, 35, 55, 45), strict=True):
        send(api, start, (offset, None, {level: value}))
    wait_for(all_evaluated, message="points evaluated")
    assert event_dates(monitor_id) == [start + timedelta(seconds=60), start + timedelta(seconds=240)]
    # A late point from before the last drop claiming a full battery changes nothing.
    send(api, start, (200, None, {level: 90}), (250, None, {level: 44}))
    wait_for(all_evaluated, message="late points evaluated")
    assert len(event_dates(monitor_id)) == 2


def test_pausing_stops_events_and_resuming_restarts_them(api, fleet, vehicle, live_celery, webhook_receiver):
    live_celery.worker()
    response = api.post(f"/api/v1/fleets/{fleet.pk}/monitors", {"label": "battery", **battery_definition(webhook_receiver)}, format="json")
    monitor_id = response.json()["monitorId"]
    status_url = f"/api/v1/fleets/{fleet.pk}/monitors/{monitor_id}/status"
    start = datetime.now(UTC) - timedelta(minutes=10)
    level = "vehicle.energy.electric.level"
    assert api.put(status_url, {"status": "Paused"}, format="json").status_code == 202
    send(api, start, (0, None, {level: 60}), (60, None, {level: 40}))
    wait_for(all_evaluated, message="points evaluated while paused")
    assert event_dates(monitor_id) == []
    assert api.put(status_url, {"status": "Running"}, format="json").status_code == 202
    send(api, start, (120, None, {level: 39}))
    wait_for(lambda: event_dates(monitor_id), message="event after resume")
    assert event_dates(monitor_id) == [start + timedelta(seconds=120)]


def test_two_workers_and_a_thousand_points_for_one_vin(api, fleet, vehicle, live_celery, webhook_receiver):
    live_celery.worker(name="first")
    live_celery.worker(name="second")
    definition = battery_definition(webhook_receiver, batchNotify={"size": 100, "timeWindow": 5})
    monitor_id = api.post(f"/api/v1/fleets/{fleet.pk}/monitors", {"label": "b", **definition}, format="json").json()["monitorId"]
    start = datetime.now(UTC) - timedelta(hours=1)
    level = "vehicle.energy.electric.level"
    for batch in range(10):
        points = [(i, None, {level: 40 if i % 2 else 60}) for i in range(batch * 100, batch * 100 + 100)]
        send(api, start, *points)
    wait_for(all_evaluated, timeout=120, message="1,000 points evaluated")
    dates = event_dates(monitor_id)
    # Every odd point is a drop below 50: 500 edges, none duplicated, none missed.
    assert len(dates) == 500
    assert dates == [start + timedelta(seconds=i) for i in range(1, 1000, 2)]


def test_beat_drives_window_close_and_refresh_without_new_telemetry(api, fleet, vehicle, live_celery, webhook_receiver):
    live_celery.worker()
    live_celery.beat()
    now = datetime.now(UTC)
    window = {
        "triggers": [
            {"name": "z", "zone": {"transition": "Out", "place": {"radius": 20, "center": dict(PARIS)}}},
            {
                "name": "t",
                "time": {
                    "timeZone": "UTC",
                    "times": [{"recurrence": "None", "start": (now - timedelta(minutes=1)).replace(microsecond=0).isoformat(), "duration": "PT85S"}],
                },
            },
        ],
        "boolExp": "z & !t",
    }
    closes_at = (now - timedelta(minutes=1)).replace(microsecond=0) + timedelta(seconds=85)
    window_monitor = create_monitor(api, fleet, webhook_receiver, triggerParam=window)
    response = api.post(
        f"/api/v1/fleets/{fleet.pk}/monitors",
        {"label": "low", **battery_definition(webhook_receiver, refreshEvent=60)},
        format="json",
    )
    refresh_monitor = response.json()["monitorId"]
    send(api, now - timedelta(seconds=5), (0, OUTSIDE, {"vehicle.kinetic.moving": True, "vehicle.energy.electric.level": 30}))
    wait_for(all_evaluated, message="point evaluated")
    assert event_dates(window_monitor) == []  # inside the window: `!t` is false
    fired = wait_for(lambda: event_dates(window_monitor), timeout=90, message="window close to fire z & !t")
    assert fired[0] >= closes_at
    assert Event.objects.get(monitor_id=window_monitor).refresh is False
    reminders = wait_for(
        lambda: list(Event.objects.filter(monitor_id=refresh_monitor, refresh=True)),
        timeout=90,
        message="a refresh reminder",
    )
    first = Event.objects.get(monitor_id=refresh_monitor, refresh=False)
    assert reminders[0].event_date - first.event_date >= timedelta(seconds=60)


def test_a_dwell_fires_with_no_new_telemetry_through_beat_and_a_real_worker(
    api, fleet, vehicle, live_celery, webhook_receiver
):
    live_celery.worker()
    live_celery.beat()
    zone = {"transition": "Out", "place": {"radius": 20, "center": dict(PARIS)}}
    monitor_id = create_monitor(
        api, fleet, webhook_receiver, triggerParam={"triggers": [{"name": "parked", "zone": zone, "minDuration": "PT5S"}], "boolExp": "parked"}
    )
    left = datetime.now(UTC).replace(microsecond=0)
    send(api, left, (-60, INSIDE, None), (0, OUTSIDE, None))  # nothing is ever dated after `left`
    fired = wait_for(lambda: event_dates(monitor_id), timeout=60, message="the dwell to complete")
    assert fired == [left + timedelta(seconds=5)]
    [received] = wait_for(webhook_receiver.events, timeout=60, message="the dwell event's webhook")
    assert received["eventDate"] == format_rfc3339(left + timedelta(seconds=5))
    assert received["vin"] == vehicle.vin and received["refresh"] is False


def test_a_backtest_matches_what_the_live_engine_raised_on_the_same_points(
    api, fleet, vehicle, live_celery, webhook_receiver
):
    live_celery.worker()
    live_celery.beat()  # the last dwell completes after the last point: Beat's expiry sweep
    zone = {"transition": "Out", "place": {"radius": 20, "center": dict(PARIS)}}
    low = {"name": "low", "data": {"data": "vehicle.energy.electric.level", "op": "lowerThan", "value": ["50"]}}
    monitor_id = create_monitor(
        api,
        fleet,
        webhook_receiver,
        extendedEventParam=["vehicle.position", "vehicle.status"],
        triggerParam={"triggers": [{"name": "parked", "zone": zone, "minDuration": "PT2M"}, low], "boolExp": "parked | low"},
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    level = "vehicle.energy.electric.level"
    send(
        api,
        start,
        (0, INSIDE, {level: 80}),
        (60, OUTSIDE, {level: 70}),  # parked from here: completes at 180, between points
        (240, OUTSIDE, {level: 60}),
        (270, INSIDE, {level: 80}),
        (300, INSIDE, {level: 40}),  # low
        (360, INSIDE, {level: 90}),
        (600, OUTSIDE, {level: 85}),  # parked again, silent afterwards: completes at 720, by Beat
    )
    expected_dates = [start + timedelta(seconds=s) for s in (180, 300, 720)]
    wait_for(lambda: event_dates(monitor_id) == expected_dates, timeout=60, message="the live events")
    live = [event.to_monitor_event() for event in Event.objects.filter(monitor_id=monitor_id).order_by("event_date")]

    body = {"from": format_rfc3339(start - timedelta(minutes=1)), "until": format_rfc3339(datetime.now(UTC))}
    response = api.post(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor_id}/backtest", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"events": live, "total": 3, "evaluatedPoints": 7, "vehicles": 1}

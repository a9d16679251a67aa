from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from geopy.distance import great_circle

from fleetmon_project.isodates import parse_rfc3339
from telemetry import simulation
from telemetry.ingestion import MAX_POINTS
from telemetry.management.commands import simulate
from telemetry.management.commands.simulate import parse_offset
from telemetry.models import VIN_PATTERN, TelemetryPoint, Vehicle

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # in the past: the API refuses future points
PARIS = simulation.CITIES["paris"]
FIVE_S = timedelta(seconds=5)


def drive(*, seed: int = 1, count: int = 5, hours: float = 2, city: simulation.City = PARIS) -> list[dict]:
    sim = simulation.Simulation(count=count, city=city, seed=seed, start=START, interval=FIVE_S)
    return sim.points_until(START + timedelta(hours=hours))


def by_vin(points: list[dict]) -> dict[str, list[dict]]:
    tracks: dict[str, list[dict]] = defaultdict(list)
    for point in points:
        tracks[point["vin"]].append(point)
    return tracks


def position(point: dict) -> tuple[float, float]:
    return point["position"]["latitude"], point["position"]["longitude"]


class FakeClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_same_seed_same_drive_whatever_the_slicing():
    sliced = simulation.Simulation(count=5, city=PARIS, seed=7, start=START, interval=FIVE_S)
    points = []
    for minutes in range(1, 61):
        points += sliced.points_until(START + timedelta(minutes=minutes))
    assert points == drive(seed=7, hours=1)
    assert drive(seed=8, hours=1) != points


def test_vins_are_deterministic_valid_and_distinct():
    vins = [simulation.vin_for(3, index) for index in range(200)]
    assert vins == [simulation.vin_for(3, index) for index in range(200)]
    assert len(set(vins)) == 200
    assert all(re.fullmatch(VIN_PATTERN, vin) for vin in vins)
    assert simulation.vin_for(4, 0) != vins[0]


def test_speeds_are_within_bounds_and_zero_when_stopped():
    points = drive(count=10, hours=3)
    moving = [p["data"]["vehicle.kinetic.speed"] for p in points if p["data"]["vehicle.kinetic.moving"]]
    stopped = [p["data"]["vehicle.kinetic.speed"] for p in points if not p["data"]["vehicle.kinetic.moving"]]
    assert moving and stopped  # in three hours some vehicles have stopped
    assert all(simulation.MIN_SPEED_KMH <= speed <= simulation.MAX_SPEED_KMH for speed in moving)
    assert set(stopped) == {0}


@pytest.mark.parametrize("city", ["paris", "berlin", "madrid"])
def test_positions_stay_around_the_city_and_move_at_the_reported_pace(city):
    centre = simulation.CITIES[city]
    for track in by_vin(drive(count=5, hours=3, city=centre)).values():
        assert great_circle((centre.latitude, centre.longitude), position(track[0])).km <= simulation.START_RADIUS_KM + 0.1
        for before, after in pairwise(track):
            assert great_circle((centre.latitude, centre.longitude), position(after)).km <= simulation.WAYPOINT_RADIUS_KM + 0.1
            hours = (parse_rfc3339(after["eventDate"]) - parse_rfc3339(before["eventDate"])).total_seconds() / 3600
            # Never faster than the top speed; at most one waypoint turn within a step.
            assert great_circle(position(before), position(after)).km <= simulation.MAX_SPEED_KMH * hours + 0.01


def test_vehicles_leave_the_city_centre():
    # The demo's monitor fires 20 km out of Paris: the drives must get there.
    farthest = [
        max(great_circle((PARIS.latitude, PARIS.longitude), position(p)).km for p in track)
        for track in by_vin(drive(count=10, hours=2)).values()
    ]
    assert sum(distance > 20 for distance in farthest) >= 5


def test_battery_stays_within_0_100_drains_with_distance_and_recharges_when_stopped():
    drained = recharged = False
    for track in by_vin(drive(count=10, hours=6)).values():
        for before, after in pairwise(track):
            level, previous = after["data"]["vehicle.energy.electric.level"], before["data"]["vehicle.energy.electric.level"]
            assert 0 <= level <= 100
            distance = after["data"]["vehicle.odometer"] - before["data"]["vehicle.odometer"]
            assert distance >= 0
            drained |= distance > 0 and level < previous
            recharged |= not after["data"]["vehicle.kinetic.moving"] and level > previous
    assert drained and recharged


def test_an_empty_battery_stops_the_vehicle_to_charge():
    sim = simulation.Simulation(count=1, city=PARIS, seed=1, start=START, interval=FIVE_S)
    vehicle = sim.vehicles[0]
    vehicle.battery = simulation.EMPTY_BATTERY
    point = sim.points_until(vehicle.next_at)[-1]
    assert point["data"]["vehicle.kinetic.moving"] is False
    assert vehicle.stopped_until - vehicle.stopped_since >= timedelta(minutes=simulation.CHARGING_STOP_MINUTES[0])


def test_event_dates_are_monotonic_per_vehicle_and_never_in_the_future():
    real = FakeClock(START)
    clock = simulation.SimulatedClock(start=START - timedelta(hours=1), speedup=60, now=real)
    sim = simulation.Simulation(count=5, city=PARIS, seed=2, start=clock.start, interval=FIVE_S)
    points = []
    for _ in range(90):  # 90 real seconds: one simulated hour, then real time
        real.at += timedelta(seconds=1)
        now = clock.read()
        assert now <= real.at
        batch = sim.points_until(now)
        assert all(parse_rfc3339(p["eventDate"]) <= real.at for p in batch)
        points += batch
    assert clock.read() == real.at  # caught up with real time, and stays there
    for track in by_vin(points).values():
        dates = [parse_rfc3339(p["eventDate"]) for p in track]
        assert dates == sorted(dates) and len(set(dates)) == len(dates)
        assert dates[-1] > START  # kept reporting after catching up
    assert all(parse_rfc3339(p["eventDate"]).utcoffset() is not None for p in points)


def test_clock_runs_speedup_times_faster_until_now():
    real = FakeClock(START)
    clock = simulation.SimulatedClock(start=START - timedelta(minutes=10), speedup=11, now=real)
    assert clock.read() == START - timedelta(minutes=10)
    real.at += timedelta(seconds=30)
    assert clock.read() == START - timedelta(minutes=10) + timedelta(seconds=330)
    # After 60 real seconds it has caught up (10 min + 1 min = 11 × 1 min) and follows real time.
    real.at += timedelta(seconds=30)
    assert clock.read() == real.at == START + timedelta(minutes=1)
    real.at += timedelta(seconds=30)
    assert clock.read() == real.at


def test_batches_never_exceed_the_size():
    points = drive(count=7, hours=0.25)
    chunks = list(simulation.batches(points, MAX_POINTS))
    assert [len(chunk) for chunk in chunks[:-1]] == [MAX_POINTS] * (len(chunks) - 1)
    assert 0 < len(chunks[-1]) <= MAX_POINTS
    assert [p for chunk in chunks for p in chunk] == points
    with pytest.raises(ValueError):
        list(simulation.batches(points, 0))


def test_points_are_valid_telemetry(api, fleet):
    """What the simulator sends is what the API accepts."""
    points = drive(count=2, hours=0.1)
    for vin in {p["vin"] for p in points}:
        Vehicle.objects.create(fleet=fleet, vin=vin)
    response = api.post("/api/v1/telemetry", points, format="json")
    assert response.status_code == 202, response.json()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("1h30m", timedelta(minutes=90))],
)
def test_start_offset(text, expected):
    assert parse_offset(text) == expected


@pytest.mark.parametrize("text", ["", "1d", "h", "-5", "²", "١m", "5\n"])
def test_bad_start_offset(text):
    with pytest.raises(CommandError):
        parse_offset(text)


def scripted_api(*outcomes: int | Exception) -> tuple[simulate.Api, list[float]]:
    """An Api whose requests answer `outcomes` in turn (a status, or an exception raised)."""
    slept: list[float] = []
    api = simulate.Api(url="http://fleetmon.test", token="t", stats=simulate.Stats(), sleep=slept.append)
    script = iter(outcomes)

    def request(method: str, url: str, **kwargs) -> requests.Response:
        outcome = next(script)
        if isinstance(outcome, Exception):
            raise outcome
        response = requests.Response()
        response.status_code = outcome
        response.headers["Retry-After"] = "3"
        response._content = b'{"accepted": 1}'
        return response

    api.session.request = request
    return api, slept


def test_throttled_requests_wait_for_retry_after():
    api, slept = scripted_api(429, 429, 202)
    assert api.call("POST", "/telemetry", []).status_code == 202
    assert slept == [3.0, 3.0]
    assert (api.stats.requests, api.stats.throttled, api.stats.errors) == (3, 2, 0)


def test_connection_errors_and_5xx_are_retried_with_backoff():
    api, slept = scripted_api(requests.ConnectionError("refused"), 503, requests.Timeout("slow"), 202)
    assert api.call("POST", "/telemetry", []).status_code == 202
    assert slept == [0.5, 1.0, 2.0]
    assert api.stats.errors == 3 and "ConnectionError: refused" in api.stats.first_errors[0]


def test_a_server_that_keeps_failing_is_given_up_on():
    api, slept = scripted_api(*[requests.ConnectionError("refused")] * simulate.TRANSIENT_ATTEMPTS)
    with pytest.raises(simulate.Unavailable):
        api.call("POST", "/telemetry", [])
    assert len(slept) == simulate.TRANSIENT_ATTEMPTS - 1 and max(slept) == simulate.BACKOFF_MAX_S


def test_client_errors_are_returned_not_retried():
    api, slept = scripted_api(400)
    assert api.call("POST", "/telemetry", []).status_code == 400
    assert slept == []


@pytest.mark.django_db(transaction=True)
def test_simulate_command_posts_through_the_api(live_server, user):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=user).key
    out, err = io.StringIO(), io.StringIO()
    args = ["--url", live_server.url, "--token", token, "--vehicles", "3", "--duration", "3", "--interval", "1",
            "--speedup", "20", "--batch", "25", "--seed", "5"]
    call_command("simulate", *args, "--create-fleet", "Simulated", stdout=out, stderr=err)

    vehicles = Vehicle.objects.filter(fleet__owner=user)
    assert sorted(vehicles.values_list("vin", flat=True)) == sorted(simulation.vin_for(5, i) for i in range(3))
    stored = TelemetryPoint.objects.filter(vehicle__in=vehicles)
    # 3 s at ×20 is a minute of simulated driving: about 60 points per vehicle.
    assert 150 <= stored.count() <= 200
    summary = out.getvalue()
    assert "3 vehicles (3 registered now) around Paris" in summary
    assert f"accepted     {stored.count()}" in summary
    assert "rejected     0" in summary
    assert "\r[" in err.getvalue() and "accepted" in err.getvalue()

    # Again on the same fleet: nothing to register, the same VINs drive on.
    fleet_id = vehicles.first().fleet_id
    out = io.StringIO()
    call_command("simulate", *args[:-2], "--seed", "5", "--duration", "1", "--fleet", fleet_id, stdout=out,
                 stderr=io.StringIO())
    assert "3 vehicles (0 registered now)" in out.getvalue()
    assert vehicles.count() == 3


@pytest.mark.django_db(transaction=True)
def test_simulate_command_reports_rejected_batches_and_carries_on(live_server, user, monkeypatch):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=user).key
    # Points dated an hour ahead: every batch answers 400, and the run still finishes.
    monkeypatch.setattr(simulation, "format_event_date", lambda moment: (moment + timedelta(hours=1)).isoformat())
    out = io.StringIO()
    call_command("simulate", "--url", live_server.url, "--token", token, "--create-fleet", "Ahead",
                 "--vehicles", "2", "--duration", "2", "--interval", "1", stdout=out, stderr=io.StringIO())
    summary = out.getvalue()
    assert "accepted     0" in summary
    assert "first errors:" in summary and "is in the future" in summary
    assert TelemetryPoint.objects.count() == 0


def test_simulate_command_needs_a_token(monkeypatch):
    monkeypatch.delenv("FLEETMON_TOKEN", raising=False)
    with pytest.raises(CommandError, match="token"):
        call_command("simulate", "--create-fleet", "x", "--token", "")

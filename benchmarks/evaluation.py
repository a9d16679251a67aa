"""Ingestion and evaluation throughput, next to a bare DRF endpoint validating the same batch.

    .venv/bin/python benchmarks/evaluation.py [--vehicles 1000] [--rounds 6]

Runs against a throwaway test database (PostgreSQL from DATABASE_URL, or the local
PostgreSQL at 127.0.0.1:5432, else SQLite) with an in-memory broker, so it measures FleetMon's
own code path: validation, storage and enqueue for ingestion; state merge, trigger evaluation
and event creation for evaluation. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _configure_environment() -> None:
    if "DATABASE_URL" not in os.environ:
        try:
            socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
            os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/fleetmon_bench"
        except OSError:
            os.environ["DATABASE_URL"] = "sqlite:////tmp/fleetmon-bench.sqlite3"
    os.environ["CELERY_BROKER_URL"] = "memory://"  # measure our code, not a broker round trip
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleetmon_project.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")


_configure_environment()

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from rest_framework.test import APIRequestFactory, force_authenticate  # noqa: E402

from benchmarks.common import BareValidationView  # noqa: E402
from monitors import engine  # noqa: E402
from monitors.definition import parse_monitor_definition  # noqa: E402
from monitors.models import Monitor  # noqa: E402
from monitors.services import monitor_create  # noqa: E402
from monitors.sweeps import vehicle_chunks  # noqa: E402
from telemetry.models import Fleet, TelemetryPoint, Vehicle  # noqa: E402
from telemetry.views import TelemetryView  # noqa: E402

PARIS = {"latitude": 48.866667, "longitude": 2.333333}


def definitions(target: str = "http://127.0.0.1:9/hook") -> list[dict]:
    callback = {"callback": {"webhook": {"target": target, "name": "bench"}}}
    zone = {"name": "z", "zone": {"transition": "Out", "place": {"radius": 20, "center": PARIS}}}
    time_trigger = {"name": "t", "time": {"times": [{"recurrence": "Daily", "start": "PT8H", "duration": "PT10H"}]}}
    low = {"name": "d", "data": {"data": "vehicle.energy.electric.level", "op": "lowerThan", "value": ["20"]}}
    hot = {"name": "h", "data": {"data": "environment.air.temp", "op": "greaterThan", "value": ["30"]}}
    shapes = [
        ([zone], "z"),
        ([low], "d"),
        ([zone, low], "z & d"),
        ([zone, time_trigger], "z & !t"),
        ([low, hot], "d | h"),
        ([zone, low, hot], "z & (d | h)"),
        ([time_trigger, low], "t & d"),
        ([zone, time_trigger, low, hot], "(z | h) & t & !d"),
        ([hot], "h"),
        ([zone, hot], "!z & h"),
    ]
    return [
        {"label": f"bench {i}", "subscribeParam": callback, "triggerParam": {"triggers": triggers, "boolExp": exp}}
        for i, (triggers, exp) in enumerate(shapes)
    ]


class Drive:
    """Telemetry that evolves like a vehicle's: a slow drift, not random jumps, so events are as
    rare as in a real fleet and the benchmark measures evaluation rather than event storage."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.latitude = PARIS["latitude"] + rng.uniform(-0.3, 0.3)
        self.longitude = PARIS["longitude"] + rng.uniform(-0.45, 0.45)
        self.level = rng.randint(15, 100)
        self.temp = rng.randint(15, 35)

    def point(self, vin: str, moment: datetime) -> dict:
        self.latitude += self.rng.uniform(-0.002, 0.002)
        self.longitude += self.rng.uniform(-0.003, 0.003)
        self.level = max(0, self.level - self.rng.choice((0, 0, 1)))
        return {
            "vin": vin,
            "eventDate": moment.isoformat(),
            "position": {"latitude": self.latitude, "longitude": self.longitude},
            "data": {
                "vehicle.energy.electric.level": self.level,
                "environment.air.temp": self.temp,
                "vehicle.kinetic.moving": True,
            },
        }


def _post_rate(view, user, batches: list[list[dict]]) -> float:
    factory = APIRequestFactory()
    started = time.perf_counter()
    points = 0
    for batch in batches:
        request = factory.post("/api/v1/telemetry", batch, format="json")
        force_authenticate(request, user=user)
        response = view(request)
        assert response.status_code == 202, getattr(response, "data", response)
        points += len(batch)
    return points / (time.perf_counter() - started)


def _evaluate(vehicle_ids: list[str], points: int) -> tuple[float, int]:
    from monitors.models import Event

    events_before = Event.objects.count()
    started = time.perf_counter()
    # In chunks, as the ingestion endpoint enqueues them for the workers.
    for chunk in vehicle_chunks(vehicle_ids):
        engine.vehicles_evaluate(vehicle_ids=chunk)
    return points / (time.perf_counter() - started), Event.objects.count() - events_before


class InMemoryEvaluation:
    """The engine's evaluator over posted points, with no database, no Celery and no event
    stored: the floor of any evaluation of these monitors in one Python process. Each vehicle
    keeps its state from one `apply` to the next, as the database runs do."""

    def __init__(self, monitors: list) -> None:
        from telemetry.state import LatestState

        self._now = datetime.now(UTC)
        self._plans = engine.monitor_plans(monitors)
        self._new_state = LatestState
        self._vehicles: dict[str, tuple[engine.VehicleEvaluator, LatestState]] = {}

    def apply(self, batches: list[list[dict]]) -> None:
        for batch in batches:
            for point in batch:
                vin = point["vin"]
                if vin not in self._vehicles:
                    vehicle = engine.VehicleRef(id=vin, fleet_id="bench", vin=vin)
                    evaluator = engine.VehicleEvaluator(vehicle, self._plans, {}, now=self._now)
                    self._vehicles[vin] = (evaluator, self._new_state())
                evaluator, latest = self._vehicles[vin]
                evaluator.apply_point(
                    latest,
                    event_date=datetime.fromisoformat(point["eventDate"]),
                    data=point["data"],
                    latitude=point["position"]["latitude"],
                    longitude=point["position"]["longitude"],
                )


def _evaluate_in_memory(monitors: list, cold_batches: list[list[dict]], steady_batches: list[list[dict]]) -> float:
    """Points/s of the evaluation alone (InMemoryEvaluation), in the steady state."""
    evaluation = InMemoryEvaluation(monitors)
    evaluation.apply(cold_batches)  # the first evaluation of every vehicle, as in the database runs
    started = time.perf_counter()
    evaluation.apply(steady_batches)
    return sum(map(len, steady_batches)) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=6, help="points per vehicle (the first is the cold start)")
    args = parser.parse_args()
    if args.rounds < 2 or args.vehicles < 1:
        # One round is only the cold start: the baseline and the steady state need a second.
        parser.error("--rounds must be at least 2 and --vehicles at least 1")

    setup_test_environment()
    test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        rng = random.Random(42)
        user = get_user_model().objects.create(username="bench")
        fleet = Fleet.objects.create(owner=user, label="bench")
        vins = [f"VF3BENCH{n:09d}" for n in range(args.vehicles)]
        Vehicle.objects.bulk_create([Vehicle(fleet=fleet, vin=vin) for vin in vins])
        for definition in definitions():
            monitor_create(fleet=fleet, definition=parse_monitor_definition(definition))
        start = datetime.now(UTC) - timedelta(hours=1)
        drives = {vin: Drive(rng) for vin in vins}
        batches = [
            [drives[vin].point(vin, start + timedelta(seconds=10 * r)) for vin in vins[i : i + 1000]]
            for r in range(args.rounds)
            for i in range(0, len(vins), 1000)
        ]

        vehicle_ids = list(Vehicle.objects.values_list("pk", flat=True))
        monitors = len(definitions())
        per_round = len(batches) // args.rounds
        cold_batches, steady_batches = batches[:per_round], batches[per_round:]

        baseline = _post_rate(BareValidationView.as_view(), user, steady_batches)
        # Cold start: every vehicle is evaluated for the first time, and each monitor already
        # true for it fires (the "never evaluated -> true" edge).
        _post_rate(TelemetryView.as_view(), user, cold_batches)
        cold_points = TelemetryPoint.objects.count()
        cold_rate, cold_events = _evaluate(vehicle_ids, cold_points)
        ingestion = _post_rate(TelemetryView.as_view(), user, steady_batches)
        steady_points = TelemetryPoint.objects.count() - cold_points
        steady_rate, steady_events = _evaluate(vehicle_ids, steady_points)

        in_memory = _evaluate_in_memory(list(Monitor.objects.active().filter(fleet=fleet)), cold_batches, steady_batches)

        print(f"database: {connection.vendor}  vehicles: {args.vehicles}  monitors: {monitors}")
        print(f"bare DRF validation (baseline):  {baseline:8.0f} points/s")
        print(f"FleetMon ingestion:              {ingestion:8.0f} points/s  ({ingestion / baseline:.2f}x baseline)")
        print(f"FleetMon evaluation, cold start: {cold_rate:8.0f} points/s  "
              f"({cold_rate / baseline:.2f}x baseline; {cold_points} points, {cold_events} events)")
        print(f"FleetMon evaluation, steady:     {steady_rate:8.0f} points/s  "
              f"({steady_rate / baseline:.2f}x baseline; {steady_rate * monitors:.0f} monitor evaluations/s; "
              f"{steady_points} points, {steady_events} events)")
        print(f"trigger evaluation alone:        {in_memory:8.0f} points/s  "
              f"({in_memory / baseline:.2f}x baseline; no database, no Celery, no event stored)")
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()

"""Backtest throughput: a day of a fleet's telemetry replayed through one monitor, beside a bare
loop reading the same points.

    .venv/bin/python benchmarks/backtest.py [--vehicles 100] [--hours 24] [--interval 30]

Seeds a throwaway test database (PostgreSQL from DATABASE_URL, or the local PostgreSQL at
127.0.0.1:5432) with one point per vehicle every `--interval` seconds (COPY), then times
monitors.backtest.monitor_backtest on the whole range, and, as the baseline, the same
per-vehicle streaming query doing nothing with the rows. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fleetmon_bench_backtest")
os.environ["CELERY_BROKER_URL"] = "memory://"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleetmon_project.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from monitors.backtest import POINTS_PER_CHUNK, BacktestQuery, monitor_backtest  # noqa: E402
from monitors.definition import parse_monitor_definition  # noqa: E402
from telemetry.models import Fleet, TelemetryPoint, Vehicle  # noqa: E402

PARIS = (48.866667, 2.333333)
LEVEL = "vehicle.energy.electric.level"
DEFINITION = {
    "label": "parked outside Paris, or low battery",
    "subscribeParam": {"callback": {"webhook": {"target": "http://127.0.0.1:9/hook", "name": "bench"}}},
    "extendedEventParam": ["vehicle.position"],
    "triggerParam": {
        "triggers": [
            {
                "name": "parked",
                "zone": {"transition": "Out", "place": {"radius": 20, "center": {"latitude": PARIS[0], "longitude": PARIS[1]}}},
                "minDuration": "PT10M",
            },
            {"name": "low", "data": {"data": LEVEL, "op": "lowerThan", "value": ["20"]}},
        ],
        "boolExp": "parked | low",
    },
}


def _seed(fleet: Fleet, start: datetime, *, vehicles: int, hours: int, interval: int) -> int:
    """Each vehicle drives slow laps in and out of the zone with a battery that drains and
    recharges: a few transitions a day, not one per point."""
    steps = hours * 3600 // interval
    Vehicle.objects.bulk_create(
        [Vehicle(fleet=fleet, vin=f"VF3BACKT{n:09d}", points_stored=steps) for n in range(vehicles)]
    )
    ids = list(Vehicle.objects.filter(fleet=fleet).order_by("vin").values_list("pk", flat=True))
    table = TelemetryPoint._meta.db_table
    columns = "vehicle_id, seq, event_date, received_at, latitude, longitude, data"
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for number, vehicle_id in enumerate(ids):
            phase = number / vehicles * 2 * math.pi
            for step in range(steps):
                at = start + timedelta(seconds=step * interval)
                angle = phase + step * 2 * math.pi / (steps / 3)  # three laps a day
                # A 25 km circle whose centre is 20 km north of Paris's: in and out of its 20 km zone.
                latitude = PARIS[0] + 0.18 + 0.225 * math.sin(angle)
                longitude = PARIS[1] + 0.34 * math.cos(angle)
                level = round(50 + 45 * math.sin(phase + step * 2 * math.pi / (steps / 2)))
                copy.write_row((vehicle_id, step + 1, at, at, latitude, longitude, json.dumps({LEVEL: level})))
    return vehicles * steps


def _bare_read(vehicles: list[Vehicle], start: datetime, end: datetime) -> int:
    """The baseline: the backtest's own query, per vehicle and streamed, rows discarded."""
    count = 0
    for vehicle in vehicles:
        rows = (
            TelemetryPoint.objects.filter(vehicle=vehicle, event_date__gte=start, event_date__lt=end)
            .order_by("event_date", "id")
            .values_list("event_date", "data", "latitude", "longitude")
            .iterator(chunk_size=POINTS_PER_CHUNK)
        )
        for _ in rows:
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=100)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--interval", type=int, default=30, help="seconds between a vehicle's points")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        parser.error("needs PostgreSQL (COPY and server-side cursors)")

    setup_test_environment()
    test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        fleet = Fleet.objects.create(owner=get_user_model().objects.create(username="bench"), label="bench")
        start = datetime(2026, 6, 1, tzinfo=UTC)
        end = start + timedelta(hours=args.hours)
        began = time.perf_counter()
        seeded = _seed(fleet, start, vehicles=args.vehicles, hours=args.hours, interval=args.interval)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {TelemetryPoint._meta.db_table}")
        seeding = time.perf_counter() - began
        vehicles = list(fleet.vehicles.order_by("vin"))
        query = BacktestQuery(
            definition=parse_monitor_definition(DEFINITION).canonical, start=start, end=end, vehicles=vehicles
        )

        began = time.perf_counter()
        read = _bare_read(vehicles, start, end)
        baseline = time.perf_counter() - began
        began = time.perf_counter()
        result = monitor_backtest(fleet=fleet, query=query)
        replay = time.perf_counter() - began
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        print(f"database: {connection.vendor}  vehicles: {args.vehicles}  points: {seeded:,} "
              f"({args.hours} h, one per {args.interval} s; seeded by COPY in {seeding:.1f} s)")
        print(f"bare read of the points (baseline): {baseline:6.2f} s  {read / baseline:9.0f} points/s")
        print(f"backtest replay:                    {replay:6.2f} s  {result.evaluated_points / replay:9.0f} points/s  "
              f"({baseline / replay:.2f}x baseline; {result.total:,} events, {result.vehicles} vehicles)")
        print(f"peak memory of the process: {peak_mib:.0f} MiB")
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()

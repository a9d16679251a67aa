"""Instructions FleetMon's process executes per unit of work, counted by valgrind's callgrind.

    .venv/bin/python benchmarks/instructions.py [--vehicles 500] [--warmup 12] [--rounds 6]

Seconds measured on a shared two-core machine vary by a third between identical runs; the
instructions a process executes do not (the same run twice: within 0.3 %), so a before/after
comparison of two commits holds on any machine of the same architecture. The workload is
benchmarks/evaluation.py's (its 10 monitors, vehicles drifting around Paris, PostgreSQL from
DATABASE_URL or the local server), webhooks sent to a loopback receiver in another process.
Each round posts one point per vehicle in 250-point batches, evaluates the vehicles in the
engine's chunks, applies the same points once more to the engine's evaluator in memory
(benchmarks/evaluation.py's InMemoryEvaluation: no database, no Celery; the part of an
evaluation that remains however the rest is tuned), then makes the attempts of the deliveries
that raised; callgrind counts only the measured rounds, each part on its own. Counted:
FleetMon's process (Django, DRF, psycopg's client side, redis-py's, the HTTP client); not
PostgreSQL, not Redis, not the receiver, not a broker (in-memory). Redis is the production
profile's shared cache (CACHE_URL, default db 14 of the local server, flushed at the start):
the POST marks its vehicles' queued evaluations there and the evaluation clears them
(monitors.queued), and the throttles count there. Prints figures; asserts nothing.

PostgreSQL's side is not counted in instructions; when the server runs on this machine, the
CPU time its backend spent serving each part is read from /proc/<pid>/schedstat (nanoseconds
on the CPU). That is a time, so it varies more than the instructions, but the backend runs at
full speed while valgrind slows the client, and nothing else uses that backend.

It runs itself under `valgrind --tool=callgrind --instr-atstart=no` and switches the
instrumentation on and off around each measured part with `callgrind_control`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

INNER = "FLEETMON_INSTRUCTIONS_DUMPS"  # set in the process under valgrind: where its dump order goes
BATCH = 250
PARTS = ("bare", "post", "evaluate", "deliver", "memory")
# The benchmarks' Redis db, as benchmarks/e2e.py's: test runs claim the others (tests/backends.py).
CACHE_URL = "redis://127.0.0.1:6379/14"


def _outer(args: argparse.Namespace) -> int:
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: install valgrind (Debian: apt-get install valgrind)")
    workdir = Path(tempfile.mkdtemp(prefix="fleetmon-instructions-"))
    order_file = workdir / "order.json"
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no",
        f"--callgrind-out-file={workdir}/callgrind.out", sys.executable, __file__, *sys.argv[1:],
    ]
    log = workdir / "valgrind.log"
    with log.open("w") as stderr:
        done = subprocess.run(command, env={**os.environ, INNER: str(order_file)}, stderr=stderr, check=False)
    if done.returncode != 0 or not order_file.exists():
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:])
        print(f"{tail}the measured process failed (exit {done.returncode}); files in {workdir}", file=sys.stderr)
        return 1
    order = json.loads(order_file.read_text())
    totals: dict[str, list[int]] = {part: [] for part in PARTS}
    for number, (part, units) in enumerate(order["dumps"], start=1):
        dump = (workdir / f"callgrind.out.{number}").read_text()
        found = re.search(r"^totals: (\d+)", dump, re.MULTILINE) or re.search(r"^summary: (\d+)", dump, re.MULTILINE)
        if found is None:
            sys.exit(f"no totals in dump {number} ({part})")
        totals[part].append(int(found.group(1)) // max(units, 1))
    _report(order, totals)
    shutil.rmtree(workdir)
    return 0


def _report(order: dict, totals: dict[str, list[int]]) -> None:
    def million(value: float) -> str:
        return f"{value / 1e6:8.2f} M"

    def spread(values: list[int], digits: int = 2) -> str:
        low, high = min(values), max(values)
        return f"(rounds {low / 1e6:.{digits}f}-{high / 1e6:.{digits}f} M)"

    mean = {part: sum(values) / len(values) for part, values in totals.items() if values}
    points_per_task = order["points"] / max(order["tasks"], 1)
    per_point_bare = mean["bare"] / BATCH
    per_point = mean["post"] / BATCH + mean["evaluate"] / points_per_task
    deliveries_per_point = order["deliveries"] / order["points"]
    print(f"database: {order['database']}  vehicles: {order['vehicles']}  monitors: {order['monitors']}  "
          f"measured rounds: {order['rounds']}")
    print(f"bare DRF endpoint, one {BATCH}-point POST:   {million(mean['bare'])}  {spread(totals['bare'])}")
    print(f"FleetMon telemetry, one {BATCH}-point POST:  {million(mean['post'])}  {spread(totals['post'])}  "
          f"({mean['post'] / mean['bare']:.2f}x the bare endpoint)")
    print(f"evaluation task ({points_per_task:.0f} vehicles, one point each): {million(mean['evaluate'])}  "
          f"{spread(totals['evaluate'])}")
    if totals["deliver"]:
        print(f"delivery attempt (loopback receiver, 200):   {million(mean['deliver'])}  {spread(totals['deliver'])}  "
              f"({order['deliveries']} attempts)")
        per_point += mean["deliver"] * deliveries_per_point
    print(f"per point, ingestion + evaluation + its share of deliveries: {per_point / 1e6:.3f} M "
          f"({per_point / per_point_bare:.1f}x the bare endpoint's {per_point_bare / 1e6:.3f} M; "
          f"{deliveries_per_point * 1000:.1f} deliveries per 1,000 points)")
    # What remains however the rest is tuned: a POST (about the bare endpoint's work, as it must
    # parse and validate the same batch) and the triggers evaluated in Python.
    floor = mean["post"] / BATCH + mean["memory"]
    print(f"evaluation alone, in memory (no database, no Celery): {mean['memory'] / 1e6:.3f} M per point "
          f"{spread(totals['memory'], 3)}; with the POST: {floor / 1e6:.3f} M per point "
          f"({floor / per_point_bare:.1f}x the bare endpoint's)")
    server: dict[str, list[int]] = {}
    for part, nanoseconds in order["server_ns"]:
        server.setdefault(part, []).append(nanoseconds)
    if not server:
        print("PostgreSQL backend CPU: not measured (the server is not on this machine)")
        return
    server_ms = {part: sum(values) / len(values) / 1e6 for part, values in server.items()}
    server_per_point = server_ms["post"] / BATCH + server_ms["evaluate"] / points_per_task
    server_per_point += server_ms.get("deliver", 0.0) * deliveries_per_point
    print("PostgreSQL backend CPU (ms, from schedstat): "
          + ", ".join(f"{part} {server_ms[part]:.2f} (rounds {min(server[part]) / 1e6:.2f}-{max(server[part]) / 1e6:.2f})"
                      for part in ("post", "evaluate", "deliver") if part in server_ms)
          + f"; per point {server_per_point * 1000:.1f} us")


def _backend_schedstat(connection: Any) -> Path | None:
    """The schedstat file of this connection's PostgreSQL backend, when the server runs on this
    machine, outside a container: the backend's pid then names a postgres process here."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    process = Path(f"/proc/{pid}")
    try:
        is_postgres = (process / "comm").read_text().strip() == "postgres"
    except OSError:
        return None
    return process / "schedstat" if is_postgres else None


def _server_ns(schedstat: Path | None) -> int:
    return int(schedstat.read_text().split()[0]) if schedstat is not None else 0


def _toggle(state: str) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, stdout=subprocess.DEVNULL)


def _inner(args: argparse.Namespace) -> int:
    import random
    from datetime import UTC, datetime, timedelta

    import redis

    os.environ.setdefault("CACHE_URL", CACHE_URL)
    redis.Redis.from_url(os.environ["CACHE_URL"]).flushdb()
    from benchmarks.evaluation import Drive, InMemoryEvaluation, definitions  # configures Django as that benchmark does

    # isort: split
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import setup_test_environment
    from rest_framework.test import APIRequestFactory, force_authenticate

    from benchmarks.common import BareValidationView
    from monitors import engine
    from monitors.definition import parse_monitor_definition
    from monitors.models import Monitor
    from monitors.services import monitor_create
    from monitors.sweeps import vehicle_chunks
    from notifications.models import Delivery, DeliveryState
    from notifications.services import delivery_attempt
    from telemetry.models import Fleet, Vehicle
    from telemetry.views import TelemetryView

    settings.FLEETMON_ALLOW_PRIVATE_WEBHOOKS = True  # the receiver is on loopback
    receiver = subprocess.Popen(
        [sys.executable, "-c", "from fleetmon_project.receiver import WebhookReceiver; import time; "
         "r = WebhookReceiver('127.0.0.1', keep_alive=True); r.start(); print(r.url, flush=True); time.sleep(1e6)"],
        stdout=subprocess.PIPE, text=True,
    )
    order: dict = {"dumps": [], "server_ns": [], "points": 0, "tasks": 0, "deliveries": 0}
    setup_test_environment()
    test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        assert receiver.stdout is not None
        target = receiver.stdout.readline().strip() + "/hook"
        user = get_user_model().objects.create(username="bench")
        fleet = Fleet.objects.create(owner=user, label="bench")
        vins = [f"VF3BENCH{n:09d}" for n in range(args.vehicles)]
        Vehicle.objects.bulk_create([Vehicle(fleet=fleet, vin=vin) for vin in vins])
        monitors = definitions(target)
        for definition in monitors:
            monitor_create(fleet=fleet, definition=parse_monitor_definition(definition))
        vehicle_ids = list(Vehicle.objects.values_list("pk", flat=True))
        rng = random.Random(42)
        drives = {vin: Drive(rng) for vin in vins}
        start = datetime.now(UTC) - timedelta(hours=2)
        factory = APIRequestFactory()
        telemetry, bare = TelemetryView.as_view(), BareValidationView.as_view()
        in_memory = InMemoryEvaluation(list(Monitor.objects.active().filter(fleet=fleet)))

        def post(view: Callable, batch: list[dict]) -> None:
            request = factory.post("/api/v1/telemetry", batch, format="json")
            force_authenticate(request, user=user)
            response = view(request)
            assert response.status_code == 202, getattr(response, "data", response)

        def evaluate(chunks: list[list[str]]) -> None:
            for chunk in chunks:
                engine.vehicles_evaluate(vehicle_ids=chunk)

        def deliver(due: list[tuple[int, str]]) -> None:
            for delivery_id, task_id in due:
                delivery_attempt(delivery_id=delivery_id, task_id=task_id)

        backend = _backend_schedstat(connection)

        def run(part: str, units: int, measure: bool, work: Callable[..., None], *args: object) -> None:
            if not measure:
                work(*args)
                return
            server_before = _server_ns(backend)
            _toggle("on")
            work(*args)
            _toggle("off")
            if backend is not None:
                order["server_ns"].append((part, (_server_ns(backend) - server_before) // max(units, 1)))
            subprocess.run(["callgrind_control", "-d", part, str(os.getpid())], check=True, stdout=subprocess.DEVNULL)
            order["dumps"].append((part, units))

        for number in range(args.warmup + args.rounds):
            measure = number >= args.warmup
            moment = start + timedelta(seconds=10 * number)
            batches = [
                [drives[vin].point(vin, moment) for vin in vins[i : i + BATCH]] for i in range(0, len(vins), BATCH)
            ]
            chunks = list(vehicle_chunks(vehicle_ids))
            sent_before = set(Delivery.objects.values_list("pk", flat=True))
            for batch in batches:
                if measure:
                    run("bare", 1, measure, post, bare, batch)
                run("post", 1, measure, post, telemetry, batch)
            run("evaluate", len(chunks), measure, evaluate, chunks)
            run("memory", len(vins), measure, in_memory.apply, batches)
            due = list(
                Delivery.objects.filter(state=DeliveryState.PENDING).exclude(pk__in=sent_before)
                .values_list("pk", "task_id")
            )
            if due:
                run("deliver", len(due), measure, deliver, due)
            # Attempts that failed would measure the failure path, not a delivery.
            failed = Delivery.objects.filter(pk__in=[pk for pk, _ in due]).exclude(state=DeliveryState.DELIVERED)
            if failed.exists():
                sys.exit(f"{failed.count()} of {len(due)} deliveries not delivered to {target}")
            if measure:
                order["points"] += len(vins)
                order["tasks"] += len(chunks)
                order["deliveries"] += len(due)
        order.update(database=connection.vendor, vehicles=args.vehicles, monitors=len(monitors), rounds=args.rounds)
        Path(os.environ[INNER]).write_text(json.dumps(order))
    finally:
        receiver.kill()
        receiver.wait()
        connection.creation.destroy_test_db(test_db, verbosity=0)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=12, help="rounds before the measured ones (caches, plans)")
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds: one point per vehicle each")
    args = parser.parse_args()
    if args.vehicles < BATCH or args.vehicles % BATCH or args.rounds < 1:
        # Every POST carries BATCH points: the per-point figures divide by it.
        parser.error(f"--vehicles must be a multiple of {BATCH} and --rounds at least 1")
    return _inner(args) if INNER in os.environ else _outer(args)


if __name__ == "__main__":
    sys.exit(main())

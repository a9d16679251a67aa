"""End-to-end throughput and latency: telemetry in over HTTP, events stored, webhooks received.

    .venv/bin/python benchmarks/e2e.py [--duration 60] [--rate 1000] [--vehicles 1000] [--monitors 10]
                                       [--workers 2] [--concurrency 2] [--webhook-workers 0]
    .venv/bin/python benchmarks/e2e.py --url http://fleetmon:8000 --token KEY \\
                                       [--receiver-host 10.0.0.5] [--broker-url redis://redis:6379/0]

By default it starts the stack itself on loopback, with the production profile's processes:
a throwaway PostgreSQL database (created, migrated, dropped), Redis db 14 (flushed before and
after) as broker and cache, gunicorn on a free port, `--workers` Celery workers on the
evaluation, sweeps and default queues and `--webhook-workers` on webhooks (with 0, the others
take it too), one Beat, and FLEETMON_ALLOW_PRIVATE_WEBHOOKS=true so webhooks can reach the
keep-alive receiver this script runs on loopback. With `--url/--token` it uses an already
running stack instead (it must allow webhooks to `--receiver-host`); then the no-op Celery
baseline needs `--broker-url`.

Everything else goes through the public API: a fleet, its vehicles, monitors of mixed
zone/time/data triggers posting to the receiver (batchNotify on some), then telemetry in
batches from client threads, each owning a slice of the vehicles so a vehicle's points arrive
in order. The vehicles' signals are deterministic, so the events they must raise are known and
checked against what is stored and received. Progress is read from `/metrics` (unevaluated
points, open deliveries, webhooks queue) and from what the receiver gets. Phases, each waited
for until drained (`--drain-timeout`) before the next:

1. warm-up: a few rounds of points (first evaluation of every vehicle), not measured;
2. baselines: a bare DRF endpoint validating the same batches, over HTTP from gunicorn
   (benchmarks/common.py), and a no-op Celery task (`celery.accumulate`) round trip
   through the same Redis and workers;
3. fixed rate: `--latency-duration` seconds at `--rate` points/s; for each event received,
   receive time minus when the point that raised it was POSTed (matched by VIN+eventDate);
4. sustained: `--duration` seconds posting as fast as the stack accepts, then the time until
   every point is evaluated and every webhook received. Last, as it may leave a backlog.

With the local stack it also prints, per phase, the CPU each process group used (from /proc)
and the worker time per Celery task (from the workers' logs): what bounds the figures; the
sustained phase's CPU per point against the bare endpoint's; per 1,000 points, the SQL
statements sent (counted by the processes, benchmarks/counting_settings.py), Celery tasks
run, rows inserted/updated/deleted (pg_stat_user_tables) and WAL written (pg_current_wal_lsn,
the whole server's); and each process group's resident memory after warm-up and at the end.

Prints figures; asserts nothing; writes nothing into the repository. Ctrl-C or a failure
stops every process it started and drops what it created.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import re
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repository's packages
from benchmarks.stack import (  # noqa: E402
    COUNTING_SETTINGS, GUNICORN_THREADS, GUNICORN_WORKERS, SQL_COUNT_KEY, Api, LocalStack, Process, Received,
    Receiver, StackConfig, StackHandle, TaskRun, cpu_seconds, free_port, gunicorn_args, machine,
    release_workdir, rfc3339_ms, wait_http,
)

# Held for the whole run: a second local run would drop this one's database and flush its Redis db.
RUN_LOCK_KEY = 0x464D4532  # "FME2"

PARIS = {"latitude": 48.866667, "longitude": 2.333333}
EARTH_RADIUS_KM = 6371.0088
# The signals each vehicle reports drift slowly and periodically (periods in points): distance
# to Paris swings across the zone's edge, the air temperature across HOT_TEMP, the battery
# drains through LOW_LEVEL and is recharged. About 1.6 % of the points raise an event (1.3 % in
# benchmarks/evaluation.py's steady state): events are rare next to telemetry, as in a fleet.
ZONE_PERIOD, TEMP_PERIOD = 1000, 800
ZONE_RADIUS_KM = 20.0
# Positions never fall within this distance of the circle, and levels/temperatures never equal
# their thresholds, so which side a point is on is unambiguous and the expected events exact.
ZONE_MARGIN_KM, ZONE_SWING_KM = 0.4, 6.0
HOT_TEMP, TEMP_MEAN, TEMP_SWING = 30.0, 24.0, 8.0
_HOT_ANGLE = math.asin((HOT_TEMP - TEMP_MEAN) / TEMP_SWING)  # hot while the phase angle is in (a, pi - a)
# Battery level in hundredths of a percent, an odd number of twentieths: never exactly LOW_LEVEL.
LOW_LEVEL, LEVEL_STEP_C, CHARGE_BELOW_C, CHARGED_C = 20.0, 10, 1000, 9995
VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"  # ISO 3779: no I, O, Q

BARE_TELEMETRY_URL_PATH = "/bare/telemetry"  # benchmarks/common.py's urlpatterns
BATCH_WINDOW_S = 5  # batchNotify.timeWindow of the batching monitors (the minimum allowed)
# /metrics runs a few COUNT queries and merges every process's samples: ~5 % of a web
# process at this interval; the drain times it measures are as precise.
PROBE_INTERVAL_S = 1.0


# --- What the vehicles report, and which events that must raise ------------------------------

Predicate = Callable[[bool, bool, bool], bool]  # (outside the zone, battery low, hot) -> value


@dataclass(frozen=True)
class MonitorSpec:
    label: str
    definition: dict[str, Any]
    # The boolExp over this run's truths: time windows are open for the whole run and every
    # vehicle reports moving, so time triggers are true and drop out.
    predicate: Predicate
    batched: bool


def monitor_specs(*, count: int, target: str, run_start: datetime) -> list[MonitorSpec]:
    """`count` monitors cycling through ten shapes of zone, time and data triggers (those of
    benchmarks/evaluation.py, with time windows opened an hour before the run)."""
    zone = {"name": "z", "zone": {"transition": "Out", "place": {"radius": ZONE_RADIUS_KM, "center": PARIS}}}
    opened = run_start - timedelta(hours=1)
    daily = {
        "name": "t",
        "time": {
            "timeZone": "UTC",
            "times": [{"recurrence": "Daily", "start": f"PT{opened.hour}H{opened.minute}M", "duration": "PT12H"}],
        },
    }
    absolute = {"name": "t", "time": {"times": [{"recurrence": "None", "start": rfc3339_ms(opened)}]}}
    low = {"name": "d", "data": {"data": "vehicle.energy.electric.level", "op": "lowerThan", "value": [str(LOW_LEVEL)]}}
    hot = {"name": "h", "data": {"data": "environment.air.temp", "op": "greaterThan", "value": [str(HOT_TEMP)]}}
    fleet_batch = {"size": 10, "timeWindow": BATCH_WINDOW_S}
    # (triggers, boolExp, predicate, batchNotify, per-vehicle URL/header, extendedEventParam)
    shapes: list[tuple[list[dict], str, Predicate, dict | None, bool, list[str]]] = [
        ([zone], "z", lambda z, d, h: z, None, False, []),
        ([low], "d", lambda z, d, h: d, None, False, ["vehicle.position"]),
        ([zone, low], "z & d", lambda z, d, h: z and d, fleet_batch, False, []),
        ([zone, daily], "z & t", lambda z, d, h: z, None, False, []),
        ([low, hot], "d | h", lambda z, d, h: d or h, fleet_batch, False, []),
        ([zone, low, hot], "z & (d | h)", lambda z, d, h: z and (d or h), None, False, ["vehicle.position"]),
        ([absolute, low], "t & d", lambda z, d, h: d, None, False, []),
        # `$vin` in a header: one batch per vehicle, which flushes on its time window.
        ([zone, daily, low, hot], "(z | h) & t & !d", lambda z, d, h: (z or h) and not d, fleet_batch, True, []),
        ([hot], "h", lambda z, d, h: h, None, False, []),
        ([zone, hot], "!z & h", lambda z, d, h: not z and h, None, False, []),
    ]
    specs = []
    for index in range(count):
        triggers, expression, predicate, batch, per_vehicle, extended = shapes[index % len(shapes)]
        label = f"e2e {index} {expression}"
        attributes = [{"type": "Header", "key": "X-Vin", "value": "$vin"}] if per_vehicle else []
        subscribe: dict[str, Any] = {
            "retryPolicy": {"policy": "Bounded", "retryNumber": 3, "retryDelay": 10},
            "callback": {"webhook": {"target": target, "name": "e2e", "attributes": attributes}},
        }
        if batch:
            subscribe["batchNotify"] = batch
        definition = {
            "label": label,
            "subscribeParam": subscribe,
            "triggerParam": {"triggers": triggers, "boolExp": expression},
            "extendedEventParam": extended,
        }
        specs.append(MonitorSpec(label=label, definition=definition, predicate=predicate, batched=batch is not None))
    return specs


class VehicleSim:
    """One vehicle's telemetry: periodic, slowly drifting signals that cross the monitors'
    thresholds at known points, and the events FleetMon must raise for them (edge detection
    over the same predicates, "never evaluated" counting as false)."""

    def __init__(self, vin: str, rng: random.Random, predicates: list[Predicate]) -> None:
        self.vin = vin
        self.rng = random.Random(rng.random())
        self.bearing = rng.uniform(0, 2 * math.pi)
        # Every vehicle starts anywhere on the "false" side of each threshold (inside the zone,
        # cool, charged above LOW_LEVEL): no cold-start burst, and across the fleet crossings
        # come at a constant rate for each vehicle's first ~500 points (runs are far shorter).
        self.zone_phase = rng.uniform(0.5, 1.0) * ZONE_PERIOD  # sin < 0: inside
        cool = rng.uniform(math.pi - _HOT_ANGLE, 2 * math.pi + _HOT_ANGLE)
        self.temp_phase = cool / (2 * math.pi) * TEMP_PERIOD
        self.level_c = int(LOW_LEVEL * 100) + LEVEL_STEP_C // 2 + LEVEL_STEP_C * rng.randrange(800)
        self.predicates = predicates
        self.previous: list[bool | None] = [None] * len(predicates)
        self.index = 0

    def _position(self, distance_km: float) -> dict[str, float]:
        """The point `distance_km` from Paris along the (slowly wandering) bearing, on a sphere."""
        self.bearing += self.rng.uniform(-0.01, 0.01)
        lat1, lon1 = math.radians(PARIS["latitude"]), math.radians(PARIS["longitude"])
        delta = distance_km / EARTH_RADIUS_KM
        lat2 = math.asin(math.sin(lat1) * math.cos(delta) + math.cos(lat1) * math.sin(delta) * math.cos(self.bearing))
        lon2 = lon1 + math.atan2(
            math.sin(self.bearing) * math.sin(delta) * math.cos(lat1), math.cos(delta) - math.sin(lat1) * math.sin(lat2)
        )
        return {"latitude": round(math.degrees(lat2), 6), "longitude": round(math.degrees(lon2), 6)}

    def point(self, event_date: str) -> tuple[dict[str, Any], list[int]]:
        """The next point, and the indexes of the monitors it must fire."""
        k, self.index = self.index, self.index + 1
        swing = math.sin(2 * math.pi * (k + self.zone_phase) / ZONE_PERIOD)
        distance = ZONE_RADIUS_KM + math.copysign(ZONE_MARGIN_KM + (ZONE_SWING_KM - ZONE_MARGIN_KM) * abs(swing), swing)
        temp = round(TEMP_MEAN + TEMP_SWING * math.sin(2 * math.pi * (k + self.temp_phase) / TEMP_PERIOD), 2)
        if temp == HOT_TEMP:
            temp += 0.01
        if self.level_c < CHARGE_BELOW_C:
            self.level_c = CHARGED_C  # plugged in between two reports
        level, self.level_c = self.level_c / 100, self.level_c - LEVEL_STEP_C
        truths = (distance > ZONE_RADIUS_KM, level < LOW_LEVEL, temp > HOT_TEMP)
        fired = []
        for index, predicate in enumerate(self.predicates):
            value = predicate(*truths)
            if value and self.previous[index] is not True:
                fired.append(index)
            self.previous[index] = value
        point = {
            "vin": self.vin,
            "eventDate": event_date,
            "position": self._position(distance),
            "data": {
                "vehicle.energy.electric.level": level,
                "environment.air.temp": temp,
                "vehicle.kinetic.moving": True,
            },
        }
        return point, fired


class BaselineServer:
    """gunicorn serving only benchmarks/common.py's bare endpoint, configured like FleetMon's."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        port = free_port()
        # Its own metrics would land among the stack's samples: it has none worth reporting.
        env = {key: value for key, value in env.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
        self.process = Process("baseline", gunicorn_args("benchmarks.e2e:baseline_application()", port), env, log_dir)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> BaselineServer:
        try:
            # A GET of the POST-only endpoint: 405 once Django answers.
            wait_http(f"{self.url}{BARE_TELEMETRY_URL_PATH}", 405, 60, self.process)
        except BaseException:
            self.process.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()


def baseline_application() -> Callable[..., Any]:
    """`gunicorn 'benchmarks.e2e:baseline_application()'`: FleetMon's Django settings and
    middleware, serving only benchmarks/common.py's bare endpoint."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleetmon_project.settings")
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    django.setup()
    settings.ROOT_URLCONF = "benchmarks.common"
    return get_wsgi_application()


@dataclass
class Fleet:
    id: str
    sims: list[VehicleSim]
    monitor_ids: list[str]
    specs: list[MonitorSpec]

    def events_total(self, api: Api) -> list[int]:
        return [api.total(f"/api/v1/fleets/{self.id}/monitors/{mid}/events") for mid in self.monitor_ids]

    def deliveries_by_state(self, api: Api) -> Counter[str]:
        counts: Counter[str] = Counter()
        for mid in self.monitor_ids:
            for state in ("pending", "delivered", "failed"):
                counts[state] += api.total(f"/api/v1/fleets/{self.id}/monitors/{mid}/deliveries?state={state}")
        return counts


def create_fleet(api: Api, *, vehicles: int, monitors: int, target: str, clients: int) -> Fleet:
    fleet_id = api.call("POST", "/api/v1/fleets", {"label": "e2e benchmark"}, expect=(201,))["id"]
    rng = random.Random(42)
    # VINs are unique across the whole service: a random run prefix lets runs share a stack.
    prefix = "VF3" + "".join(secrets.choice(VIN_ALPHABET) for _ in range(5))
    vins = [f"{prefix}{n:09d}" for n in range(vehicles)]
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda vin: api.call("POST", f"/api/v1/fleets/{fleet_id}/vehicles", {"vin": vin}, expect=(201,)), vins))
    specs = monitor_specs(count=monitors, target=target, run_start=datetime.now(timezone.utc))
    monitor_ids = [
        api.call("POST", f"/api/v1/fleets/{fleet_id}/monitors", spec.definition, expect=(202,))["monitorId"]
        for spec in specs
    ]
    predicates = [spec.predicate for spec in specs]
    return Fleet(id=fleet_id, sims=[VehicleSim(vin, rng, predicates) for vin in vins], monitor_ids=monitor_ids, specs=specs)


# --- Load -----------------------------------------------------------------------------------------


@dataclass
class PhaseLog:
    """What the clients did in one phase (guarded by `lock`)."""

    name: str
    started: float = 0.0
    finished: float = 0.0
    points: int = 0
    requests_s: list[float] = field(default_factory=list)
    posted_at: dict[tuple[str, str], float] = field(default_factory=dict)  # (vin, eventDate) -> POST start
    expected: Counter[int] = field(default_factory=Counter)  # monitor index -> events the points must raise
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Load:
    """`clients` threads, each owning a slice of the vehicles and posting `batch` of them at a
    time, in order: a vehicle's points are never in flight together, so none arrives late."""

    def __init__(self, api: Api, sims: list[VehicleSim], *, clients: int, batch: int) -> None:
        self.api = api
        self.slices = [sims[i::clients] for i in range(clients)]
        self.batch = min(batch, min(len(s) for s in self.slices))
        self.stop = threading.Event()

    def _batch(self, sims: list[VehicleSim], cursor: int, event_date: str) -> tuple[list[dict], list[int]]:
        points, fired = [], []
        for offset in range(self.batch):
            point, fires = sims[(cursor + offset) % len(sims)].point(event_date)
            points.append(point)
            fired.extend(fires)
        return points, fired

    def run(self, log: PhaseLog, *, duration: float, rate: float | None) -> PhaseLog:
        """Post for `duration` seconds, at `rate` points/s in total or as fast as answered."""
        log.started = time.monotonic()
        deadline = log.started + duration
        interval = self.batch * len(self.slices) / rate if rate else 0.0  # per client, between its batches

        def client(number: int, sims: list[VehicleSim]) -> None:
            session = self.api.session()
            url = f"{self.api.base_url}/api/v1/telemetry"
            cursor, sent, last_ms = 0, 0, 0
            # Clients start staggered, so at a fixed rate the batches are evenly spaced.
            first = log.started + interval * number / len(self.slices)
            while not self.stop.is_set():
                due = first + sent * interval
                if due >= deadline or time.monotonic() >= deadline:
                    return
                if due > time.monotonic():
                    self.stop.wait(due - time.monotonic())
                    continue
                # Strictly increasing per client, hence per vehicle: (VIN, eventDate) names a point.
                last_ms = max(int(time.time() * 1000), last_ms + 1)
                event_date = rfc3339_ms(datetime.fromtimestamp(last_ms / 1000, timezone.utc))
                points, fired = self._batch(sims, cursor, event_date)
                cursor = (cursor + self.batch) % len(sims)
                body = json.dumps(points)
                posted = time.monotonic()
                try:
                    response = session.post(url, data=body, timeout=120)
                    status, text = response.status_code, response.text
                except requests.RequestException as exc:
                    status, text = 0, str(exc)
                answered = time.monotonic()
                sent += 1
                with log.lock:
                    if status == 202:
                        log.points += len(points)
                        log.requests_s.append(answered - posted)
                        log.expected.update(fired)
                        for point in points:
                            log.posted_at[point["vin"], event_date] = posted
                        log.finished = max(log.finished, answered)
                    else:
                        log.failures.append(f"HTTP {status}: {text[:300]}")
                if status != 202 and len(log.failures) > 20:
                    self.stop.set()  # the stack is refusing: measuring on would be meaningless

        threads = [
            threading.Thread(target=client, args=(number, sims), name=f"client{number}", daemon=True)
            for number, sims in enumerate(self.slices)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.stop.is_set():
            raise RuntimeError(f"{log.name}: stopped after {len(log.failures)} failed posts; first: {log.failures[0]}")
        return log

    def run_fixed_body(self, url: str, *, duration: float) -> tuple[int, float]:
        """The baseline: each client posts a batch like its own as fast as answered, the body
        encoded per request as in `run` (the client's CPU is the server's CPU here)."""
        counts = [0] * len(self.slices)
        event_date = rfc3339_ms(datetime.now(timezone.utc))
        # Copies: the real vehicles' state (and the events they must raise) stays untouched.
        batches = [[s.point(event_date)[0] for s in copy.deepcopy(sims[: self.batch])] for sims in self.slices]
        started = time.monotonic()
        deadline = started + duration

        def client(number: int) -> None:
            session = requests.Session()
            session.headers["Content-Type"] = "application/json"
            while time.monotonic() < deadline and not self.stop.is_set():
                response = session.post(url, data=json.dumps(batches[number]), timeout=60)
                if response.status_code != 202:
                    raise RuntimeError(f"baseline answered {response.status_code}: {response.text[:500]}")
                counts[number] += len(batches[number])

        with ThreadPoolExecutor(len(self.slices)) as pool:
            list(pool.map(client, range(len(self.slices))))
        return sum(counts), time.monotonic() - started


# --- Progress from /metrics ----------------------------------------------------------------------------

_SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class Sample:
    at: float
    unevaluated: int
    open_deliveries: int
    webhook_messages: int  # waiting in the broker's `webhooks` queue


class Probe:
    """Samples the stack's backlog gauges every PROBE_INTERVAL_S in a background thread."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.url = f"{base_url}/metrics"
        self.session = requests.Session()
        self.session.headers.update(headers)
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="probe", daemon=True)

    def _read(self) -> Sample:
        before = time.monotonic()
        response = self.session.get(self.url, timeout=30)
        response.raise_for_status()
        values: Counter[str] = Counter()
        for match in _SAMPLE.finditer(response.text):
            values[match["name"]] += float(match["value"])
            if match["name"] == "fleetmon_queue_depth" and match["labels"] == 'queue="webhooks"':
                values["webhook_messages"] += float(match["value"])
        # The middle of the request: the gauges were read in the database while it ran.
        return Sample(
            at=(before + time.monotonic()) / 2,
            unevaluated=int(values["fleetmon_points_unevaluated"]),
            open_deliveries=int(values["fleetmon_deliveries_open"]),
            webhook_messages=int(values["webhook_messages"]),
        )

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append(self._read())
            except (requests.RequestException, ValueError) as exc:
                self.errors.append(str(exc))
            self.stop.wait(PROBE_INTERVAL_S)

    def start(self) -> None:
        self.samples.append(self._read())  # fails early on a stack without /metrics
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=35)

    def drained(self, since: float, timeout: float) -> tuple[float | None, float | None, Sample]:
        """Wait until a sample taken after `since` shows no unevaluated point and no open
        delivery. Returns when points were all evaluated, when everything was, and the last
        sample (what was left on timeout)."""
        deadline = time.monotonic() + timeout
        evaluated: float | None = None
        while True:
            later = [s for s in self.samples if s.at > since]
            for sample in later:
                if evaluated is None and sample.unevaluated == 0:
                    evaluated = sample.at
                if evaluated is not None and sample.open_deliveries == 0:
                    return evaluated, sample.at, sample
            if time.monotonic() > deadline:
                return evaluated, None, later[-1] if later else self.samples[-1]
            time.sleep(PROBE_INTERVAL_S / 2)

    def peaks(self, start: float, end: float) -> Sample:
        """The highest value of each gauge between `start` and `end`."""
        window = [s for s in self.samples if start <= s.at <= end] or self.samples[-1:]
        return Sample(
            at=end,
            unevaluated=max(s.unevaluated for s in window),
            open_deliveries=max(s.open_deliveries for s in window),
            webhook_messages=max(s.webhook_messages for s in window),
        )


# --- The no-op Celery baseline ----------------------------------------------------------------------


def celery_noop_rate(broker_url: str, tasks: int) -> float:
    """Tasks/s for `celery.accumulate` (a built-in every worker registers; with no arguments it
    does nothing): from the first send until the workers have run and acknowledged the last.
    Settings have no result backend, so completion is read from Redis: the `default` queue
    empty and none of its messages left in kombu's unacked hash (tasks are acks_late)."""
    from celery import Celery

    app = Celery("e2e-bench", broker=broker_url)
    client = redis.Redis.from_url(broker_url)

    def ours_in_flight() -> bool:
        return any(json.loads(value)[2] == "default" for value in client.hvals("unacked"))

    started = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for _ in range(tasks):
            app.send_task("celery.accumulate", queue="default", producer=producer)
    while client.llen("default") or ours_in_flight():
        time.sleep(0.005)
    return tasks / (time.perf_counter() - started)


# --- Phases and report ------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _latency(values: list[float]) -> str:
    if not values:
        return "n=0"
    return (
        f"p50 {_percentile(values, 50) * 1000:7.0f} ms   p99 {_percentile(values, 99) * 1000:7.0f} ms   "
        f"max {max(values) * 1000:7.0f} ms   (n={len(values)})"
    )


@dataclass
class PhaseResult:
    log: PhaseLog
    evaluated_at: float | None
    drained_at: float | None
    left: Sample  # the last sample: what was still open on a timeout
    peaks: Sample
    events_stored: int
    wall: tuple[float, float]  # time.time() at the first POST and when drained (or given up)
    cpu: dict[str, float]  # cores used on average over `wall`, by process group (local stack only)
    cpu_seconds: dict[str, float]  # the same, in CPU seconds
    work: dict[str, int]  # work_counters() over the phase (local stack only)
    # Filled by `attribute` once every phase is over, so webhooks that arrive during a later
    # phase still count for the phase whose points raised them.
    deliveries: list[Received] = field(default_factory=list)
    latencies: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})  # batched? -> s

    @property
    def events_expected(self) -> int:
        return sum(self.log.expected.values())

    @property
    def events_received(self) -> int:
        return sum(len(d.events) for d in self.deliveries)


def work_counters(stack: LocalStack) -> Counter[str]:
    """Machine-independent work counters, read so far: SQL statements sent (counted by the
    processes), rows written (pg_stat_user_tables of the stack's database) and WAL bytes (the
    whole server's: on a shared server, others' work too)."""
    totals: Counter[str] = Counter()
    totals["sql"] = int(redis.Redis.from_url(stack.config.broker_url).get(SQL_COUNT_KEY) or 0)
    with psycopg.connect(stack.database_url) as connection:
        row = connection.execute(
            "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_del), 0), "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') FROM pg_stat_user_tables"
        ).fetchone()
        points = connection.execute(
            "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables "
            "WHERE relname LIKE 'telemetry_telemetrypoint%%'"
        ).fetchone()
    assert row is not None and points is not None
    totals["rows inserted"], totals["rows updated"], totals["rows deleted"], totals["WAL bytes"] = map(int, row)
    totals["point rows inserted"], totals["point rows updated"] = map(int, points)
    return totals


# PostgreSQL publishes a backend's table counters at most once a second.
STATS_SETTLE_S = 1.5


def run_phase(
    *, name: str, load: Load, probe: Probe, api: Api, fleet: Fleet, duration: float, rate: float | None,
    drain_timeout: float, stack: LocalStack | None,
) -> PhaseResult:
    events_before = sum(fleet.events_total(api))
    cpu_before = stack.cpu() if stack else Counter()
    work_before = work_counters(stack) if stack else Counter()
    wall_started = time.time()
    log = load.run(PhaseLog(name), duration=duration, rate=rate)
    evaluated_at, drained_at, left = probe.drained(log.finished, drain_timeout)
    wall_ended = time.time()
    cpu_used = (stack.cpu() if stack else Counter()) - cpu_before
    work: dict[str, int] = {}
    if stack:
        time.sleep(STATS_SETTLE_S)
        work = {key: value - work_before[key] for key, value in work_counters(stack).items()}
    return PhaseResult(
        wall=(wall_started, wall_ended),
        cpu={group: seconds / (wall_ended - wall_started) for group, seconds in cpu_used.items()},
        cpu_seconds=dict(cpu_used),
        work=work,
        log=log,
        evaluated_at=evaluated_at,
        drained_at=drained_at,
        left=left,
        peaks=probe.peaks(log.started, drained_at or left.at),
        events_stored=sum(fleet.events_total(api)) - events_before,
    )


@dataclass(frozen=True)
class Attribution:
    unmatched_events: int  # received events that no posted point raised (e.g. refreshes)
    duplicate_webhooks: int  # webhook-ids received more than once


def attribute(results: list[PhaseResult], received: list[Received], fleet: Fleet) -> Attribution:
    """Give each webhook to the phase whose points raised its events, and each event its
    latency: receipt minus when the point with its VIN and eventDate was POSTed."""
    batched = {mid: spec.batched for mid, spec in zip(fleet.monitor_ids, fleet.specs)}
    unmatched = 0
    for delivery in received:
        owner: PhaseResult | None = None
        for key in delivery.events:
            result = next((r for r in results if key in r.log.posted_at), None)
            if result is None:
                unmatched += 1
                continue
            owner = owner or result
            result.latencies[batched.get(delivery.monitor_id, False)].append(delivery.at - result.log.posted_at[key])
        if owner:
            owner.deliveries.append(delivery)
    webhook_ids = Counter(d.webhook_id for d in received)
    return Attribution(unmatched_events=unmatched, duplicate_webhooks=sum(n - 1 for n in webhook_ids.values()))


def _rate(count: float, seconds: float | None) -> str:
    return f"{count / seconds:8.0f} /s" if seconds else "       — "


@dataclass(frozen=True)
class Timeline:
    """Seconds from a phase's first POST to its milestones (None: not reached)."""

    posting: float
    evaluated: float | None
    delivered: float | None

    @classmethod
    def of(cls, result: PhaseResult) -> Timeline:
        start = result.log.started
        last_webhook = max((d.at for d in result.deliveries), default=None)
        return cls(
            posting=result.log.finished - start,
            evaluated=result.evaluated_at - start if result.evaluated_at else None,
            delivered=last_webhook - start if last_webhook and result.events_received >= result.events_stored else None,
        )


def _common_lines(result: PhaseResult, times: Timeline) -> None:
    log = result.log
    print(f"  posting {times.posting:.1f} s: {log.points} points in {len(log.requests_s)} POSTs "
          f"(round trip p50 {_percentile(log.requests_s, 50) * 1000:.0f} ms, "
          f"p99 {_percentile(log.requests_s, 99) * 1000:.0f} ms); peaks: {result.peaks.unevaluated} points "
          f"unevaluated, {result.peaks.open_deliveries} deliveries open, "
          f"{result.peaks.webhook_messages} messages in the webhooks queue")
    print(f"  events stored                               {_rate(result.events_stored, times.evaluated)}   "
          f"{result.events_stored} ({result.events_stored / max(log.points, 1):.1%} of points; "
          f"{result.events_expected} expected from the data)")
    print(f"  webhooks received                           {_rate(len(result.deliveries), times.delivered)}   "
          f"{len(result.deliveries)} requests carrying {result.events_received} events")
    if result.drained_at is None:
        print(f"  !! not drained {result.left.at - log.finished:.0f} s after the last POST: "
              f"{result.left.unevaluated} points unevaluated, {result.left.open_deliveries} deliveries open, "
              f"{result.left.webhook_messages} messages in the webhooks queue")
    if log.failures:
        print(f"  !! {len(log.failures)} failed POSTs, first: {log.failures[0]}")
    if not result.events_received == result.events_stored == result.events_expected:
        print(f"  !! events: {result.events_expected} expected, {result.events_stored} stored, "
              f"{result.events_received} received")


def print_cpu(result: PhaseResult) -> None:
    """What the machine's cores did from the phase's first POST until it drained."""
    shares = ", ".join(f"{group} {cores:.2f}" for group, cores in sorted(result.cpu.items(), key=lambda i: -i[1]))
    print(f"  CPU, cores on average: {sum(result.cpu.values()):.2f} of {os.cpu_count()} ({shares})")


# What runs for FleetMon: ours, and the PostgreSQL server. The server's processes other than
# our live backends are in too: the time of our backends that exited is charged to them.
STACK_GROUPS = ("API", "workers", "webhooks", "beat", "PostgreSQL", "PostgreSQL, shared", "Redis")


def print_cpu_per_point(result: PhaseResult, bare_cpu_per_point: float) -> None:
    stack = sum(result.cpu_seconds.get(group, 0.0) for group in STACK_GROUPS)
    per_point = stack / max(result.log.points, 1)
    print(f"  CPU per point, every FleetMon process, Redis and the PostgreSQL server (others' work too on a "
          f"shared server): {per_point * 1000:.3f} ms ({per_point / bare_cpu_per_point:.1f}x the bare endpoint's)")


def print_work(result: PhaseResult, runs: list[TaskRun]) -> None:
    """Machine-independent figures, per 1,000 points posted in the phase."""
    start, end = result.wall
    tasks = sum(1 for run in runs if start <= run.finished <= end)
    per = 1000 / max(result.log.points, 1)
    work = result.work
    print(f"  per 1,000 points: {work.get('sql', 0) * per:.0f} SQL statements, {tasks * per:.1f} Celery tasks, "
          f"{work.get('rows inserted', 0) * per:.0f} rows inserted ({work.get('point rows inserted', 0) * per:.0f} points), "
          f"{work.get('rows updated', 0) * per:.0f} updated ({work.get('point rows updated', 0) * per:.0f} points), "
          f"{work.get('rows deleted', 0) * per:.0f} deleted; "
          f"{work.get('WAL bytes', 0) * per / 1024:.0f} KiB of WAL (whole server)")


def print_rss(after_warm_up: Counter[str], at_end: Counter[str]) -> None:
    print("\nmemory (RSS, MiB) after warm-up -> at the end: " + ", ".join(
        f"{group} {after_warm_up[group]:.0f} -> {at_end[group]:.0f} ({at_end[group] / max(after_warm_up[group], 1) - 1:+.1%})"
        for group in sorted(after_warm_up)
    ))


def print_worker_time(result: PhaseResult, runs: list[TaskRun]) -> None:
    """Where the workers' time went during the phase (local stack only: read from their logs)."""
    start, end = result.wall
    tasks: dict[str, list[float]] = {}
    for run in runs:
        if start <= run.finished <= end:
            tasks.setdefault(run.name.rsplit(".", 1)[-1], []).append(run.seconds)
    busy = sum(sum(seconds) for seconds in tasks.values()) / (end - start)
    summary = ", ".join(
        f"{name} {len(seconds)} x {sum(seconds) / len(seconds) * 1000:.0f} ms"
        for name, seconds in sorted(tasks.items(), key=lambda item: -sum(item[1]))
    )
    print(f"  worker time: {busy:.1f} pool processes busy on average; {summary}")


def print_sustained(result: PhaseResult, *, baseline_points: float, noop_tasks: float | None) -> None:
    times = Timeline.of(result)
    points = result.log.points
    ingested = points / times.posting
    evaluated = points / times.evaluated if times.evaluated else None
    versus_noop = f"   {evaluated / noop_tasks:.1f}x no-op Celery tasks/s" if evaluated and noop_tasks else ""
    _common_lines(result, times)
    print(f"  points ingested (202)                       {_rate(points, times.posting)}   "
          f"{ingested / baseline_points:.2f}x bare DRF")
    print(f"  points evaluated (first POST -> all done)   {_rate(points, times.evaluated)}{versus_noop}")
    print(f"  points through to delivered webhooks        {_rate(points, times.delivered)}   "
          f"last webhook {times.delivered or float('nan'):.1f} s after the first POST")
    print(f"  telemetry -> webhook, immediate monitors    {_latency(result.latencies[False])}")
    print(f"  telemetry -> webhook, batchNotify monitors  {_latency(result.latencies[True])}")


def print_fixed(result: PhaseResult) -> None:
    times = Timeline.of(result)
    _common_lines(result, times)
    lag = f"{times.evaluated - times.posting:.1f} s" if times.evaluated else "—"
    print(f"  points ingested (202)                       {_rate(result.log.points, times.posting)}   "
          f"all evaluated {lag} after the last POST")
    print(f"  telemetry -> webhook, immediate monitors    {_latency(result.latencies[False])}")
    print(f"  telemetry -> webhook, batchNotify monitors  {_latency(result.latencies[True])}   "
          f"(includes the {BATCH_WINDOW_S} s batch window)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of flat-out posting (sustained phase)")
    parser.add_argument("--rate", type=float, default=1000, help="points/s of the fixed-rate (latency) phase")
    parser.add_argument("--latency-duration", type=float, default=30, help="seconds of the fixed-rate (latency) phase")
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--monitors", type=int, default=10)
    parser.add_argument("--batch", type=int, default=250, help="points per POST")
    parser.add_argument("--clients", type=int, default=4, help="client threads posting telemetry")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (local stack)")
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes per Celery worker (local stack)")
    # 0 by default: `make run` and docker-compose run one worker layout for every queue.
    parser.add_argument("--webhook-workers", type=int, default=0,
                        help="Celery workers for the webhooks queue alone (local stack; 0: the other workers take it)")
    parser.add_argument("--webhook-concurrency", type=int, default=2, help="pool processes per webhooks worker")
    parser.add_argument("--baseline-duration", type=float, default=10, help="seconds posting to the bare endpoint")
    parser.add_argument("--noop-tasks", type=int, default=5000, help="no-op Celery tasks for the round-trip baseline")
    parser.add_argument("--drain-timeout", type=float, default=180, help="seconds to wait for a phase to drain")
    parser.add_argument("--postgres", default=os.environ.get("E2E_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
                        help="admin connection used to create and drop the throwaway database (local stack)")
    parser.add_argument("--database-name", default="fleetmon_e2e_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="Redis db for broker and cache, flushed (local stack)")
    parser.add_argument("--url", help="base URL of a running stack instead of starting one")
    parser.add_argument("--token", help="API token for --url")
    parser.add_argument("--broker-url", help="with --url: its broker, for the no-op Celery baseline")
    parser.add_argument("--metrics-token", default="", help="with --url: its FLEETMON_METRICS_TOKEN, if set")
    parser.add_argument("--receiver-host", default="127.0.0.1", help="address the webhook receiver binds and advertises")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (their directory is printed)")
    args = parser.parse_args()
    if args.url and not args.token:
        parser.error("--url needs --token")

    # SIGTERM and SIGHUP unwind like Ctrl-C, through the `finally` that cleans up.
    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # under nohup it stays ignored
        signal.signal(signal.SIGHUP, interrupt)

    workdir = Path(tempfile.mkdtemp(prefix="fleetmon-e2e-"))
    local = None if args.url else LocalStack(
        StackConfig(
            admin_url=args.postgres, database=args.database_name, broker_url=args.redis, cache_url=args.redis,
            workers=args.workers, concurrency=args.concurrency, env={}, worker_env={}, lock_key=RUN_LOCK_KEY,
            name="benchmarks/e2e.py", webhook_workers=args.webhook_workers, webhook_concurrency=args.webhook_concurrency,
            settings_module=COUNTING_SETTINGS,
        ),
        workdir,
    )
    receiver = Receiver(args.receiver_host)
    api: Api | None = None
    fleet: Fleet | None = None
    probe: Probe | None = None
    load: Load | None = None
    load_before = os.getloadavg()
    try:
        print("starting..." if local else f"using {args.url}", flush=True)
        if local:
            stack = local.start()
            baseline_env = local.env
        else:
            stack = StackHandle(
                base_url=args.url.rstrip("/"),
                token=args.token,
                broker_url=args.broker_url,
                metrics_headers={"Authorization": f"Bearer {args.metrics_token}"} if args.metrics_token else {},
                description=f"already running at {args.url}",
            )
            baseline_env = {**os.environ, "SECRET_KEY": secrets.token_urlsafe(50), "FLEETMON_DATA_DIR": str(workdir)}
        receiver.start()
        api = Api(stack.base_url, stack.token)
        fleet = create_fleet(
            api, vehicles=args.vehicles, monitors=args.monitors, target=receiver.url, clients=args.clients
        )
        print(f"fleet {fleet.id}: {args.vehicles} vehicles, {args.monitors} monitors", flush=True)
        probe = Probe(stack.base_url, stack.metrics_headers)
        probe.start()
        load = Load(api, fleet.sims, clients=args.clients, batch=args.batch)
        common = {"load": load, "probe": probe, "api": api, "fleet": fleet, "stack": local}

        # Warm-up: every vehicle's first evaluations (state rows created) and every process's
        # first requests and connections, outside the measurements.
        warm_rounds = 3
        warm = run_phase(name="warm-up", duration=warm_rounds * args.vehicles / args.rate, rate=args.rate,
                         drain_timeout=args.drain_timeout, **common)
        print(f"warm-up: {warm.log.points} points, {warm.events_stored} events", flush=True)
        rss_warm = local.rss() if local else Counter()

        with BaselineServer(baseline_env, workdir) as bare:
            bare_group = {bare.process.popen.pid: "bare"}
            bare_cpu_before = cpu_seconds(bare_group)["bare"]
            bare_points, bare_seconds = load.run_fixed_body(
                f"{bare.url}{BARE_TELEMETRY_URL_PATH}", duration=args.baseline_duration
            )
            bare_cpu_per_point = (cpu_seconds(bare_group)["bare"] - bare_cpu_before) / bare_points
        baseline_points = bare_points / bare_seconds
        print(f"baseline: bare DRF {baseline_points:.0f} points/s", flush=True)
        noop = celery_noop_rate(stack.broker_url, args.noop_tasks) if stack.broker_url else None
        if noop:
            print(f"baseline: no-op Celery {noop:.0f} tasks/s", flush=True)

        # The fixed rate first: the flat-out phase may leave a backlog behind it.
        fixed = run_phase(name="latency", duration=args.latency_duration, rate=args.rate,
                          drain_timeout=args.drain_timeout, **common)
        print(f"fixed rate: {fixed.log.points} points, {fixed.events_stored} events", flush=True)
        sustained = run_phase(name="sustained", duration=args.duration, rate=None,
                              drain_timeout=args.drain_timeout, **common)
        print(f"sustained: {sustained.log.points} points, {sustained.events_stored} events", flush=True)
        attribution = attribute([warm, fixed, sustained], receiver.all(), fleet)
        deliveries = fleet.deliveries_by_state(api)
        runs = local.task_runs() if local else []
        rss_end = local.rss() if local else Counter()
        load_after = os.getloadavg()

        batched = sum(spec.batched for spec in fleet.specs)
        print("\n=== FleetMon end-to-end benchmark ===")
        print(f"stack: {stack.description}")
        info = machine() | (local.versions() if local else {})
        print("machine: " + ", ".join(f"{key} {value}" for key, value in info.items()))
        print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")
        print(f"workload: {args.vehicles} vehicles, {args.monitors} monitors (zone/time/data, {batched} with batchNotify "
              f"size 10 / {BATCH_WINDOW_S} s), {load.batch} points per POST from {args.clients} client threads")
        print("\nbaselines, same run")
        print(f"  bare DRF endpoint validating the same batches  {baseline_points:8.0f} points/s   "
              f"(HTTP, gunicorn {GUNICORN_WORKERS}x{GUNICORN_THREADS}, benchmarks/common.py); "
              f"{bare_cpu_per_point * 1000:.3f} ms CPU per point")
        print("  no-op Celery task round trip                   "
              + (f"{noop:8.0f} tasks/s    (celery.accumulate, same broker and workers)" if noop else "not measured (no --broker-url)"))
        print(f"\nfixed rate: {args.rate:.0f} points/s for {args.latency_duration:.0f} s, then drained")
        print_fixed(fixed)
        if local:
            print_cpu(fixed)
            print_worker_time(fixed, runs)
            print_work(fixed, runs)
        print(f"\nsustained: {args.duration:.0f} s posting as fast as accepted, then drained")
        print_sustained(sustained, baseline_points=baseline_points, noop_tasks=noop)
        if local:
            print_cpu(sustained)
            print_cpu_per_point(sustained, bare_cpu_per_point)
            print_worker_time(sustained, runs)
            print_work(sustained, runs)
            print_rss(rss_warm, rss_end)
        print(f"\ndeliveries at the end (API): {dict(deliveries)}; received events matching no posted point: "
              f"{attribution.unmatched_events}; duplicate webhook-ids: {attribution.duplicate_webhooks}")
        problems = (local.problems() if local else []) + [f"probe: {e}" for e in probe.errors[:3]]
        for problem in problems:
            print(f"!! {problem}")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    except RuntimeError as exc:  # what this script detected (a process not starting, the API refusing)
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the cleanup short and leave processes or a database behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if load:
            load.stop.set()
        if probe:
            probe.close()
        receiver.stop()
        if local:
            local.close()
        elif api and fleet:
            api.call("DELETE", f"/api/v1/fleets/{fleet.id}", expect=(204,))
        release_workdir(workdir, keep=args.keep_logs)


if __name__ == "__main__":
    sys.exit(main())

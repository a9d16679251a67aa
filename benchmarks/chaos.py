"""Chaos suite: at-least-once delivery and no loss of accepted telemetry, measured under faults.

    .venv/bin/python benchmarks/chaos.py [--broker redis|rabbitmq] [--scenario NAME ...] [--quick]
    make chaos [CHAOS_ARGS="--broker rabbitmq --quick"]

It starts a whole stack of its own on loopback (benchmarks/stack.py): a private PostgreSQL
instance (initdb in a temporary directory, on a free port: restarting it touches no other
database on the machine), the broker (a private redis-server, or a RabbitMQ vhost made for the
run on the local RabbitMQ), gunicorn, two Celery workers, Beat, and a webhook receiver that
logs every request's webhook-id. Each scenario gets a fleet and a monitor of its own, posts
telemetry whose events are known in advance (a battery level alternating above and below the
monitor's threshold: every low point raises exactly one event), injects its fault, and
compares what the receiver got with what the telemetry must raise:

  expected    events the points answered 202 must raise
  raised      events stored (API)
  delivered   expected events the receiver got at least once
  dup-ids     webhook requests repeating a webhook-id already received (at-least-once retries)
  dup-events  events received under more than one webhook-id (an event raised or sealed twice)
  lost        expected events never received
  recover     seconds from the fault (or its end) until the last expected event arrived

A scenario passes when nothing is lost, nothing unexpected is raised or received, no event is
duplicated, and its own figure holds (below). The run exits 1 if any scenario fails.

Scenarios (full size / --quick):
  worker-kill        1,000 / 200 deliveries in flight to a slow receiver; SIGKILL of a worker
                     (main and pool processes), a new worker started.
  broker-flush       1,000 / 200 deliveries pending; every queued message dropped (Redis
                     FLUSHDB, RabbitMQ purge).
  broker-flush-points  a batch accepted (202) with the workers stopped, its messages dropped
                     before any evaluation, workers started again.
  receiver-down      receiver's port closed 180 / 20 s with retry policy Always, then reopened.
  postgres-restart   a client posting continuously while PostgreSQL stops for 10 / 3 s: only 202 and 503
                     (xError with Retry-After) answers, never 500.
  broker-down        a client posting continuously while the broker is unreachable for 10 / 3 s
                     (Redis killed and started again empty; RabbitMQ: the vhost's connections
                     closed and new ones refused): every POST answered 202.
  same-vin           1,000 / 200 points of one VIN in parallel requests to 2 workers: 0
                     duplicate events, every event raised delivered. (Arrival order is the race
                     under test, so which points raise events is not known in advance: at
                     most one per low point.)
  pg-terminate       workers' PostgreSQL backends terminated mid-transaction (pg_terminate_backend)
                     while telemetry flows.

Every address is loopback; every loop is bounded in count and time. Ctrl-C or a failure stops
everything it started and removes what it made.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repository's packages
from benchmarks.stack import (  # noqa: E402
    Api,
    LocalStack,
    StackConfig,
    free_port,
    ignore_interrupts,
    machine,
    release_workdir,
    rfc3339_ms,
    unwind_on_signals,
)
from fleetmon_project.brokers import drop_all_messages  # noqa: E402
from fleetmon_project.processes import WORKER_READY, ChildProcess  # noqa: E402
from fleetmon_project.receiver import ReceivedRequest, WebhookReceiver  # noqa: E402
from tests.backends import RabbitVhost  # noqa: E402

LOCK_KEY = 0x464D4348  # "FMCH"
LEVEL_KEY = "vehicle.energy.electric.level"
LOW, HIGH, THRESHOLD = 10.0, 30.0, 20.0
WORKER_APPLICATION = "fleetmon-chaos-worker"  # the workers' PostgreSQL application_name
RETRY_DELAY_S = 5
ROUND_INTERVAL_S = 2.0  # between rounds of continuous posting (postgres-restart, pg-terminate)
# Short enough that recovery is seen within a run; the lease must outlast connect + read.
TIMING = {
    "FLEETMON_SWEEP_INTERVAL": "1",
    "FLEETMON_POINT_RESCUE_AFTER": "10",
    "FLEETMON_DELIVERY_LEASE": "15",
    "FLEETMON_WEBHOOK_CONNECT_TIMEOUT": "2",
    "FLEETMON_WEBHOOK_READ_TIMEOUT": "10",
}


# --- Private PostgreSQL and Redis ---------------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL instance of this run only: initdb in a temporary directory, listening on
    127.0.0.1 at a free port. initdb and the server refuse to run as root: then as `postgres`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="fleetmon-chaos-pg-"))
        self.data = self.dir / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.bin = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip() or "")
        self.admin_url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _tool(self, name: str) -> str:
        candidate = self.bin / name
        return str(candidate) if candidate.exists() else name

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")

    def start(self) -> None:
        """Start the server (initdb first, once); its output goes to its log file, never to
        our pipes, which pg_ctl would otherwise leave held open by the server."""
        if not self.data.exists():
            self._run(self._tool("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c max_connections=200 "
            # A restart here is a clean shutdown: what fsync protects against (the machine
            # losing power) is not a scenario, and it would only slow this shared machine.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(self._tool("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", options,
                  "-w", "start")

    def restart(self, *, down_for: float) -> None:
        """Stop (fast: sessions cut, transactions rolled back), stay down `down_for` seconds
        (a restart of a busy server, a failover), start again."""
        self._run(self._tool("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        time.sleep(down_for)
        self.start()

    def version(self) -> str:
        with psycopg.connect(self.admin_url) as connection:
            row = connection.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def close(self) -> None:
        if self.data.exists():
            with contextlib.suppress(RuntimeError, subprocess.SubprocessError):  # never started
                self._run(self._tool("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A redis-server of this run only, on 127.0.0.1 at a free port, nothing persisted."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.starts = 0
        self.process = self._start()

    def _start(self) -> ChildProcess:
        self.starts += 1
        process = ChildProcess(
            f"redis-{self.starts}",  # a log of its own: the last start's readiness is the one waited for
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            env=os.environ,
            log_dir=self.workdir,
        )
        process.wait_for_log("Ready to accept connections", 30)
        return process

    def cut(self, down_for: float) -> None:
        """Killed (its queues, the messages workers hold and the evaluation marks with it, as a
        Redis without persistence loses them), down `down_for` seconds, started again empty."""
        self.process.kill()
        time.sleep(down_for)
        self.process = self._start()

    def close(self) -> None:
        self.process.stop()


# --- Telemetry whose events are known --------------------------------------------------------------


Event = tuple[str, str]  # (vin, eventDate) as the webhook carries it


@dataclass
class Vehicle:
    vin: str
    start: datetime
    sent: int = 0  # points generated so far

    def points(self, count: int) -> tuple[list[dict], list[Event]]:
        """The next `count` points, one second apart, alternating high and low: every low
        point follows a high one (or is the first), so each raises exactly one event."""
        points, events = [], []
        for _ in range(count):
            index, self.sent = self.sent, self.sent + 1
            date = rfc3339_ms(self.start + timedelta(seconds=index))
            low = index % 2 == 1
            points.append({"vin": self.vin, "eventDate": date, "data": {LEVEL_KEY: LOW if low else HIGH}})
            if low:
                events.append((self.vin, date))
        return points, events


@dataclass
class Posted:
    """What clients sent and how the API answered (guarded by `lock`)."""

    expected: set[Event] = field(default_factory=set)
    low_points: int = 0
    statuses: Counter[int] = field(default_factory=Counter)  # every answer, retries included (0: no answer)
    first_no_answer: str = ""  # why the first request that got no answer got none
    failures: list[str] = field(default_factory=list)
    bad_retry_after: int = 0  # 503 answers without Retry-After or not in the xError shape
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """Posts telemetry as a well-behaved client: a 503 (or no answer) is retried with the same
    body after Retry-After (at most 5 s), until `give_up_after` seconds; anything but 202 and
    503 is a failure. Only points answered 202 count as accepted."""

    def __init__(self, api: Api, posted: Posted, *, give_up_after: float = 120.0) -> None:
        self.api = api
        self.posted = posted
        self.give_up_after = give_up_after

    def send(self, points: list[dict], events: list[Event]) -> bool:
        deadline = time.monotonic() + self.give_up_after
        url = f"{self.api.base_url}/api/v1/telemetry"
        while True:
            try:
                response = self.api.session().post(url, json=points, timeout=60)
                status, text = response.status_code, response.text
                retry_after = response.headers.get("Retry-After")
            except requests.RequestException as exc:
                status, text, retry_after = 0, str(exc), None
            with self.posted.lock:
                self.posted.statuses[status] += 1
                if status == 202:
                    self.posted.expected.update(events)
                    self.posted.low_points += len(events)
                    return True
                if status == 503 and (not retry_after or '"code":503' not in text.replace(" ", "")):
                    self.posted.bad_retry_after += 1
                if status == 0 and not self.posted.first_no_answer:
                    self.posted.first_no_answer = text[:300]
                if status not in (0, 503):
                    self.posted.failures.append(f"HTTP {status}: {text[:300]}")
                    return False
            if time.monotonic() > deadline:
                with self.posted.lock:
                    self.posted.failures.append(f"gave up after {self.give_up_after:.0f}s: HTTP {status} {text[:200]}")
                return False
            time.sleep(min(5.0, float(retry_after or 1)))


# --- One scenario's setting ------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    expected: int
    raised: int
    delivered: int
    duplicate_ids: int
    duplicate_events: int
    lost: int
    unexpected: int
    recover_s: float | None
    problems: list[str]
    notes: str = ""

    @property
    def passed(self) -> bool:
        return not self.problems


class Setting:
    """A fleet, its vehicles and one monitor posting to the receiver, fresh for a scenario."""

    def __init__(self, ctx: Context, name: str, *, vehicles: int) -> None:
        self.ctx = ctx
        self.name = name
        api = ctx.api
        self.fleet_id, vins = api.create_fleet(f"chaos {name}", vehicles=vehicles, threads=4)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        self.vehicles = [Vehicle(vin, start) for vin in vins]
        definition = {
            "label": f"chaos {name}",
            "subscribeParam": {
                "retryPolicy": {"policy": "Always", "retryDelay": RETRY_DELAY_S},
                "callback": {"webhook": {"target": f"{ctx.receiver.url}/hook", "name": "chaos", "attributes": []}},
            },
            "triggerParam": {
                "triggers": [{"name": "low", "data": {"data": LEVEL_KEY, "op": "lowerThan", "value": [str(THRESHOLD)]}}],
                "boolExp": "low",
            },
            "extendedEventParam": [],
        }
        self.monitor_id = api.call(
            "POST", f"/api/v1/fleets/{self.fleet_id}/monitors", definition, expect=(202,)
        )["monitorId"]
        self.posted = Posted()
        self.client = Client(api, self.posted)

    def post_rounds(self, *, points_per_vehicle: int, per_request: int = 250, threads: int = 4,
                    until: Callable[[], bool] | None = None, every: float = ROUND_INTERVAL_S,
                    max_seconds: float = 600) -> None:
        """Every vehicle's next points, `points_per_vehicle` each (an even number), in requests
        of about `per_request` points from `threads` clients, each owning a slice of the
        vehicles so that a vehicle's points arrive in order. With `until`, such a round starts
        every `every` seconds until it is true (bounded by `max_seconds`): a steady flow the
        workers keep up with, so recovery is not hidden behind a backlog."""
        slices = [self.vehicles[i::threads] for i in range(threads)]
        started = time.monotonic()
        deadline = started + max_seconds

        def run(vehicles: list[Vehicle]) -> None:
            chunk = max(1, per_request // points_per_vehicle)
            rounds = 0
            while time.monotonic() < deadline:
                for start in range(0, len(vehicles), chunk):
                    points, events = [], []
                    for vehicle in vehicles[start : start + chunk]:
                        more, raised = vehicle.points(points_per_vehicle)
                        points += more
                        events += raised
                    self.client.send(points, events)
                rounds += 1
                if until is None or until():
                    return
                time.sleep(max(0.0, started + rounds * every - time.monotonic()))

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, [s for s in slices if s]))

    def received(self) -> list[ReceivedRequest]:
        return [r for r in self.ctx.receiver.received() if r.monitor_id == self.monitor_id]

    def events_raised(self) -> int:
        return self.ctx.api.total(f"/api/v1/fleets/{self.fleet_id}/monitors/{self.monitor_id}/events")

    def delivered_events(self) -> set[Event]:
        return {event for r in self.received() for event in r.event_keys}

    def wait_delivered(self, *, timeout: float, target: int | None = None) -> float | None:
        """Wait until every expected event (or `target` events) was received; when, or None."""
        deadline = time.monotonic() + timeout
        want = target if target is not None else len(self.posted.expected)
        while time.monotonic() < deadline:
            got = self.delivered_events()
            done = len(got) >= want if target is not None else self.posted.expected <= got
            if done:
                return max(r.received_at for r in self.received())
            time.sleep(0.5)
        return None

    def outcome(self, *, fault_at: float, timeout: float, exact: bool = True, notes: str = "",
                checks: list[str] | None = None) -> Outcome:
        """Wait for delivery (`exact`: of the expected events; otherwise of every event raised,
        once there is one), let late duplicates arrive, and count."""
        problems = list(checks or [])
        if exact:
            completed = self.wait_delivered(timeout=timeout)
        else:
            completed = None
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and completed is None:
                raised = self.events_raised()
                if not raised:
                    # Not evaluated yet: no event raised is no event delivered, not "all delivered".
                    time.sleep(0.5)
                    continue
                completed = self.wait_delivered(timeout=min(5.0, deadline - time.monotonic()), target=raised)
                if completed is not None and self.events_raised() != raised:
                    completed = None  # still evaluating
        time.sleep(2 * RETRY_DELAY_S)  # a duplicate still on its way is counted
        received = self.received()
        raised = self.events_raised()
        got = self.delivered_events()
        ids = Counter(r.webhook_id for r in received)
        event_ids: dict[Event, set[str]] = {}
        for r in received:
            for event in r.event_keys:
                event_ids.setdefault(event, set()).add(r.webhook_id)
        expected = self.posted.expected if exact else got
        lost = len(expected - got) if exact else max(0, raised - len(got))
        unexpected = len(got - expected)
        outcome = Outcome(
            name=self.name,
            expected=len(expected) if exact else raised,
            raised=raised,
            delivered=len(got & expected),
            duplicate_ids=sum(n - 1 for n in ids.values()),
            duplicate_events=sum(1 for webhook_ids in event_ids.values() if len(webhook_ids) > 1),
            lost=lost,
            unexpected=unexpected,
            recover_s=completed - fault_at if completed is not None else None,
            problems=problems,
            notes=notes,
        )
        if outcome.lost:
            problems.append(f"{outcome.lost} events lost (not delivered within {timeout:.0f}s)")
        if exact and raised != len(expected):
            problems.append(f"{raised} events raised, {len(expected)} expected")
        if not exact and raised > self.posted.low_points:
            problems.append(f"{raised} events raised from {self.posted.low_points} low points")
        if outcome.unexpected:
            problems.append(f"{outcome.unexpected} events received that no accepted point raises")
        if outcome.duplicate_events:
            problems.append(f"{outcome.duplicate_events} events received under more than one webhook-id")
        if self.posted.failures:
            problems.append(f"{len(self.posted.failures)} telemetry posts failed, first: {self.posted.failures[0]}")
        return outcome


@dataclass
class Context:
    api: Api
    stack: LocalStack
    receiver: WebhookReceiver
    postgres: PrivatePostgres
    broker_url: str
    quick: bool
    cut_broker: Callable[[float], None]  # makes the broker unreachable for that many seconds

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def wait_received(self, setting: Setting, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(setting.received()) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{setting.name}: fewer than {count} webhooks received after {timeout:.0f}s")
            time.sleep(0.2)

    def wait_raised(self, setting: Setting, count: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while setting.events_raised() < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{setting.name}: fewer than {count} events raised after {timeout:.0f}s")
            time.sleep(0.5)

    def restart_workers(self, count: int) -> None:
        for worker in [self.stack.spawn_worker() for _ in range(count)]:
            worker.wait_for_log(WORKER_READY, 90)


# --- Scenarios ---------------------------------------------------------------------------------------


@contextmanager
def backlog(ctx: Context, name: str) -> Iterator[tuple[Setting, int]]:
    """A scenario's setting with about 1,000 (200) events raised or being raised, and their
    deliveries going to a receiver that takes 0.2 s to answer: most of them pending."""
    events = ctx.size(1000, 200)
    setting = Setting(ctx, name, vehicles=50)
    ctx.receiver.delay = 0.2
    try:
        setting.post_rounds(points_per_vehicle=2 * events // 50)
        yield setting, events
    finally:
        ctx.receiver.delay = 0.0


def scenario_worker_kill(ctx: Context) -> Outcome:
    with backlog(ctx, "worker-kill") as (setting, events):
        ctx.wait_received(setting, events // 20)  # deliveries flowing, most still pending
        victim = ctx.stack.workers()[0]
        fault_at = time.monotonic()
        victim.kill()
        ctx.restart_workers(1)
        return setting.outcome(fault_at=fault_at, timeout=ctx.size(600, 300),
                               notes=f"{victim.name} SIGKILLed with {len(setting.received())} of {events} received")


def scenario_broker_flush(ctx: Context) -> Outcome:
    with backlog(ctx, "broker-flush") as (setting, events):
        ctx.wait_raised(setting, events)
        pending = events - len(setting.delivered_events())
        fault_at = time.monotonic()
        drop_all_messages(ctx.broker_url)
        return setting.outcome(fault_at=fault_at, timeout=ctx.size(600, 300),
                               notes=f"messages dropped with {pending} deliveries pending")


def scenario_broker_flush_points(ctx: Context) -> Outcome:
    setting = Setting(ctx, "broker-flush-points", vehicles=ctx.size(200, 50))
    workers = ctx.stack.workers()
    for worker in workers:
        worker.stop()  # nothing evaluates the batch before its messages are dropped
    setting.post_rounds(points_per_vehicle=4)
    fault_at = time.monotonic()
    drop_all_messages(ctx.broker_url)
    ctx.restart_workers(len(workers))
    return setting.outcome(fault_at=fault_at, timeout=ctx.size(300, 180),
                           notes=f"{setting.posted.low_points * 2} points accepted, their messages dropped unevaluated")


def scenario_receiver_down(ctx: Context) -> Outcome:
    outage = ctx.size(180, 20)
    setting = Setting(ctx, "receiver-down", vehicles=ctx.size(100, 25))
    ctx.receiver.stop()
    try:
        setting.post_rounds(points_per_vehicle=4)
        time.sleep(outage)
    finally:
        ctx.receiver.come_back()
    fault_at = time.monotonic()
    return setting.outcome(fault_at=fault_at, timeout=ctx.size(300, 120),
                           notes=f"receiver down {outage} s, retry policy Always every {RETRY_DELAY_S} s")


def _outage_while_posting(ctx: Context, name: str, what: str, outage: Callable[[float], None],
                          answers: set[int]) -> Outcome:
    """A client posting continuously while `outage` makes a service unavailable for 10 / 3 s;
    every answer is one of `answers`, and every event of the points accepted is delivered."""
    setting = Setting(ctx, name, vehicles=20)
    posting = ctx.size(40, 20)
    started = time.monotonic()
    ended: list[float] = []
    failures: list[str] = []

    def cut() -> None:
        time.sleep(posting / 3)
        try:
            outage(ctx.size(10, 3))
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            failures.append(str(exc))
            return
        ended.append(time.monotonic())

    thread = threading.Thread(target=cut, name=name, daemon=True)
    thread.start()
    setting.post_rounds(points_per_vehicle=2, per_request=20,
                        until=lambda: time.monotonic() - started > posting, max_seconds=posting + 120)
    thread.join(timeout=120)
    statuses = setting.posted.statuses
    checks = []
    if set(statuses) - answers:
        why = f"; the first without one: {setting.posted.first_no_answer}" if setting.posted.first_no_answer else ""
        checks.append(f"answers other than {' and '.join(map(str, sorted(answers)))}: {dict(statuses)}{why}")
    if setting.posted.bad_retry_after:
        checks.append(f"{setting.posted.bad_retry_after} answers 503 without Retry-After or xError body")
    if not ended:
        checks.append(f"{what} did not come back: {failures[0] if failures else 'still down'}")
    given = ", ".join(f"{status or 'no answer'}: {count}" for status, count in sorted(statuses.items()))
    return setting.outcome(fault_at=ended[0] if ended else started, timeout=ctx.size(300, 180),
                           checks=checks, notes=f"answers {given}")


def scenario_postgres_restart(ctx: Context) -> Outcome:
    return _outage_while_posting(ctx, "postgres-restart", "PostgreSQL",
                                 lambda down_for: ctx.postgres.restart(down_for=down_for), {202, 503})


def scenario_broker_down(ctx: Context) -> Outcome:
    # Telemetry is stored in PostgreSQL: the broker's absence only delays its evaluation, which
    # the sweeper queues once the broker is back. Every POST is accepted.
    return _outage_while_posting(ctx, "broker-down", "the broker", ctx.cut_broker, {202})


def scenario_same_vin(ctx: Context) -> Outcome:
    points = ctx.size(1000, 200)
    setting = Setting(ctx, "same-vin", vehicles=1)
    vehicle = setting.vehicles[0]
    requests_ = [vehicle.points(10) for _ in range(points // 10)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda request: setting.client.send(*request), requests_))
    return setting.outcome(fault_at=time.monotonic(), timeout=ctx.size(300, 120), exact=False,
                           notes=f"{points} points of one VIN in {len(requests_)} parallel requests, "
                                 f"{setting.posted.low_points} low")


def scenario_pg_terminate(ctx: Context) -> Outcome:
    setting = Setting(ctx, "pg-terminate", vehicles=20)
    posting = ctx.size(40, 20)
    started = time.monotonic()
    terminated = 0
    stop = threading.Event()

    def cut() -> None:
        nonlocal terminated
        with psycopg.connect(ctx.postgres.admin_url, autocommit=True) as admin:
            while not stop.wait(1.0):
                rows = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s AND xact_start IS NOT NULL",
                    (WORKER_APPLICATION,),
                ).fetchall()
                terminated += sum(1 for (done,) in rows if done)

    thread = threading.Thread(target=cut, name="terminate", daemon=True)
    thread.start()
    try:
        setting.post_rounds(points_per_vehicle=2, per_request=20,
                            until=lambda: time.monotonic() - started > posting, max_seconds=posting + 120)
    finally:
        stop.set()
        thread.join(timeout=30)
    checks = [] if terminated else ["no worker backend was caught in a transaction"]
    return setting.outcome(fault_at=time.monotonic(), timeout=ctx.size(300, 180), checks=checks,
                           notes=f"{terminated} worker backends terminated mid-transaction")


SCENARIOS: dict[str, Callable[[Context], Outcome]] = {
    "worker-kill": scenario_worker_kill,
    "broker-flush": scenario_broker_flush,
    "broker-flush-points": scenario_broker_flush_points,
    "receiver-down": scenario_receiver_down,
    "postgres-restart": scenario_postgres_restart,
    "broker-down": scenario_broker_down,
    "same-vin": scenario_same_vin,
    "pg-terminate": scenario_pg_terminate,
}


# --- Report and main ---------------------------------------------------------------------------------


def print_table(outcomes: list[Outcome]) -> None:
    header = f"{'scenario':<20} {'expected':>8} {'raised':>7} {'delivered':>9} {'dup-ids':>7} {'dup-events':>10} " \
             f"{'lost':>5} {'recover':>8}  result"
    print(header)
    print("-" * len(header))
    for o in outcomes:
        recover = f"{o.recover_s:.1f} s" if o.recover_s is not None else "—"
        print(f"{o.name:<20} {o.expected:>8} {o.raised:>7} {o.delivered:>9} {o.duplicate_ids:>7} "
              f"{o.duplicate_events:>10} {o.lost:>5} {recover:>8}  {'ok' if o.passed else 'FAILED'}")
    for o in outcomes:
        if o.notes:
            print(f"  {o.name}: {o.notes}")
        for problem in o.problems:
            print(f"  !! {o.name}: {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="repeatable; default: all")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and shorter outages (CI)")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672",
                        help="the local RabbitMQ (a vhost is made for the run)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (their directory is printed)")
    args = parser.parse_args()
    names = args.scenario or list(SCENARIOS)

    unwind_on_signals()

    workdir = Path(tempfile.mkdtemp(prefix="fleetmon-chaos-"))
    postgres = PrivatePostgres()
    private_redis: PrivateRedis | None = None
    vhost: RabbitVhost | None = None
    stack: LocalStack | None = None
    # Keep-alive, as receivers in production: FleetMon's pooled connections are reused.
    receiver = WebhookReceiver("127.0.0.1", keep_alive=True, log_path=workdir / "receiver.log")
    outcomes: list[Outcome] = []
    try:
        print(f"chaos: {args.broker} broker, {'quick' if args.quick else 'full'} sizes, scenarios: {', '.join(names)}",
              flush=True)
        postgres.start()
        if args.broker == "redis":
            private_redis = PrivateRedis(workdir)
            broker_url = cache_url = private_redis.url
        else:
            vhost = RabbitVhost.create(args.amqp_url, f"fleetmon-chaos-{os.getpid()}")
            if vhost is None:
                raise RuntimeError(f"could not make a RabbitMQ vhost on {args.amqp_url} (is it running? rabbitmqctl?)")
            broker_url, cache_url = vhost.url, ""
        database = "fleetmon_chaos"
        worker_database = f"postgres://postgres@127.0.0.1:{postgres.port}/{database}?application_name={WORKER_APPLICATION}"
        stack = LocalStack(
            StackConfig(
                admin_url=postgres.admin_url, database=database, broker_url=broker_url, cache_url=cache_url,
                workers=2, concurrency=2, env=TIMING, worker_env={"DATABASE_URL": worker_database},
                lock_key=LOCK_KEY, name="benchmarks/chaos.py",
            ),
            workdir,
        )
        handle = stack.start()
        receiver.start()
        broker = private_redis or vhost
        assert broker is not None
        ctx = Context(api=Api(handle.base_url, handle.token), stack=stack, receiver=receiver, postgres=postgres,
                      broker_url=broker_url, quick=args.quick, cut_broker=broker.cut)
        print(f"stack: {handle.description}", flush=True)
        for name in names:
            began = time.monotonic()
            print(f"\n--- {name}", flush=True)
            try:
                outcome = SCENARIOS[name](ctx)
            except RuntimeError as exc:
                outcome = Outcome(name, 0, 0, 0, 0, 0, 0, 0, None, [str(exc)])
            outcomes.append(outcome)
            print_table([outcome])
            print(f"  ({time.monotonic() - began:.0f} s)", flush=True)

        info = machine() | {"PostgreSQL": postgres.version()} | stack.versions()
        print(f"\n=== FleetMon chaos suite: {args.broker}{' (quick)' if args.quick else ''} ===")
        print("machine: " + ", ".join(f"{key} {value}" for key, value in info.items()))
        print_table(outcomes)
        for problem in stack.problems():
            print(f"   (logged) {problem}")
        failed = [o.name for o in outcomes if not o.passed]
        print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'all scenarios passed'}")
        return 1 if failed else 0
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"\nchaos run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        ignore_interrupts()
        receiver.stop()
        if stack:
            stack.close()
        if private_redis:
            private_redis.close()
        if vhost:
            vhost.delete()
        postgres.close()
        release_workdir(workdir, keep=args.keep_logs)


if __name__ == "__main__":
    sys.exit(main())

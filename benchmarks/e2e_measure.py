"""The end-to-end benchmark's measurements (benchmarks/e2e.py): the baselines (a bare DRF
endpoint, a no-op Celery task), the stack's backlog read from /metrics while a phase runs and
drains, the work it did (CPU, SQL statements, rows, WAL), and which phase each webhook
received belongs to, with its latency.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
import requests

from benchmarks.e2e_workload import Fleet, Load, PhaseLog
from benchmarks.stack import SQL_COUNT_KEY, Api, LocalStack, cpu_seconds, free_port, gunicorn_command, wait_http
from fleetmon_project.processes import ChildProcess
from fleetmon_project.receiver import ReceivedRequest

BARE_TELEMETRY_URL_PATH = "/bare/telemetry"  # benchmarks/common.py's urlpatterns
# /metrics runs a few COUNT queries and merges every process's samples: ~5 % of a web
# process at this interval; the drain times it measures are as precise.
PROBE_INTERVAL_S = 1.0


# --- The baselines ----------------------------------------------------------------------------------


class BaselineServer:
    """gunicorn serving only benchmarks/common.py's bare endpoint, configured like FleetMon's."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        port = free_port()
        # Its own metrics would land among the stack's samples: it has none worth reporting.
        env = {key: value for key, value in env.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
        self.process = ChildProcess(
            "baseline", gunicorn_command(port, "benchmarks.e2e_measure:baseline_application()"), env=env, log_dir=log_dir
        )
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
    """`gunicorn 'benchmarks.e2e_measure:baseline_application()'`: FleetMon's Django settings
    and middleware, serving only benchmarks/common.py's bare endpoint."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleetmon_project.settings")
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    django.setup()
    settings.ROOT_URLCONF = "benchmarks.common"
    return get_wsgi_application()


def bare_endpoint(load: Load, *, env: dict[str, str], log_dir: Path, duration: float) -> tuple[float, float]:
    """Points/s through the bare endpoint, the load's batches posted for `duration` seconds,
    and the CPU seconds its gunicorn spent per point."""
    with BaselineServer(env, log_dir) as bare:
        bare_group = {bare.process.popen.pid: "bare"}
        cpu_before = cpu_seconds(bare_group)["bare"]
        points, seconds = load.run_fixed_body(f"{bare.url}{BARE_TELEMETRY_URL_PATH}", duration=duration)
        cpu_per_point = (cpu_seconds(bare_group)["bare"] - cpu_before) / points
    return points / seconds, cpu_per_point


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


# --- Phases ---------------------------------------------------------------------------------------------


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
    deliveries: list[ReceivedRequest] = field(default_factory=list)
    latencies: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})  # batched? -> s

    @property
    def events_expected(self) -> int:
        return sum(self.log.expected.values())

    @property
    def events_received(self) -> int:
        return sum(len(d.event_keys) for d in self.deliveries)


def work_counters(stack: LocalStack) -> Counter[str]:
    """Machine-independent work counters, read so far: SQL statements sent (counted by the
    processes), rows written (pg_stat_user_tables of the stack's database) and WAL bytes (the
    whole server's: on a shared server, others' work too)."""
    totals: Counter[str] = Counter()
    totals["sql"] = int(redis.Redis.from_url(stack.config.broker_url).get(SQL_COUNT_KEY) or 0)
    with psycopg.connect(stack.database_url) as connection:
        row = connection.execute(
            "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_hot_upd), 0), "
            "coalesce(sum(n_tup_del), 0), pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') FROM pg_stat_user_tables"
        ).fetchone()
        points = connection.execute(
            "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables "
            "WHERE relname LIKE 'telemetry_telemetrypoint%%'"
        ).fetchone()
    assert row is not None and points is not None
    (totals["rows inserted"], totals["rows updated"], totals["rows updated in place"], totals["rows deleted"],
     totals["WAL bytes"]) = map(int, row)
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


def attribute(results: list[PhaseResult], received: list[ReceivedRequest], fleet: Fleet) -> Attribution:
    """Give each webhook to the phase whose points raised its events, and each event its
    latency: receipt minus when the point with its VIN and eventDate was POSTed."""
    batched = {mid: spec.batched for mid, spec in zip(fleet.monitor_ids, fleet.specs, strict=True)}
    unmatched = 0
    for delivery in received:
        owner: PhaseResult | None = None
        for key in delivery.event_keys:
            result = next((r for r in results if key in r.log.posted_at), None)
            if result is None:
                unmatched += 1
                continue
            owner = owner or result
            latency = delivery.received_at - result.log.posted_at[key]
            result.latencies[batched.get(delivery.monitor_id, False)].append(latency)
        if owner:
            owner.deliveries.append(delivery)
    webhook_ids = Counter(d.webhook_id for d in received)
    return Attribution(unmatched_events=unmatched, duplicate_webhooks=sum(n - 1 for n in webhook_ids.values()))

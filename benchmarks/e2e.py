"""End-to-end throughput and latency: telemetry in over HTTP, events stored, webhooks received.

    .venv/bin/python benchmarks/e2e.py [--duration 60] [--rate 1000] [--vehicles 1000] [--monitors 10]
                                       [--workers 2] [--concurrency 2] [--webhook-workers 1]
    .venv/bin/python benchmarks/e2e.py --url http://fleetmon:8000 --token KEY \\
                                       [--receiver-host 10.0.0.5] [--broker-url redis://redis:6379/0]

By default it starts the stack itself on loopback, with the production profile's processes:
a throwaway PostgreSQL database (created, migrated, dropped), Redis db 14 (flushed before and
after) as broker and cache, gunicorn on a free port, `--workers` Celery workers on the
evaluation, sweeps and default queues and `--webhook-workers` on webhooks (as `make run` and
docker-compose.yml do; with 0, the others take it too), one Beat, and FLEETMON_ALLOW_PRIVATE_WEBHOOKS=true so webhooks can reach the
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

This is the entry point; the workload is in benchmarks/e2e_workload.py, the measurements in
benchmarks/e2e_measure.py, the report in benchmarks/e2e_report.py, the stack in
benchmarks/stack.py.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repository's packages
from benchmarks.e2e_measure import Probe, attribute, bare_endpoint, celery_noop_rate, run_phase  # noqa: E402
from benchmarks.e2e_report import Baselines, LocalFigures, Report, print_report  # noqa: E402
from benchmarks.e2e_workload import BATCH_WINDOW_S, Fleet, Load, create_fleet  # noqa: E402
from benchmarks.stack import (  # noqa: E402
    COUNTING_SETTINGS,
    Api,
    LocalStack,
    StackConfig,
    StackHandle,
    ignore_interrupts,
    machine,
    release_workdir,
    unwind_on_signals,
)
from fleetmon_project.processes import EVALUATION_CONCURRENCY, WEBHOOK_CONCURRENCY  # noqa: E402
from fleetmon_project.receiver import WebhookReceiver  # noqa: E402

# Held for the whole run: a second local run would drop this one's database and flush its Redis db.
RUN_LOCK_KEY = 0x464D4532  # "FME2"


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
    parser.add_argument("--concurrency", type=int, default=EVALUATION_CONCURRENCY,
                        help="pool processes per Celery worker (local stack)")
    # As `make run` and docker-compose.yml: deliveries do not wait behind an evaluation backlog.
    # Its pool mostly waits on the receiver and PostgreSQL, so it adds little CPU to the four
    # evaluation processes.
    parser.add_argument("--webhook-workers", type=int, default=1,
                        help="Celery workers for the webhooks queue alone (local stack; 0: the other workers take it)")
    parser.add_argument("--webhook-concurrency", type=int, default=WEBHOOK_CONCURRENCY,
                        help="pool processes per webhooks worker")
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

    unwind_on_signals()

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
    # Keep-alive, as receivers in production: FleetMon's pooled connections are reused.
    receiver = WebhookReceiver(args.receiver_host, keep_alive=True)
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
            api, vehicles=args.vehicles, monitors=args.monitors, target=f"{receiver.url}/hook", clients=args.clients
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

        bare_points, bare_cpu_per_point = bare_endpoint(
            load, env=baseline_env, log_dir=workdir, duration=args.baseline_duration
        )
        print(f"baseline: bare DRF {bare_points:.0f} points/s", flush=True)
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
        attribution = attribute([warm, fixed, sustained], receiver.received(), fleet)
        deliveries = fleet.deliveries_by_state(api)
        runs = local.task_runs() if local else []
        rss_end = local.rss() if local else Counter()
        load_after = os.getloadavg()

        batched = sum(spec.batched for spec in fleet.specs)
        print_report(Report(
            stack=stack.description,
            machine=machine() | (local.versions() if local else {}),
            load_average=(load_before[0], load_after[0]),
            workload=f"{args.vehicles} vehicles, {args.monitors} monitors (zone/time/data, {batched} with batchNotify "
                     f"size 10 / {BATCH_WINDOW_S} s), {load.batch} points per POST from {args.clients} client threads",
            rate=args.rate,
            latency_duration=args.latency_duration,
            duration=args.duration,
            baselines=Baselines(bare_points=bare_points, bare_cpu_per_point=bare_cpu_per_point, noop_tasks=noop),
            fixed=fixed,
            sustained=sustained,
            local=LocalFigures(task_runs=runs, rss_after_warm_up=rss_warm, rss_at_end=rss_end) if local else None,
            deliveries=deliveries,
            attribution=attribution,
            problems=(local.problems() if local else []) + [f"probe: {e}" for e in probe.errors[:3]],
        ))
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    except RuntimeError as exc:  # what this script detected (a process not starting, the API refusing)
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        ignore_interrupts()
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

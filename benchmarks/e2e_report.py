"""The end-to-end benchmark's report (benchmarks/e2e.py): the figures it prints once every
phase is over."""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass

from benchmarks.e2e_measure import Attribution, PhaseResult
from benchmarks.e2e_workload import BATCH_WINDOW_S
from benchmarks.stack import TaskRun
from fleetmon_project.processes import GUNICORN_THREADS, GUNICORN_WORKERS


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
        last_webhook = max((d.received_at for d in result.deliveries), default=None)
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
          f"{work.get('rows updated', 0) * per:.0f} updated ({work.get('point rows updated', 0) * per:.0f} points; "
          f"{work.get('rows updated in place', 0) * per:.0f} of them in place), "
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



@dataclass(frozen=True)
class Baselines:
    bare_points: float  # points/s through the bare DRF endpoint
    bare_cpu_per_point: float  # CPU seconds of its gunicorn per point
    noop_tasks: float | None  # no-op Celery tasks/s; None: not measured (no broker to reach)


@dataclass(frozen=True)
class LocalFigures:
    """What only a stack started by the benchmark shows: its processes' logs and memory."""

    task_runs: list[TaskRun]
    rss_after_warm_up: Counter[str]
    rss_at_end: Counter[str]


@dataclass(frozen=True)
class Report:
    stack: str  # what ran, and how it was started
    machine: dict[str, str]
    load_average: tuple[float, float]  # 1 min, before and after the run
    workload: str
    rate: float
    latency_duration: float
    duration: float
    baselines: Baselines
    fixed: PhaseResult
    sustained: PhaseResult
    local: LocalFigures | None
    deliveries: Counter[str]  # by state, from the API at the end
    attribution: Attribution
    problems: list[str]


def print_report(report: Report) -> None:
    baselines, local = report.baselines, report.local
    print("\n=== FleetMon end-to-end benchmark ===")
    print(f"stack: {report.stack}")
    print("machine: " + ", ".join(f"{key} {value}" for key, value in report.machine.items()))
    print(f"load average (1 min) before {report.load_average[0]:.2f}, after {report.load_average[1]:.2f}")
    print(f"workload: {report.workload}")
    print("\nbaselines, same run")
    print(f"  bare DRF endpoint validating the same batches  {baselines.bare_points:8.0f} points/s   "
          f"(HTTP, gunicorn {GUNICORN_WORKERS}x{GUNICORN_THREADS}, benchmarks/common.py); "
          f"{baselines.bare_cpu_per_point * 1000:.3f} ms CPU per point")
    noop = baselines.noop_tasks
    print("  no-op Celery task round trip                   "
          + (f"{noop:8.0f} tasks/s    (celery.accumulate, same broker and workers)" if noop else "not measured (no --broker-url)"))
    print(f"\nfixed rate: {report.rate:.0f} points/s for {report.latency_duration:.0f} s, then drained")
    print_fixed(report.fixed)
    if local:
        print_cpu(report.fixed)
        print_worker_time(report.fixed, local.task_runs)
        print_work(report.fixed, local.task_runs)
    print(f"\nsustained: {report.duration:.0f} s posting as fast as accepted, then drained")
    print_sustained(report.sustained, baseline_points=baselines.bare_points, noop_tasks=noop)
    if local:
        print_cpu(report.sustained)
        print_cpu_per_point(report.sustained, baselines.bare_cpu_per_point)
        print_worker_time(report.sustained, local.task_runs)
        print_work(report.sustained, local.task_runs)
        print_rss(local.rss_after_warm_up, local.rss_at_end)
    print(f"\ndeliveries at the end (API): {dict(report.deliveries)}; received events matching no posted point: "
          f"{report.attribution.unmatched_events}; duplicate webhook-ids: {report.attribution.duplicate_webhooks}")
    for problem in report.problems:
        print(f"!! {problem}")

"""The whole FleetMon service on loopback, for the end-to-end benchmark (benchmarks/e2e.py)
and the chaos suite (benchmarks/chaos.py): gunicorn, Celery workers and Beat in their own
process groups, started as `make run` starts them (fleetmon_project/processes.py), against a
throwaway database; an API client; what a run reads from the machine (CPU, memory). Both pair
it with the webhook receiver the tests use (fleetmon_project/receiver.py). Every address is
loopback; `LocalStack.close()` undoes everything it made."""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

from fleetmon_project.brokers import drop_all_messages, is_redis
from fleetmon_project.processes import (
    BEAT_READY,
    EVALUATION_QUEUES,
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
    QUEUES,
    REPO,
    WORKER_READY,
    WSGI_APPLICATION,
    ChildProcess,
    beat_command,
    stop_all,
    web_command,
    worker_command,
)

# FleetMon's settings plus a count of the SQL statements each process sends, added up in
# Redis under SQL_COUNT_KEY (benchmarks/counting_settings.py): StackConfig.settings_module.
COUNTING_SETTINGS = "benchmarks.counting_settings"
SQL_COUNT_KEY = "e2e:sql-statements"
VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"  # ISO 3779: no I, O, Q


def rfc3339_ms(moment: datetime) -> str:
    """UTC with milliseconds and a Z: the form FleetMon's webhooks carry eventDate in."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(groups: dict[int, str], database: str | None = None) -> Counter[str]:
    """CPU seconds used so far by every process on the machine, by group: ours by process
    group (`groups`), PostgreSQL, Redis, this script, and everything else. Children's time
    is included (cutime/cstime), so a PostgreSQL backend that exits still counts, through
    the postmaster. With `database`, the live PostgreSQL backends serving it count as
    PostgreSQL (their process title names it); the server's other processes, which on a
    shared server also work for others, go to "PostgreSQL, shared", and so does the time of
    our backends that exited (persistent connections are replaced after
    DATABASE_CONN_MAX_AGE): only on a shared server is the split worth reading."""
    totals: Counter[str] = Counter()
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime
        if int(entry.name) == me:
            totals["benchmark"] += seconds
        elif int(fields[2]) in groups:
            totals[groups[int(fields[2])]] += seconds
        elif command.startswith("postgres"):
            if database is None or f" {database} " in _cmdline(entry.path):
                totals["PostgreSQL"] += seconds
            else:
                totals["PostgreSQL, shared"] += seconds
        elif command.startswith("redis-server"):
            totals["Redis"] += seconds
        else:
            totals["other"] += seconds
    return totals


def _cmdline(proc_path: str) -> str:
    try:
        return Path(proc_path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def rss_by_group(groups: dict[int, str]) -> Counter[str]:
    """Resident memory (MiB) of the processes in `groups` (process group -> name), children included."""
    totals: Counter[str] = Counter()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        group = groups.get(int(stat[stat.rindex(")") + 2 :].split()[2]))
        if group is None:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                totals[group] += int(line.split()[1]) / 1024
    return totals


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_http(url: str, status: int, timeout: float, process: ChildProcess) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=2).status_code == status:
                return
        except requests.RequestException:
            pass
        if process.popen.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.name} did not answer {url}:\n{process.log()[-3000:]}")
        time.sleep(0.2)


def gunicorn_command(port: int, app: str = WSGI_APPLICATION) -> list[str]:
    """gunicorn as `make run` starts it, but quicker to stop and without an access log (a line
    written per request would be measured too)."""
    return web_command(port=port, app=app, access_log=False, graceful_timeout=5)


_TASK_SUCCEEDED = re.compile(
    r"^(?P<at>\S+ \S+) INFO celery\.app\.trace Task (?P<name>[\w.]+)\[[^\]]+\] succeeded in (?P<seconds>[\d.e-]+)s",
    re.MULTILINE,
)


@dataclass(frozen=True)
class TaskRun:
    finished: float  # time.time()
    name: str
    seconds: float


@dataclass
class StackHandle:
    base_url: str
    token: str
    broker_url: str | None
    metrics_headers: dict[str, str]
    description: str


@dataclass(frozen=True)
class StackConfig:
    admin_url: str  # a PostgreSQL connection allowed to create and drop `database`
    database: str
    broker_url: str  # Redis or RabbitMQ; its queued messages are dropped before and after
    cache_url: str  # "" for each process's own memory
    workers: int
    concurrency: int
    env: dict[str, str]  # added to every process's environment (timings, leases)
    worker_env: dict[str, str]  # added to the workers' only
    # An advisory lock held for the whole run on `admin_url`'s server: a second run with the
    # same database name would drop this one's database.
    lock_key: int
    name: str = "stack"
    # Workers of their own for the webhooks queue, as the production profile runs; with none,
    # the `workers` consume it too.
    webhook_workers: int = 0
    webhook_concurrency: int = 2
    settings_module: str = "fleetmon_project.settings"  # or COUNTING_SETTINGS

    @property
    def queues(self) -> tuple[str, ...]:
        """What the `workers` consume."""
        return EVALUATION_QUEUES if self.webhook_workers else QUEUES


class LocalStack:
    """The whole service on loopback against a throwaway database, with the production
    profile's processes; `close()` undoes everything, whatever state it got to."""

    def __init__(self, config: StackConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.admin_url = config.admin_url
        self.database = config.database
        self.database_url = urlunsplit(urlsplit(config.admin_url)._replace(path=f"/{self.database}"))
        self.processes: list[ChildProcess] = []
        self.database_created = False
        self.run_lock: psycopg.Connection | None = None
        self.workers_started = 0
        self.base_url = ""
        metrics_dir = workdir / "prometheus"
        metrics_dir.mkdir()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": config.settings_module,
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": config.broker_url,
            "CACHE_URL": config.cache_url,  # Redis in the production profile: throttle counters shared
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FLEETMON_DATA_DIR": str(workdir),  # keeps var/ of the repository untouched
            "FLEETMON_ALLOW_PRIVATE_WEBHOOKS": "true",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "DEBUG": "false",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **config.env,
        }

    def _admin_execute(self, statement: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(statement)

    def versions(self) -> dict[str, str]:
        with psycopg.connect(self.admin_url) as connection:
            row = connection.execute("SHOW server_version").fetchone()
        found = {"PostgreSQL": str(row[0]) if row else "?"}
        if is_redis(self.config.broker_url):
            import redis

            found["Redis"] = str(redis.Redis.from_url(self.config.broker_url).info("server")["redis_version"])
        return found

    def _manage(self, *command: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
        return result.stdout

    def start(self) -> StackHandle:
        self.run_lock = psycopg.connect(self.admin_url, autocommit=True)
        locked = self.run_lock.execute("SELECT pg_try_advisory_lock(%s)", (self.config.lock_key,)).fetchone()
        if not locked or not locked[0]:
            self.run_lock.close()
            self.run_lock = None
            raise RuntimeError(f"another {self.config.name} run is using this PostgreSQL; wait for it to finish")
        drop_all_messages(self.config.broker_url)
        self._admin_execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        self._admin_execute(f'CREATE DATABASE "{self.database}"')
        self.database_created = True
        self._manage("migrate", "--noinput")
        self._manage("createsuperuser", "--noinput", "--username", "e2e", "--email", "e2e@example.com")
        token = re.search(r"Generated token (\w+)", self._manage("drf_create_token", "e2e"))
        if token is None:
            raise RuntimeError("drf_create_token printed no token")

        port = free_port()
        web = ChildProcess("web", gunicorn_command(port), env=self.env, log_dir=self.workdir)
        self.processes.append(web)
        workers = [self.spawn_worker() for _ in range(self.config.workers)]
        workers += [
            self._spawn_celery_worker(f"webhooks{number}", ("webhooks",), self.config.webhook_concurrency)
            for number in range(1, self.config.webhook_workers + 1)
        ]
        beat = self.spawn_beat()
        self.base_url = f"http://127.0.0.1:{port}"
        wait_http(f"{self.base_url}/readyz", 200, 60, web)
        for worker in workers:
            worker.wait_for_log(WORKER_READY, 60)
        beat.wait_for_log(BEAT_READY, 60)
        return StackHandle(
            base_url=self.base_url,
            token=token.group(1),
            broker_url=self.config.broker_url,
            metrics_headers={},
            description=(
                f"started by {self.config.name}: gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads, "
                f"{self.config.workers} Celery worker(s) x {self.config.concurrency} processes on {','.join(self.config.queues)}, "
                + (f"{self.config.webhook_workers} x {self.config.webhook_concurrency} on webhooks, "
                   if self.config.webhook_workers else "")
                + "1 Beat; "
                f"PostgreSQL database {self.database}, broker {self.config.broker_url}"
            ),
        )

    def spawn_worker(self) -> ChildProcess:
        """One more Celery worker on `config.queues` (started; wait for WORKER_READY in its log)."""
        self.workers_started += 1
        return self._spawn_celery_worker(f"worker{self.workers_started}", self.config.queues, self.config.concurrency)

    def _spawn_celery_worker(self, name: str, queues: tuple[str, ...], concurrency: int) -> ChildProcess:
        worker = ChildProcess(
            name,
            worker_command(concurrency=concurrency, queues=queues, node=f"e2e-{name}@%h"),
            env={**self.env, **self.config.worker_env},
            log_dir=self.workdir,
        )
        self.processes.append(worker)
        return worker

    def spawn_beat(self) -> ChildProcess:
        beat = ChildProcess("beat", beat_command(state_dir=self.workdir), env=self.env, log_dir=self.workdir)
        self.processes.append(beat)
        return beat

    def workers(self) -> list[ChildProcess]:
        """The workers on `config.queues` still running (not the webhooks workers)."""
        return [p for p in self.processes if p.name.startswith("worker") and p.popen.poll() is None]

    def _groups(self) -> dict[int, str]:
        """Process group -> "API", "workers", "webhooks", "beat"."""
        return {p.popen.pid: "API" if p.name == "web" else re.sub(r"s?\d+$", "s", p.name) for p in self.processes}

    def cpu(self) -> Counter[str]:
        """CPU seconds so far by group (cpu_seconds), PostgreSQL's being our database's backends'."""
        return cpu_seconds(self._groups(), self.database)

    def rss(self) -> Counter[str]:
        return rss_by_group(self._groups())

    def task_runs(self) -> list[TaskRun]:
        """Every task the workers ran, from celery.app.trace's INFO line for each success."""
        runs = []
        for process in self.processes:
            if process.name.startswith(("worker", "webhooks")):
                for match in _TASK_SUCCEEDED.finditer(process.log()):
                    finished = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time
                    runs.append(TaskRun(finished=finished, name=match["name"], seconds=float(match["seconds"])))
        return runs

    def problems(self) -> list[str]:
        """Errors the service logged: a benchmark of a failing service measures nothing."""
        found = []
        for process in self.processes:
            lines = [line for line in process.log().splitlines() if " ERROR " in line or line.startswith("Traceback")]
            if lines:
                found.append(f"{process.name}: {len(lines)} error line(s), first: {lines[0][:300]}")
        return found

    def close(self) -> None:
        if self.run_lock is None:
            return  # never started: what exists belongs to the run holding the lock
        stop_all(self.processes)
        if self.database_created:
            self._admin_execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        drop_all_messages(self.config.broker_url)
        self.run_lock.close()  # releases the advisory lock


# --- The API client -------------------------------------------------------------------------------


class Api:
    """Token-authenticated JSON calls; one requests.Session per thread (they are not thread-safe)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers.update(self.headers)
        return self.local.session

    def call(self, method: str, path: str, body: Any = None, expect: Iterable[int] = (200,)) -> Any:
        response = self.session().request(
            method, f"{self.base_url}{path}", data=None if body is None else json.dumps(body), timeout=60
        )
        if response.status_code not in tuple(expect):
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:1000]}")
        return response.json() if response.content else None

    def total(self, path: str) -> int:
        return int(self.call("GET", f"{path}{'&' if '?' in path else '?'}pageSize=1")["total"])

    def create_fleet(self, label: str, *, vehicles: int, threads: int) -> tuple[str, list[str]]:
        """A fleet with `vehicles` vehicles (created from `threads` threads): its id and their
        VINs. VINs are unique across the whole service: a random prefix per run lets runs
        share a stack."""
        fleet_id = self.call("POST", "/api/v1/fleets", {"label": label}, expect=(201,))["id"]
        prefix = "VF3" + "".join(secrets.choice(VIN_ALPHABET) for _ in range(5))
        vins = [f"{prefix}{n:09d}" for n in range(vehicles)]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(
                lambda vin: self.call("POST", f"/api/v1/fleets/{fleet_id}/vehicles", {"vin": vin}, expect=(201,)), vins
            ))
        return fleet_id, vins




def machine() -> dict[str, str]:
    cpu = "?"
    memory = "?"
    try:
        cpu = next(
            line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")))
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        pass
    return {
        "CPUs": str(os.cpu_count()),
        "CPU": cpu,
        "memory": memory,
        "Python": platform.python_version(),
        "OS": platform.platform(),
    }


def unwind_on_signals() -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C, through the `finally` that cleans up (under
    nohup, SIGHUP stays ignored)."""

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, interrupt)


def ignore_interrupts() -> None:
    """For the cleanup: a second Ctrl-C must not cut it short and leave processes or a database behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def release_workdir(workdir: Path, *, keep: bool) -> None:
    """The run's logs and data: kept for a post-mortem when asked, removed otherwise."""
    if keep:
        print(f"logs kept in {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)

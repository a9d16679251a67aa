"""FleetMon's processes as every runner starts them: `make run` (fleetmon_project/runstack.py),
the end-to-end tests (tests/e2e_support.py) and the benchmarks (benchmarks/stack.py).

The command lines of the API (gunicorn), a Celery worker and Beat, the queues the workers
consume, and a child process that is stopped, or killed, together with its own children. One
place, so that what the tests and benchmarks exercise is what `make run` runs. It imports
neither Django nor anything from tests/ or benchmarks/: `make run` starts Django only in its
children.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Every queue CELERY_TASK_ROUTES and CELERY_BEAT_SCHEDULE (settings.py) send tasks to, and
# the default one: a worker consuming them all runs every task. brokers.py measures and drops
# these; docker-compose.yml's worker and webhooks services list them too (test_processes.py
# checks both).
QUEUES = ("evaluation", "webhooks", "sweeps", "default")
# What the other workers consume when the webhooks queue has workers of its own (the
# production profile, `make run` and docker-compose.yml), so that deliveries do not wait
# behind an evaluation backlog.
EVALUATION_QUEUES = tuple(queue for queue in QUEUES if queue != "webhooks")
WEBHOOK_QUEUES = ("webhooks",)
# Pool processes of each worker as `make run` starts them (the benchmark's defaults too).
# Evaluation is CPU-bound: two processes per two cores, as before. A webhook task mostly
# waits (on the receiver, on PostgreSQL), so its worker's pool is small but not one: a
# receiver that takes its read timeout to answer holds one process, not every delivery.
EVALUATION_CONCURRENCY = 2
WEBHOOK_CONCURRENCY = 2

WSGI_APPLICATION = "fleetmon_project.wsgi:application"
GUNICORN_WORKERS, GUNICORN_THREADS = 2, 4
# Seconds gunicorn keeps an idle connection open: longer than a proxy keeps its idle
# connections to it (deploy/nginx's upstream keepalive_timeout, 60 s). With gunicorn's default
# of 2 s, a request sent on a connection at the instant gunicorn closes it gets no answer; a
# client may retry, but nginx does not retry a POST and answers 502.
GUNICORN_KEEPALIVE_S = 75
BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# What each process logs once it is ready to work.
WORKER_READY = "ready."
BEAT_READY = "beat: Starting..."
STOP_GRACE_S = 15


def web_command(*, port: int | str, app: str = WSGI_APPLICATION, access_log: bool, graceful_timeout: int = 10) -> list[str]:
    """gunicorn serving `app` on 127.0.0.1:`port`; `access_log` to its standard output."""
    command = [
        sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}",
        "--workers", str(GUNICORN_WORKERS), "--threads", str(GUNICORN_THREADS),
        "--keep-alive", str(GUNICORN_KEEPALIVE_S), "--graceful-timeout", str(graceful_timeout),
    ]
    return [*command, "--access-logfile", "-"] if access_log else command


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "fleetmon_project", *args]


def worker_command(
    *, concurrency: int, queues: Sequence[str] = QUEUES, node: str | None = None, standalone: bool = False
) -> list[str]:
    """A Celery worker on `queues` with `concurrency` pool processes, named `node` (Celery's
    default: celery@host). `standalone`: no gossip or mingle with the other workers, which
    saves a test's worker the second it would wait at start for their replies."""
    command = _celery("worker", "-Q", ",".join(queues), "--concurrency", str(concurrency), "--loglevel", "INFO")
    if node:
        command += ["-n", node]
    if standalone:
        command += ["--without-gossip", "--without-mingle"]
    return command


def beat_command(*, state_dir: Path | None = None) -> list[str]:
    """Celery Beat on the database schedule. With `state_dir`, no pid file and its schedule
    file there: the repository stays untouched (without, both land in the working directory)."""
    command = _celery("beat", "--loglevel", "INFO", "--scheduler", BEAT_SCHEDULER)
    if state_dir is not None:
        command += ["--pidfile=", "-s", str(state_dir / "beat-schedule")]
    return command


class ChildProcess:
    """A process started from the repository. With `log_dir`, its output goes to
    `<log_dir>/<name>.log` and it runs in a process group of its own: Ctrl-C in the terminal
    reaches only its parent, which stops it, and killing it kills its own children (gunicorn's
    and Celery's pool processes) too. Without, it shares the terminal, and Ctrl-C, with us."""

    def __init__(self, name: str, args: Sequence[str], *, env: Mapping[str, str], log_dir: Path | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log" if log_dir else None
        self.own_group = log_dir is not None
        if self.log_path is None:
            self.popen = subprocess.Popen(args, cwd=REPO, env=env)
        else:
            with self.log_path.open("ab") as log:
                self.popen = subprocess.Popen(
                    args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def wait_for_log(self, marker: str, timeout: float) -> None:
        """Until `marker` is in the log; RuntimeError, with the log's end, if the process exits
        or `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while marker not in self.log():
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL, with the whole group when it has its own (the main process and its pool),
        as a crashed machine would."""
        try:
            if self.own_group:
                os.killpg(self.popen.pid, signal.SIGKILL)
            else:
                self.popen.kill()
        except ProcessLookupError:
            pass  # gone already
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        stop_all([self])


def stop_all(processes: Iterable[ChildProcess], *, grace: float = STOP_GRACE_S) -> None:
    """SIGTERM to each process (the leader only: gunicorn and Celery then shut their own
    children down cleanly, where a pool child signalled mid-task would log a WorkerLostError),
    `grace` seconds for all of them to exit, then SIGKILL for what is left of each."""
    processes = list(processes)
    for process in processes:
        if process.popen.poll() is None:
            process.popen.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        process.kill()  # with its own group: a child its leader left behind, too

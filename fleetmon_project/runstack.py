"""`make run`: the API + admin (gunicorn), a Celery worker for evaluation and sweeps, one for
webhooks, and one Celery Beat, in the foreground; Ctrl-C or SIGTERM stops them all, and if one
dies the others are stopped too."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from fleetmon_project.processes import (
    EVALUATION_CONCURRENCY,
    EVALUATION_QUEUES,
    REPO,
    WEBHOOK_CONCURRENCY,
    WEBHOOK_QUEUES,
    ChildProcess,
    beat_command,
    stop_all,
    web_command,
    worker_command,
)


def _commands(port: str) -> dict[str, list[str]]:
    return {
        "web": web_command(port=port, access_log=True),
        # Named apart: two workers on one host under Celery's default name would clash.
        "worker": worker_command(concurrency=EVALUATION_CONCURRENCY, queues=EVALUATION_QUEUES, node="worker@%h"),
        "webhooks": worker_command(concurrency=WEBHOOK_CONCURRENCY, queues=WEBHOOK_QUEUES, node="webhooks@%h"),
        "beat": beat_command(),
    }


def _banner(port: str) -> str:
    base = f"http://127.0.0.1:{port}"
    return "\n".join(
        [
            "",
            "FleetMon is starting:",
            f"  API        {base}/api/v1/fleets",
            f"  API docs   {base}/api/docs   (schema: {base}/api/schema)",
            f"  Admin      {base}/admin/     (create a user: .venv/bin/python manage.py createsuperuser)",
            f"  Health     {base}/healthz  {base}/readyz  metrics: {base}/metrics",
            "  API token  .venv/bin/python manage.py drf_create_token <username>",
            f"  Try        curl -H 'Authorization: Token <token>' {base}/api/v1/fleets",
            "  Stellantis .venv/bin/python manage.py create_api_client <username>   (Basic + client_id)",
            f"             curl -u <username>:<secret> '{base}/api/v1/fleets?client_id=<client_id>'",
            "  Stop       Ctrl-C",
            "",
        ]
    )


def _multiprocess_metrics_env() -> dict[str, str]:
    """Web and worker processes share their Prometheus samples through one fresh directory."""
    from fleetmon_project.env import env_str

    metrics_dir = Path(env_str("FLEETMON_DATA_DIR", str(REPO / "var"))) / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}


def supervise(commands: Mapping[str, list[str]], env: Mapping[str, str]) -> int:
    """Run `commands` (name -> command line) until SIGINT or SIGTERM, or until one exits: then
    stop the others. The exit code is that of the one that exited (1 for a clean exit), or 0."""
    processes = [ChildProcess(name, command, env=env) for name, command in commands.items()]
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    while not stopping:
        for process in processes:
            if process.popen.poll() is not None:
                print(f"{process.name} exited with code {process.popen.returncode}; stopping the others", file=sys.stderr)
                exit_code = process.popen.returncode or 1
                stopping = True
        time.sleep(0.5)
    stop_all(processes)
    return exit_code


def main() -> int:
    port = os.environ.get("PORT", "8000")
    if not port.isdigit():
        print(f"PORT={port!r} is not a port number", file=sys.stderr)
        return 2
    print(_banner(port), flush=True)
    exit_code = supervise(_commands(port), _multiprocess_metrics_env())
    print("FleetMon stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

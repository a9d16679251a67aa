"""`make run`: the API + admin (gunicorn), one Celery worker and one Celery Beat, in the
foreground; Ctrl-C or SIGTERM stops all three, and if one dies the others are stopped too."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

STOP_GRACE_S = 15


def _commands(port: str) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "web": [
            python, "-m", "gunicorn", "fleetmon_project.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
            "--access-logfile", "-", "--graceful-timeout", "10",
        ],
        "worker": [
            python, "-m", "celery", "-A", "fleetmon_project", "worker",
            "-Q", "evaluation,webhooks,sweeps,default", "--concurrency", "2", "--loglevel", "INFO",
        ],
        "beat": [
            python, "-m", "celery", "-A", "fleetmon_project", "beat", "--loglevel", "INFO",
            "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
        ],
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

    metrics_dir = Path(env_str("FLEETMON_DATA_DIR", str(Path(__file__).resolve().parent.parent / "var"))) / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}


def main() -> int:
    port = os.environ.get("PORT", "8000")
    if not port.isdigit():
        print(f"PORT={port!r} is not a port number", file=sys.stderr)
        return 2
    print(_banner(port), flush=True)
    env = _multiprocess_metrics_env()
    processes = {name: subprocess.Popen(cmd, env=env) for name, cmd in _commands(port).items()}
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with code {process.returncode}; stopping the others", file=sys.stderr)
                exit_code = process.returncode or 1
                stopping = True
        time.sleep(0.5)

    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    print("FleetMon stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

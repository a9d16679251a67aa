"""End-to-end fixtures: real Celery worker and Beat processes on a real broker and the test
PostgreSQL database, and a real HTTP receiver on loopback.

`live_celery` is parametrised by broker: every test using it runs once on each broker
tests/backends.py chose (FLEETMON_E2E_BROKERS: Redis and RabbitMQ), and is skipped when there
is none (a developer laptop without either); CI requires both, so there they always run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.db import connection

from fleetmon_project.brokers import drop_all_messages, is_amqp, is_redis, transport_options

REPO = Path(__file__).resolve().parents[1]
WORKER_QUEUES = "evaluation,webhooks,sweeps,default"


def wait_for(condition: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, message: str = "") -> Any:
    """Poll until `condition()` is truthy and return its value; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message or condition}")
        time.sleep(interval)


def _e2e_brokers() -> list[str]:
    listed = os.environ.get("FLEETMON_E2E_BROKERS")
    if listed is None:  # pytest run directly: the broker of the settings, if it is a real one
        listed = os.environ.get("CELERY_BROKER_URL", "")
    return [url for url in listed.split() if is_redis(url) or is_amqp(url)] or [""]


def _broker_id(url: str) -> str:
    return "redis" if is_redis(url) else "rabbitmq" if is_amqp(url) else "no-broker"


def use_broker(url: str) -> None:
    """Point this process's Celery app (the test client enqueues for real) at `url`: new
    connection and producer pools, the transport options the settings give that broker."""
    from fleetmon_project.celery import app

    app.conf.broker_url = url
    app.conf.broker_transport_options = transport_options(url, visibility_timeout=settings.CELERY_VISIBILITY_TIMEOUT)
    # kombu keeps one pool per broker URL for the process: dropping the app's references picks
    # the new broker's, and switching back finds the old one still open.
    app._pool = None
    app.amqp._producer_pool = None


def _process_env(**extra: str) -> dict[str, str]:
    db = connection.settings_dict
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}{port}/{db['NAME']}",
            "CELERY_BROKER_URL": _current_broker(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "FLEETMON_ALLOW_PRIVATE_WEBHOOKS": "true",
            "FLEETMON_SWEEP_INTERVAL": "1",
            "FLEETMON_DATA_DIR": str(settings.DATA_DIR),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class CeleryProcess:
    """A worker or Beat subprocess whose output goes to a log file for post-mortems."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self, *, ready_marker: str | None, timeout: float = 60.0) -> CeleryProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "fleetmon_project", *self.args],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if ready_marker:
            wait_for(
                lambda: ready_marker in self.log() or self.process.poll() is not None,
                timeout=timeout,
                message=f"{self.name} to start",
            )
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited at start:\n{self.log()[-4000:]}")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crashed machine would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class CeleryCluster:
    """Starts workers/Beat on demand; stops them all at teardown, before the database is flushed."""

    log_dir: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    processes: list[CeleryProcess] = field(default_factory=list)

    def worker(self, *, name: str | None = None, concurrency: int = 1, **env: str) -> CeleryProcess:
        name = name or f"worker{len(self.processes) + 1}"
        args = [
            "worker", "-Q", WORKER_QUEUES, "--concurrency", str(concurrency), "--pool", "prefork",
            "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--loglevel", "INFO",
        ]
        process = CeleryProcess(name, args, _process_env(**{**self.env_overrides, **env}), self.log_dir)
        self.processes.append(process)
        return process.start(ready_marker="ready.")

    def beat(self, **env: str) -> CeleryProcess:
        schedule = self.log_dir / "beat-schedule"
        args = ["beat", "--loglevel", "INFO", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                "--pidfile", "", "-s", str(schedule)]
        process = CeleryProcess("beat", args, _process_env(**{**self.env_overrides, **env}), self.log_dir)
        self.processes.append(process)
        return process.start(ready_marker="beat: Starting...")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"===== {p.name} =====\n{p.log()[-6000:]}" for p in self.processes)


def _current_broker() -> str:
    from fleetmon_project.celery import app

    return app.conf.broker_url


def flush_broker() -> None:
    """Lose every queued message (the broker of the running end-to-end test)."""
    drop_all_messages(_current_broker())


@pytest.fixture(params=_e2e_brokers(), ids=_broker_id)
def live_celery(transactional_db, tmp_path, request) -> Iterator[CeleryCluster]:
    """`live_celery.worker()` / `live_celery.beat()` start real processes against the test DB,
    on the broker of this parametrisation.

    The in-process code (API calls made through the test client) enqueues for real too.
    """
    if not request.param:
        pytest.skip("end-to-end tests need a real broker: Redis or RabbitMQ (see tests/backends.py)")
    from fleetmon_project.celery import app

    use_broker(request.param)
    flush_broker()
    app.conf.task_always_eager = False
    cluster = CeleryCluster(log_dir=tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop()
        flush_broker()
        app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
        use_broker(settings.CELERY_BROKER_URL)
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(cluster.logs())


@dataclass
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records requests and answers as scripted."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.responses: list[tuple[int, float]] = []  # (status, delay) consumed in order
        self.default_status = 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                with receiver.lock:
                    status, delay = receiver.responses.pop(0) if receiver.responses else (receiver.default_status, 0.0)
                if delay:
                    time.sleep(delay)
                with receiver.lock:
                    receiver.requests.append(
                        ReceivedRequest(
                            method="POST",
                            path=parts.path,
                            query=parse_qs(parts.query),
                            headers={k.lower(): v for k, v in self.headers.items()},
                            body=body,
                            received_at=time.monotonic(),
                        )
                    )
                payload = b'{"ok": true}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, *responses: int | tuple[int, float]) -> None:
        with self.lock:
            self.responses = [r if isinstance(r, tuple) else (r, 0.0) for r in responses]

    def received(self) -> list[ReceivedRequest]:
        with self.lock:
            return list(self.requests)

    def events(self) -> list[dict[str, Any]]:
        return [event for request in self.received() for event in request.json().get("events", [])]


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001 - pytest hook
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)

"""End-to-end fixtures: real Celery worker and Beat processes on a real broker and the test
PostgreSQL database, and a real HTTP receiver on loopback.

`live_celery` is parametrised by broker: every test using it runs once on each broker
tests/backends.py chose (FLEETMON_E2E_BROKERS: Redis and RabbitMQ), and is skipped when there
is none (a developer laptop without either); CI requires both, so there they always run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from fleetmon_project.brokers import drop_all_messages, is_amqp, is_redis, transport_options
from fleetmon_project.processes import (
    BEAT_READY,
    WORKER_READY,
    ChildProcess,
    beat_command,
    stop_all,
    worker_command,
)
from fleetmon_project.receiver import WebhookReceiver


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


@dataclass
class CeleryCluster:
    """Starts workers/Beat on demand, as `make run` does (fleetmon_project/processes.py), with
    their output in `log_dir`; stops them all at teardown, before the database is flushed."""

    log_dir: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    processes: list[ChildProcess] = field(default_factory=list)

    def _start(self, name: str, command: list[str], env: dict[str, str], ready_marker: str) -> ChildProcess:
        process = ChildProcess(name, command, env=_process_env(**{**self.env_overrides, **env}), log_dir=self.log_dir)
        self.processes.append(process)
        try:
            process.wait_for_log(ready_marker, timeout=60)
        except RuntimeError as exc:
            pytest.fail(str(exc))
        return process

    def worker(self, *, name: str | None = None, concurrency: int = 1, **env: str) -> ChildProcess:
        name = name or f"worker{len(self.processes) + 1}"
        command = worker_command(concurrency=concurrency, node=f"{name}@%h", standalone=True)
        return self._start(name, command, env, WORKER_READY)

    def beat(self, **env: str) -> ChildProcess:
        return self._start("beat", beat_command(state_dir=self.log_dir), env, BEAT_READY)

    def stop(self) -> None:
        stop_all(self.processes)

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


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A real HTTP server on 127.0.0.1 that records requests and answers as scripted."""
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001 - pytest hook
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def alive(pid: int) -> bool:
    """Running: a zombie (dead, not reaped yet by whoever inherited it) is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"

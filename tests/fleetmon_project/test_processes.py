from __future__ import annotations

import http.client
import json
import os
import re
import socket
import sys
import time

import pytest
import yaml
from django.conf import settings

from fleetmon_project.processes import (
    EVALUATION_QUEUES,
    GUNICORN_KEEPALIVE_S,
    QUEUES,
    REPO,
    WEBHOOK_QUEUES,
    ChildProcess,
    beat_command,
    stop_all,
    web_command,
    worker_command,
)
from tests.e2e_support import alive, wait_for


def test_the_workers_consume_every_queue_a_task_is_sent_to():
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    scheduled = {entry["options"]["queue"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert routed | scheduled | {settings.CELERY_TASK_DEFAULT_QUEUE} == set(QUEUES)
    assert set(EVALUATION_QUEUES) == set(QUEUES) - {"webhooks"}


def test_docker_compose_runs_a_worker_for_evaluation_and_one_for_webhooks_on_every_queue():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())

    def queues(service: str) -> str:
        command = compose["services"][service]["command"]
        return command[command.index("-Q") + 1]

    assert queues("worker") == ",".join(EVALUATION_QUEUES)
    assert queues("webhooks") == ",".join(WEBHOOK_QUEUES)
    assert set(EVALUATION_QUEUES) | set(WEBHOOK_QUEUES) == set(QUEUES)


def test_beat_given_a_state_directory_keeps_its_files_there(tmp_path):
    command = beat_command(state_dir=tmp_path)
    assert "--pidfile=" in command
    assert command[command.index("-s") + 1] == str(tmp_path / "beat-schedule")


def test_a_test_worker_is_named_and_skips_gossip_and_mingle():
    command = worker_command(concurrency=1, queues=("webhooks",), node="w1@%h", standalone=True)
    assert command[command.index("-Q") + 1] == "webhooks"
    assert command[command.index("-n") + 1] == "w1@%h"
    assert {"--without-gossip", "--without-mingle"} <= set(command)


# A leader that leaves a child behind which ignores SIGTERM, in its group: only SIGKILL of the
# group ends that one.
STUBBORN = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('child up', flush=True); time.sleep(120)"])
print(f"child {child.pid}", flush=True)
time.sleep(120)
"""


def test_stop_all_kills_what_sigterm_leaves_behind_in_the_group(tmp_path):
    process = ChildProcess("stubborn", [sys.executable, "-c", STUBBORN], env=os.environ, log_dir=tmp_path)
    process.wait_for_log("child up", timeout=20)
    child = int(next(line.split()[1] for line in process.log().splitlines() if line.startswith("child ")))

    stop_all([process], grace=2)

    assert process.popen.returncode is not None
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)  # reaped by init once its parent is gone
    assert not alive(child)


def test_waiting_for_a_log_line_fails_with_the_log_when_the_process_exits(tmp_path):
    process = ChildProcess(
        "quitter", [sys.executable, "-c", "print('cannot start'); raise SystemExit(1)"], env=os.environ, log_dir=tmp_path
    )
    with pytest.raises(RuntimeError, match="quitter exited at start:\ncannot start"):
        process.wait_for_log("ready.", timeout=20)


def test_gunicorn_outlasts_nginxs_idle_upstream_connections_everywhere_it_is_started():
    nginx = (REPO / "deploy" / "nginx" / "fleetmon.conf").read_text()
    upstream = re.search(r"upstream fleetmon \{(.*?)\}", nginx, re.S).group(1)
    nginx_idle = int(re.search(r"keepalive_timeout (\d+)s;", upstream).group(1))
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["web"]["command"]
    image = json.loads(re.search(r"^CMD (.*)$", (REPO / "Dockerfile").read_text(), re.M).group(1))
    started = web_command(port=8000, access_log=True)

    for command in (compose, image, started):
        assert int(command[command.index("--keep-alive") + 1]) == GUNICORN_KEEPALIVE_S
    assert nginx_idle < GUNICORN_KEEPALIVE_S


def test_an_idle_connection_to_gunicorn_is_still_served_after_its_default_two_seconds(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    web = ChildProcess("web", web_command(port=port, access_log=False), env=os.environ, log_dir=tmp_path)
    try:
        connection = wait_for(lambda: _connected(port), timeout=30, message="gunicorn did not start")
        assert _healthz(connection) == 200
        time.sleep(3)  # idle longer than gunicorn's default keep-alive, which closes the socket
        assert _healthz(connection) == 200
    finally:
        stop_all([web])


def _connected(port: int) -> http.client.HTTPConnection | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.connect()
    except OSError:
        return None
    return connection


def _healthz(connection: http.client.HTTPConnection) -> int:
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    response.read()
    return response.status

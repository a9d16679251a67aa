"""`make run`: its processes, and its supervision of them, run in a process of its own (it
takes over SIGINT and SIGTERM) on stand-ins that only sleep."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from fleetmon_project import runstack
from fleetmon_project.processes import QUEUES, REPO, beat_command
from tests.e2e_support import alive

DRIVER = "import json, os, sys; from fleetmon_project.runstack import supervise; sys.exit(supervise(json.loads(sys.argv[1]), os.environ))"
# Writes its pid once up (renamed into place: never read half-written), then sleeps.
SLEEPER = (
    "import os, sys, time; open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid())); "
    "os.rename(sys.argv[1] + '.tmp', sys.argv[1]); time.sleep(120)"
)


def supervise(commands: dict[str, list[str]]) -> list[str]:
    return [sys.executable, "-c", DRIVER, json.dumps(commands)]


def sleeper(pid_file: Path) -> list[str]:
    return [sys.executable, "-c", SLEEPER, str(pid_file)]


def wait_for_pid(path: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return int(path.read_text())


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_gunicorn_a_worker_for_evaluation_one_for_webhooks_and_beat():
    commands = runstack._commands("8765")
    assert option(commands["web"], "--bind") == "127.0.0.1:8765"
    assert "--access-logfile" in commands["web"]
    assert option(commands["worker"], "-Q") == "evaluation,sweeps,default"
    assert option(commands["webhooks"], "-Q") == "webhooks"
    assert commands["beat"] == beat_command()


def test_every_queue_is_consumed_by_exactly_one_of_make_runs_workers():
    commands = runstack._commands("8765")
    consumed = [queue for name in ("worker", "webhooks") for queue in option(commands[name], "-Q").split(",")]
    assert sorted(consumed) == sorted(QUEUES)


def test_make_runs_workers_have_names_of_their_own_and_small_pools():
    commands = runstack._commands("8765")
    assert option(commands["worker"], "-n") != option(commands["webhooks"], "-n")
    # Two cores: evaluation keeps its two processes; webhooks, which mostly wait, add two.
    assert option(commands["worker"], "--concurrency") == "2"
    assert option(commands["webhooks"], "--concurrency") == "2"


def test_when_one_exits_the_others_are_stopped_and_its_code_is_returned(tmp_path):
    web, worker = tmp_path / "web.pid", tmp_path / "worker.pid"
    quits_once_both_are_up = (
        f"import os, sys, time\nwhile not (os.path.exists({str(web)!r}) and os.path.exists({str(worker)!r})): "
        "time.sleep(0.05)\nsys.exit(3)"
    )

    result = subprocess.run(
        supervise({"web": sleeper(web), "worker": sleeper(worker), "beat": [sys.executable, "-c", quits_once_both_are_up]}),
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 3
    assert "beat exited with code 3; stopping the others" in result.stderr
    assert not alive(int(web.read_text())) and not alive(int(worker.read_text()))


def test_sigterm_stops_every_process(tmp_path):
    pid_files = [tmp_path / f"{name}.pid" for name in ("web", "worker", "beat")]
    driver = subprocess.Popen(supervise({path.stem: sleeper(path) for path in pid_files}), cwd=REPO)
    pids = [wait_for_pid(path) for path in pid_files]

    driver.send_signal(signal.SIGTERM)

    assert driver.wait(timeout=30) == 0
    assert not any(alive(pid) for pid in pids)

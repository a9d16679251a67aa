"""`make test` entry point: choose the real PostgreSQL, Redis and RabbitMQ when they answer,
say so, then run pytest. In CI all three are mandatory, so a green run always means they were
exercised. End-to-end tests run once per broker chosen (FLEETMON_E2E_BROKERS)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def main(pytest_args: list[str]) -> int:
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    # A database name per run: concurrent runs on one machine must not drop each other's test DB.
    database = os.environ.get("DATABASE_URL") or f"postgres://postgres@127.0.0.1:5432/fleetmon_{os.getpid()}"
    broker = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379"

    if database.startswith("postgres") and not _reachable(database, 5432):
        if ci:
            print(f"CI: PostgreSQL is required but {database} does not answer", file=sys.stderr)
            return 2
        database = "sqlite:///" + os.path.join(os.environ.get("TMPDIR", "/tmp"), "fleetmon-test.sqlite3")
    if broker.startswith("redis") and not _reachable(broker, 6379):
        if ci:
            print(f"CI: Redis is required but {broker} does not answer", file=sys.stderr)
            return 2
        broker = "filesystem://"
    claim = None
    if broker.startswith("redis") and not os.environ.get("CELERY_BROKER_URL"):
        claim = _claim_redis_database(broker)
        if claim is None:
            print("No free Redis database for this test run (all of 1-13 and 15 are claimed)", file=sys.stderr)
            return 2
        broker = f"{broker}/{claim}"

    amqp = os.environ.get("FLEETMON_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
    vhost = None
    if amqp and _reachable(amqp, 5672):
        vhost = RabbitVhost.create(amqp, f"fleetmon-test-{os.getpid()}")
    if vhost is None and ci:
        print(f"CI: RabbitMQ is required but {amqp} does not answer or rabbitmqctl is missing", file=sys.stderr)
        if claim is not None:
            _release_redis_database(broker, claim)
        return 2
    e2e_brokers = [url for url in (broker, vhost.url if vhost else "") if url.startswith(("redis", "amqp"))]

    os.environ["DATABASE_URL"] = database
    os.environ["CELERY_BROKER_URL"] = broker
    os.environ["FLEETMON_E2E_BROKERS"] = " ".join(e2e_brokers)
    os.environ.setdefault("CACHE_URL", "locmem://")
    # Unit tests run tasks in-process; end-to-end tests switch to real workers explicitly.
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
    db_kind = "PostgreSQL" if database.startswith("postgres") else "SQLite"
    broker_kind = "Redis" if broker.startswith("redis") else broker.split(":")[0]
    print(f"Test backends: database={db_kind} ({database}), broker={broker_kind} ({broker})", flush=True)
    print(f"End-to-end brokers: {', '.join(e2e_brokers) or 'none (end-to-end tests will be skipped)'}", flush=True)

    import pytest

    try:
        return pytest.main(pytest_args)
    finally:
        if claim is not None:
            _release_redis_database(broker, claim)
        if vhost is not None:
            vhost.delete()


_CLAIM_KEY = "fleetmon-test:redis-db:{}"


def _claim_redis_database(server_url: str) -> int | None:
    """Concurrent runs on one machine must not share a broker database: end-to-end tests flush
    theirs. Claims live in database 0, which the tests never flush, and expire on their own
    should a run be killed before releasing its claim."""
    import redis

    client = redis.Redis.from_url(f"{server_url}/0")
    # Database 14 is the end-to-end benchmark's (benchmarks/e2e.py), which flushes it.
    for number in (15, *range(13, 0, -1)):
        if client.set(_CLAIM_KEY.format(number), os.getpid(), nx=True, ex=3 * 3600):
            redis.Redis.from_url(f"{server_url}/{number}").flushdb()
            return number
    return None


def _release_redis_database(broker_url: str, number: int) -> None:
    import redis

    server_url = broker_url.rsplit("/", 1)[0]
    redis.Redis.from_url(f"{server_url}/0").delete(_CLAIM_KEY.format(number))


class RabbitVhost:
    """A RabbitMQ virtual host of its own for one run: concurrent runs on one machine never see
    each other's queues, and deleting it at the end drops them all. Made with rabbitmqctl, so
    RabbitMQ must run on this machine (the management plugin is not needed)."""

    PATTERN = re.compile(r"^(?P<prefix>fleetmon-[a-z]+)-(?P<pid>\d+)$")

    def __init__(self, server_url: str, name: str) -> None:
        self.name = name
        parts = urlsplit(server_url)
        self.url = urlunsplit(parts._replace(path=f"/{name}"))

    @classmethod
    def create(cls, server_url: str, name: str) -> RabbitVhost | None:
        """None when rabbitmqctl is missing or fails (a RabbitMQ on another machine)."""
        if shutil.which("rabbitmqctl") is None:
            return None
        user = urlsplit(server_url).username or "guest"
        vhost = cls(server_url, name)
        try:
            cls._delete_abandoned()
            _rabbitmqctl("add_vhost", name)
            _rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"rabbitmqctl failed: {exc}", file=sys.stderr)
            vhost.delete()
            return None
        return vhost

    @classmethod
    def _delete_abandoned(cls) -> None:
        """Vhosts of runs killed before cleaning up (their process is gone)."""
        for line in _rabbitmqctl("list_vhosts", "name").splitlines():
            match = cls.PATTERN.match(line.strip())
            if match and not os.path.exists(f"/proc/{match['pid']}"):
                _rabbitmqctl("delete_vhost", line.strip())

    def cut(self, down_for: float) -> None:
        """The vhost unreachable for `down_for` seconds, as a RabbitMQ that is down is to its
        clients, without touching the other vhosts of the server: its connections closed and new
        ones refused, then allowed again. Its queues and messages stay, as a restart keeps them.
        Unlike a stopped server, the refusal (NOT_ALLOWED) is one kombu does not retry: publishes
        fail at once, and workers reconnect without kombu's backoff."""
        user = urlsplit(self.url).username or "guest"
        _rabbitmqctl("clear_permissions", "-p", self.name, user)
        try:
            _rabbitmqctl("close_all_connections", "--vhost", self.name, "chaos: broker down")
            time.sleep(down_for)
        finally:
            _rabbitmqctl("set_permissions", "-p", self.name, user, ".*", ".*", ".*")

    def delete(self) -> None:
        # Never created, or RabbitMQ went away: nothing left to clean.
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _rabbitmqctl("delete_vhost", self.name)


def _rabbitmqctl(*args: str) -> str:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

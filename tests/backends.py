"""`make test` entry point: choose the real PostgreSQL and Redis when they answer, say so,
then run pytest. In CI both are mandatory, so a green run always means they were exercised."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit


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

    os.environ["DATABASE_URL"] = database
    os.environ["CELERY_BROKER_URL"] = broker
    os.environ.setdefault("CACHE_URL", "locmem://")
    # Unit tests run tasks in-process; end-to-end tests switch to real workers explicitly.
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
    db_kind = "PostgreSQL" if database.startswith("postgres") else "SQLite"
    broker_kind = "Redis" if broker.startswith("redis") else broker.split(":")[0]
    print(f"Test backends: database={db_kind} ({database}), broker={broker_kind} ({broker})", flush=True)
    if broker_kind != "Redis":
        print("  (end-to-end tests that need a real Redis broker will be skipped)", flush=True)

    import pytest

    try:
        return pytest.main(pytest_args)
    finally:
        if claim is not None:
            _release_redis_database(broker, claim)


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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest
import redis
from kombu import Connection
from kombu.exceptions import OperationalError

from fleetmon_project import brokers
from fleetmon_project.brokers import (
    REDIS_SOCKET_TIMEOUT,
    broker_check,
    drop_all_messages,
    queue_depths,
    transport_options,
)


def test_rabbitmq_publishes_with_confirms_and_no_visibility_timeout():
    assert transport_options("amqp://guest:guest@127.0.0.1:5672/v", visibility_timeout=3600) == {"confirm_publish": True}


def test_redis_gets_the_visibility_timeout_and_socket_timeouts():
    assert transport_options("redis://127.0.0.1:6379/0", visibility_timeout=900) == {
        "visibility_timeout": 900,
        "socket_timeout": REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    }


def test_a_redis_broker_that_stopped_answering_fails_a_command_within_the_socket_timeout(monkeypatch):
    """A listening socket that accepts but never answers stands for a broker host gone silent;
    the command runs in a thread so that, hung, it fails the test instead of hanging it."""
    monkeypatch.setattr(brokers, "REDIS_SOCKET_TIMEOUT", 0.5)
    outcome: list[BaseException] = []

    def ping(url: str) -> None:
        with Connection(url, transport_options=transport_options(url, visibility_timeout=900)) as connection:
            try:
                connection.channel().client.ping()
            except (OperationalError, redis.TimeoutError) as exc:
                outcome.append(exc)

    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        port = silent.getsockname()[1]
        command = threading.Thread(target=ping, args=(f"redis://127.0.0.1:{port}/0",), daemon=True)
        command.start()
        command.join(timeout=20)  # kombu and redis-py retry a few times: 3 s here
    assert not command.is_alive()
    assert [str(exc) for exc in outcome] == [f"Timeout reading from 127.0.0.1:{port}"]


@pytest.mark.parametrize("url", ["amqp://guest:guest@127.0.0.1:1//", "redis://127.0.0.1:1/0", "filesystem://"])
def test_queue_depths_are_unknown_for_a_broker_that_does_not_answer_or_is_not_measured(url):
    assert queue_depths(url, timeout=1) is None


def test_dropping_messages_of_an_unsupported_broker_says_so():
    with pytest.raises(ValueError, match="not Redis or RabbitMQ"):
        drop_all_messages("filesystem://")


def _against_a_silent_redis(look: Callable[[str], object]) -> tuple[object, float]:
    """`look` at a Redis host that accepts connections and never answers; what it returned or
    raised, and how long it took. In a thread, so that a hang fails the test instead of hanging it."""
    outcome: list[object] = []

    def run(url: str) -> None:
        try:
            outcome.append(look(url))
        except Exception as exc:
            outcome.append(exc)

    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        started = time.monotonic()
        thread = threading.Thread(target=run, args=(f"redis://127.0.0.1:{silent.getsockname()[1]}/0",), daemon=True)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "still waiting on the silent host after 30 s"
        return outcome[0], time.monotonic() - started


def test_a_broker_check_gives_up_on_a_silent_redis_within_its_timeout_not_the_workers():
    def check(url: str) -> None:
        broker_check(url, options=transport_options(url, visibility_timeout=900), timeout=1)

    outcome, took = _against_a_silent_redis(check)
    assert isinstance(outcome, OperationalError) and "Timeout reading" in str(outcome)
    assert took < 5  # the workers' REDIS_SOCKET_TIMEOUT is 10 s


def test_queue_depths_of_a_silent_redis_are_unknown_within_seconds():
    outcome, took = _against_a_silent_redis(lambda url: queue_depths(url, timeout=1))
    assert outcome is None
    assert took < 5

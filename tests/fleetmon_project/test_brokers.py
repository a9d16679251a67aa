from __future__ import annotations

import socket
import threading

import pytest
import redis
from kombu import Connection
from kombu.exceptions import OperationalError

from fleetmon_project import brokers
from fleetmon_project.brokers import REDIS_SOCKET_TIMEOUT, drop_all_messages, queue_depths, transport_options


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

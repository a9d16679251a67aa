"""What FleetMon needs to know of its broker beyond Celery: how many messages wait in each
queue (/metrics) and how to drop them all (tests and the chaos suite simulate a broker that
lost its queues). Redis and RabbitMQ; other transports are not measured."""

from __future__ import annotations

from typing import Any, cast

from fleetmon_project.processes import QUEUES

REDIS_SOCKET_TIMEOUT = 10.0  # seconds a Redis broker command or connection may take


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


def is_amqp(url: str) -> bool:
    return url.startswith(("amqp://", "pyamqp://"))


def transport_options(url: str, *, visibility_timeout: int) -> dict[str, object]:
    """Celery's broker_transport_options for a Redis or RabbitMQ broker."""
    if is_amqp(url):
        # Queues and messages are durable (Celery's default on RabbitMQ: classic durable queues,
        # persistent messages), and a publish returns only once RabbitMQ has confirmed it, so a
        # task enqueued after a commit is not lost in a broker crash. Classic rather than quorum
        # queues: countdown retries and global QoS work as on Redis, and a single node gains
        # nothing from quorum replication. A killed worker's unacknowledged messages come back
        # as soon as its connection drops: RabbitMQ has no visibility timeout to set.
        return {"confirm_publish": True}
    # kombu sets no socket timeout on Redis: a broker host that vanishes without closing its
    # connections (a failover moving its address, a NAT losing its state) would hang a publish,
    # and the POST or task making it, for good. With it, a publish gives up after Celery's
    # retries, each a timeout: about a minute. Longer than the consumer's 1 s BRPOP, which
    # kombu's own health check watches.
    return {
        "visibility_timeout": visibility_timeout,
        "socket_timeout": REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    }


def broker_errors(connection: Any) -> tuple[type[BaseException], ...]:
    """What a broker that is down, silent or refusing raises through kombu's `connection`:
    kombu's OperationalError for the errors kombu retries; the transport's connection and
    channel errors for those it does not (an AMQP vhost access refused); socket errors."""
    from kombu.exceptions import OperationalError

    return (OperationalError, OSError, *connection.connection_errors, *connection.channel_errors)


def broker_check(url: str, *, options: dict[str, object], timeout: int) -> None:
    """Raises unless the broker accepts a connection, each step (connecting, an answer) given
    `timeout` seconds: the readiness probe's question. Through kombu, which reads the URL's
    options (TLS, ...) as the workers do."""
    from kombu import Connection

    if is_redis(url):
        # kombu's Redis transport ignores connect_timeout: the transport's socket timeouts,
        # REDIS_SOCKET_TIMEOUT for the workers, would hold a probe on a silent host that long.
        options = {**options, "socket_timeout": timeout, "socket_connect_timeout": timeout}
    # py-amqp bounds its connection and handshake by connect_timeout.
    with Connection(url, transport_options=options, connect_timeout=timeout) as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout)


def queue_depths(url: str, *, timeout: float = 2.0) -> dict[str, int] | None:
    """Messages ready in each queue (not those a worker holds unacknowledged); None when the
    broker does not answer or is neither Redis nor RabbitMQ. A queue not declared yet is empty."""
    if is_redis(url):
        import redis

        try:
            client = redis.Redis.from_url(url, socket_timeout=timeout)
            # redis-py types its sync and async clients as one: a sync call answers an int.
            return {queue: cast(int, client.llen(queue)) for queue in QUEUES}
        except redis.RedisError:
            return None
    if is_amqp(url):
        from amqp.exceptions import NotFound
        from kombu import Connection

        depths: dict[str, int] = {}
        connection = Connection(url, connect_timeout=timeout)
        try:
            with connection:
                for queue in QUEUES:
                    # A passive declare reads the count without creating the queue; on a
                    # missing queue RabbitMQ closes the channel, so each gets its own.
                    channel: Any = connection.channel()  # typed as kombu's abstract StdChannel
                    try:
                        depths[queue] = int(channel.queue_declare(queue, passive=True).message_count)
                    except NotFound:
                        depths[queue] = 0
                    finally:
                        if channel.is_open:
                            channel.close()
        except broker_errors(connection):
            return None
        return depths
    return None


def drop_all_messages(url: str) -> None:
    """Lose every queued message, as a broker that crashed without persistence would: Redis
    FLUSHDB of the broker database (queues and the messages workers hold unacknowledged),
    RabbitMQ a purge of every queue (messages held by a live consumer stay with it)."""
    if is_redis(url):
        import redis

        redis.Redis.from_url(url).flushdb()
        return
    if not is_amqp(url):
        raise ValueError(f"cannot drop the messages of broker {url!r}: not Redis or RabbitMQ")
    from amqp.exceptions import NotFound
    from kombu import Connection

    with Connection(url, connect_timeout=5) as connection:
        for queue in QUEUES:
            channel: Any = connection.channel()  # typed as kombu's abstract StdChannel
            try:
                channel.queue_purge(queue)
            except NotFound:
                pass  # never declared: nothing to drop
            finally:
                if channel.is_open:
                    channel.close()

"""A plain redis-py client to the Redis every process shares (CACHE_URL), for what Django's
cache API cannot do in one command: the evaluation marks (monitors.queued) and the API's rate
limits (fleetmon_project.throttling), each one Lua script per request.

Both can do without Redis for a while, so a call waits REDIS_TIMEOUT at most, is never sent
again, and after an error its user leaves Redis alone for PAUSE_AFTER_ERROR (`Pause`): a
request must not cost a timeout each while Redis is away. The POSTs' evaluation messages pause
alike after the broker refused one (monitors.tasks).
"""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from fleetmon_project.brokers import is_redis

# Each Redis call waits this long at most to connect, and as long for its reply.
REDIS_TIMEOUT = 0.5
PAUSE_AFTER_ERROR = 5.0

_clients: dict[str, redis.Redis] = {}
_scripts: dict[tuple[str, str], Script] = {}


def shared_client() -> redis.Redis | None:
    """None when CACHE_URL is not Redis: each process's own memory is no place for what the
    processes must share."""
    url = settings.CACHE_URL
    return _client(url) if is_redis(url) else None


def shared_script(source: str) -> Script | None:
    """`source` as a script of the shared Redis, sent by its digest (redis-py loads it again
    into a Redis that lost it); None when CACHE_URL is not Redis."""
    url = settings.CACHE_URL
    if not is_redis(url):
        return None
    script = _scripts.get((url, source))
    if script is None:
        script = _scripts.setdefault((url, source), _client(url).register_script(source))
    return script


def _client(url: str) -> redis.Redis:
    client = _clients.get(url)
    if client is None:
        pool = redis.ConnectionPool.from_url(url)
        # Ours whatever the URL's query says: a script sent again after a timeout would find
        # its own writes (a mark set, a request counted twice); a request must not wait on
        # Redis for long; and the callers decode the replies they read.
        pool.connection_kwargs.update(
            decode_responses=False,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            retry_on_error=[],
        )
        # redis-py's pool reconnects in a forked process: one client per URL serves them all.
        client = _clients.setdefault(url, redis.Redis(connection_pool=pool))
    return client


class Pause:
    """One user of a shared service (this Redis, the broker), left alone for PAUSE_AFTER_ERROR
    after an error, which it logs under its own logger."""

    def __init__(self, user: str, logger: logging.Logger) -> None:
        self.user = user
        self.logger = logger
        self.until = 0.0

    @property
    def active(self) -> bool:
        return time.monotonic() < self.until

    def start(self, consequence: str, exc: Exception) -> None:
        self.until = time.monotonic() + PAUSE_AFTER_ERROR
        self.logger.warning("%s %s, left alone for %.0f s: %r", self.user, consequence, PAUSE_AFTER_ERROR, exc)

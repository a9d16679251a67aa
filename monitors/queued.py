"""Telemetry-driven evaluations, one queued per vehicle at a time.

A vehicle's evaluation applies every point of it stored before it reads what is pending, so a
POST need not queue one for a vehicle whose evaluation is queued and not started: that one will
apply this POST's points too. Without this, under a backlog, two of three evaluation tasks of
the e2e benchmark's sustained phase found nothing left to do, and each still cost a message to
the broker and its worker, and a query.

A vehicle is marked in Redis (CACHE_URL, which every process must share) from the enqueue of
its evaluation until that evaluation starts:
- the mark is set once the POST's points are committed, and cleared by an evaluation before it
  reads what is pending; so a POST that finds the mark set has its points read by the
  evaluation that clears it;
- a mark that outlives its message (lost with a flushed broker, cleared by no one because the
  task failed first or its worker has no CACHE_URL) expires after MARK_SECONDS: the vehicle's
  next POST queues again, and the unevaluated-point sweeper rescues the points of one that
  stopped reporting, as it did before;
- without Redis (each process's cache in its own memory), or for a few seconds after it failed,
  every POST queues its evaluations, as before.

A plain client rather than Django's cache: one command for a whole batch (a script of SET NX),
and timeouts of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from fleetmon_project.brokers import is_redis

logger = logging.getLogger(__name__)

KEY = "fleetmon:evaluation-queued:{}"
# Longer than an evaluation usually waits in the queue under a backlog (the e2e benchmark's
# sustained phase: about a second), short enough that a mark outliving its message holds up the
# vehicle's next points by no more than a few seconds.
MARK_SECONDS = 5
# Each Redis call waits this long at most to connect, and as long for its reply.
REDIS_TIMEOUT = 0.5
# After a Redis error, this process leaves the marks alone for this long: an optimisation must
# not cost every POST and every evaluation a timeout while Redis is away.
PAUSE_AFTER_ERROR = 5.0

# The 1-based positions of the keys it marked. One command per batch: a pipeline of one SET per
# vehicle cost the API about 4 ms of Python per 250-point POST, packing each command and
# parsing each reply; the script costs 0.5 ms.
_CLAIM = """
local claimed = {}
for position, key in ipairs(KEYS) do
    if redis.call('SET', key, 1, 'NX', 'EX', ARGV[1]) then claimed[#claimed + 1] = position end
end
return claimed
"""


@dataclass(frozen=True)
class _Marks:
    client: redis.Redis
    claim: Script  # sent by its digest; redis-py loads it again into a Redis that lost it


_connections: dict[str, _Marks] = {}
_paused_until = 0.0


def _marks() -> _Marks | None:
    url = settings.CACHE_URL
    if not is_redis(url):
        return None  # a mark in one process's memory would not be seen by the others
    if time.monotonic() < _paused_until:
        return None
    marks = _connections.get(url)
    if marks is None:
        pool = redis.ConnectionPool.from_url(url)
        # Ours whatever the URL's query says: a claim sent again after a timeout would find
        # the marks it had set and queue nothing; and a POST must not wait on an optimisation.
        pool.connection_kwargs.update(
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            retry_on_error=[],
        )
        # redis-py's pool reconnects in a forked process: one client per URL serves them all.
        client = redis.Redis(connection_pool=pool)
        marks = _connections.setdefault(url, _Marks(client=client, claim=client.register_script(_CLAIM)))
    return marks


def _pause(action: str, exc: Exception) -> None:
    global _paused_until
    _paused_until = time.monotonic() + PAUSE_AFTER_ERROR
    logger.warning("evaluation marks %s, left alone for %.0f s: %r", action, PAUSE_AFTER_ERROR, exc)


def evaluation_marks_claim(*, vehicle_ids: Sequence[str]) -> list[str]:
    """Those of `vehicle_ids` with no evaluation queued, now marked as having one: the caller
    queues theirs. Call it once their points are committed."""
    marks = _marks()
    if marks is None or not vehicle_ids:
        return list(vehicle_ids)
    try:
        positions = marks.claim(keys=[KEY.format(vehicle_id) for vehicle_id in vehicle_ids], args=[MARK_SECONDS])
    except Exception as exc:  # whatever went wrong, queueing every vehicle is always right
        _pause("unavailable, every vehicle queued", exc)
        return list(vehicle_ids)
    return [vehicle_ids[position - 1] for position in positions]


def evaluation_marks_clear(*, vehicle_ids: Sequence[str]) -> None:
    """Before reading what is pending: a POST from now on queues an evaluation of its own."""
    marks = _marks()
    if marks is None or not vehicle_ids:
        return
    try:
        marks.client.delete(*(KEY.format(vehicle_id) for vehicle_id in vehicle_ids))
    except Exception as exc:  # the marks expire: until then, these vehicles' POSTs queue nothing
        _pause("not cleared", exc)

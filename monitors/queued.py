"""Telemetry-driven evaluations: one queued per vehicle at a time, and under load one task for
the vehicles of many POSTs.

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

A vehicle newly marked joins the open chunk, a list in Redis of at most
FLEETMON_EVALUATION_CHUNK vehicles; vehicles that find no open chunk with room open one, and
their POST publishes its message. The task takes its chunk when it starts: closes it, reads the
vehicles that joined it and clears their marks, in one script, then evaluates them all. With
1,000 vehicles each posting one point per request, as many telematics gateways do, every POST
queued a task of its own (47 ms of a worker each on a slow machine, and a fifth of the POST's
CPU to publish it); under a backlog they now share one task per chunk. With workers idle, a
chunk is taken as soon as its message is published and holds the vehicles of one POST, as
before.
- The chunk's id is its message's task id, not a new argument: a worker of the previous
  release understands the message and evaluates the vehicles it names.
- The message names the vehicles of the POST that opened the chunk, so they are evaluated even
  without the list; the vehicles that joined later are then in the position of a lost mark.
- A chunk stays open MARK_SECONDS at most: one whose message is lost holds its vehicles up no
  longer than a lost mark does.
- The list is deleted once its vehicles are evaluated, not when it is taken: a message
  delivered again (its worker killed mid-evaluation) still evaluates every vehicle that joined.
- A worker takes its chunk even while a Redis error pauses the marks in its process: skipping
  the take would leave the chunk's vehicles to the sweeper, where trying costs one timeout.

The scripts name keys of their own making, not only those passed in KEYS: CACHE_URL is one
Redis server, not a cluster.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from fleetmon_project.sharedredis import Pause, shared_client, shared_script
from monitors.sweeps import vehicle_chunks

KEY = "fleetmon:evaluation-queued:{}"
OPEN_KEY = "fleetmon:evaluation-chunk:open"
CHUNK_KEY = "fleetmon:evaluation-chunk:{}"
# Longer than an evaluation usually waits in the queue under a backlog (the e2e benchmark's
# sustained phase: about a second), short enough that a mark outliving its message holds up the
# vehicle's next points by no more than a few seconds.
MARK_SECONDS = 5
# A chunk's list waits for its task as long as a message may wait in a queue under a backlog;
# one left behind by a lost message takes a few hundred bytes until then.
CHUNK_SECONDS = 3600

# Marks each vehicle with no evaluation queued and adds it to the open chunk, opening chunks
# (ids from ARGV) as those fill; returns the chunks it opened, each as {id, 1-based positions of
# its vehicles}. KEYS: the vehicles' marks. ARGV: mark seconds, chunk size, chunk seconds, the
# open chunk's key, the chunks' key prefix, the vehicles' ids, then as many unused chunk ids as
# the vehicles could fill. One command per batch: a pipeline of one SET per vehicle cost the API
# about 4 ms of Python per 250-point POST, packing each command and parsing each reply.
_CLAIM = """
local mark_seconds, size, chunk_seconds = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local open_key, prefix = ARGV[4], ARGV[5]
local fresh = 6 + #KEYS
local open = redis.call('GET', open_key)
local room = 0
if open then room = size - redis.call('LLEN', prefix .. open) end
local opened, current = {}, nil
for position, key in ipairs(KEYS) do
    if redis.call('SET', key, 1, 'NX', 'EX', mark_seconds) then
        if room <= 0 then
            open, fresh, room = ARGV[fresh], fresh + 1, size
            current = {open}
            opened[#opened + 1] = current
            redis.call('SET', open_key, open, 'EX', mark_seconds)
        end
        redis.call('RPUSH', prefix .. open, ARGV[5 + position])
        if room == size then redis.call('EXPIRE', prefix .. open, chunk_seconds) end
        room = room - 1
        if current then current[#current + 1] = position end
    end
end
return opened
"""

# Closes the chunk if it is still open, and clears the marks of its vehicles and of those its
# message names; returns the chunk's vehicles. KEYS: the open chunk's key, the chunk's.
# ARGV: the chunk's id, the marks' key prefix, the message's vehicles.
_TAKE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local joined = redis.call('LRANGE', KEYS[2], 0, -1)
for _, vehicle in ipairs(joined) do redis.call('DEL', ARGV[2] .. vehicle) end
for position = 3, #ARGV do redis.call('DEL', ARGV[2] .. ARGV[position]) end
return joined
"""

_pause = Pause("evaluation marks", logging.getLogger(__name__))


@dataclass(frozen=True)
class Chunk:
    """One evaluation message to publish: its task id (None: Celery's own, no list in Redis)
    and the vehicles it names."""

    id: str | None
    vehicle_ids: list[str]


def evaluation_chunks_claim(*, vehicle_ids: Sequence[str]) -> list[Chunk]:
    """The messages to publish for `vehicle_ids`, whose points are committed: none for a vehicle
    with an evaluation queued or one that joined an open chunk."""
    ids = sorted(set(vehicle_ids))
    claim = shared_script(_CLAIM)
    if claim is None or _pause.active or not ids:
        return [Chunk(None, chunk) for chunk in vehicle_chunks(ids)]
    size = settings.FLEETMON_EVALUATION_CHUNK
    fresh = [str(uuid.uuid4()) for _ in range(-(-len(ids) // size))]
    try:
        opened = claim(
            keys=[KEY.format(vehicle_id) for vehicle_id in ids],
            args=[MARK_SECONDS, size, CHUNK_SECONDS, OPEN_KEY, CHUNK_KEY.format(""), *ids, *fresh],
        )
    except Exception as exc:  # whatever went wrong, queueing every vehicle is always right
        _pause.start("unavailable, every vehicle queued", exc)
        return [Chunk(None, chunk) for chunk in vehicle_chunks(ids)]
    return [Chunk(chunk_id.decode(), [ids[position - 1] for position in positions]) for chunk_id, *positions in opened]


def evaluation_chunk_take(*, chunk_id: str | None, vehicle_ids: Sequence[str]) -> list[str]:
    """Before reading what is pending: closes the chunk, and clears the marks of `vehicle_ids` and
    of the vehicles that joined the chunk, which it returns; a POST from now on queues an
    evaluation of its own. Call `evaluation_chunk_release` once they are evaluated."""
    take = shared_script(_TAKE)
    if take is None or (_pause.active and chunk_id is None) or not (chunk_id or vehicle_ids):
        return []
    try:
        joined = take(
            keys=[OPEN_KEY, CHUNK_KEY.format(chunk_id or "")], args=[chunk_id or "", KEY.format(""), *vehicle_ids]
        )
    except Exception as exc:  # the marks expire: until then, these vehicles' POSTs queue nothing
        _pause.start("not cleared", exc)
        return []
    return [vehicle_id.decode() for vehicle_id in joined]


def evaluation_chunk_release(*, chunk_id: str | None) -> None:
    """Once the chunk's vehicles are evaluated: until then, a copy of its message evaluates them
    all again."""
    client = shared_client()
    if client is None or _pause.active or chunk_id is None:
        return
    try:
        client.delete(CHUNK_KEY.format(chunk_id))
    except Exception as exc:  # it expires
        _pause.start("chunk not released", exc)

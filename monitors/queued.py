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
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fleetmon_project.sharedredis import Pause, shared_client, shared_script

KEY = "fleetmon:evaluation-queued:{}"
# Longer than an evaluation usually waits in the queue under a backlog (the e2e benchmark's
# sustained phase: about a second), short enough that a mark outliving its message holds up the
# vehicle's next points by no more than a few seconds.
MARK_SECONDS = 5

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

_pause = Pause("evaluation marks", logging.getLogger(__name__))


def evaluation_marks_claim(*, vehicle_ids: Sequence[str]) -> list[str]:
    """Those of `vehicle_ids` with no evaluation queued, now marked as having one: the caller
    queues theirs. Call it once their points are committed."""
    claim = shared_script(_CLAIM)
    if claim is None or _pause.active or not vehicle_ids:
        return list(vehicle_ids)
    try:
        positions = claim(keys=[KEY.format(vehicle_id) for vehicle_id in vehicle_ids], args=[MARK_SECONDS])
    except Exception as exc:  # whatever went wrong, queueing every vehicle is always right
        _pause.start("unavailable, every vehicle queued", exc)
        return list(vehicle_ids)
    return [vehicle_ids[position - 1] for position in positions]


def evaluation_marks_clear(*, vehicle_ids: Sequence[str]) -> None:
    """Before reading what is pending: a POST from now on queues an evaluation of its own."""
    client = shared_client()
    if client is None or _pause.active or not vehicle_ids:
        return
    try:
        client.delete(*(KEY.format(vehicle_id) for vehicle_id in vehicle_ids))
    except Exception as exc:  # the marks expire: until then, these vehicles' POSTs queue nothing
        _pause.start("not cleared", exc)

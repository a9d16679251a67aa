"""Thin Celery tasks: ids in, call a service. Evaluation tasks go to the `evaluation` queue,
sweeps to `sweeps` (CELERY_TASK_ROUTES)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from typing import Any

from celery import Task, shared_task
from celery.contrib.django.task import DjangoTask
from django.db import transaction

from fleetmon_project.brokers import broker_errors
from fleetmon_project.metrics import EVALUATIONS_NOT_QUEUED
from fleetmon_project.sharedredis import Pause
from monitors import engine, sweeps
from monitors.queued import Chunk, evaluation_chunk_release, evaluation_chunk_take, evaluation_chunks_claim
from monitors.sweeps import vehicle_chunks

logger = logging.getLogger(__name__)


# A publish that has taken this long means a broker host that stopped answering: Celery's
# retries each wait out a socket timeout, up to about a minute in all. From then on, the
# process's other POSTs publish nothing rather than wait with it (those that started within
# those seconds wait it out).
STUCK_PUBLISH_S = 2.0
# After a message the broker refused, the process publishes nothing for a few seconds: each
# POST would spend Celery's retries (about a second on a broker that refuses connections)
# learning what the last one did.
_broker_pause = Pause("evaluation messages", logger)
_publishing_since: dict[int, float] = {}  # thread id -> when its publish started
# A child forked while one of the parent's threads publishes must not take it for its own.
os.register_at_fork(after_in_child=_publishing_since.clear)


def enqueue_points_evaluation(*, vehicle_ids: list[str]) -> None:
    """Once the points are committed, an evaluation of each of their vehicles that has none
    queued, in the open chunk or in chunks of their own (monitors.queued)."""
    transaction.on_commit(lambda: _points_evaluation_send(vehicle_ids))


def _points_evaluation_send(vehicle_ids: list[str]) -> None:
    # The points are committed: whatever the broker does, they are accepted (202). Those whose
    # evaluation is not queued here are the sweeper's, after FLEETMON_POINT_RESCUE_AFTER.
    if _publish_stuck():
        EVALUATIONS_NOT_QUEUED.labels("telemetry").inc()
        return
    thread = threading.get_ident()
    _publishing_since[thread] = time.monotonic()
    try:
        _chunks_publish(evaluation_chunks_claim(vehicle_ids=vehicle_ids))
    finally:
        del _publishing_since[thread]


def _publish_stuck() -> bool:
    now = time.monotonic()
    return any(now - started > STUCK_PUBLISH_S for started in list(_publishing_since.values()))


def _chunks_publish(chunks: list[Chunk]) -> None:
    for position, chunk in enumerate(chunks):
        sent = _publish(
            partial(evaluate_vehicles.apply_async, (chunk.vehicle_ids, None, None, None), task_id=chunk.id),
            source="telemetry",
            consequence="not queued (the sweeper rescues the points stored)",
        )
        if not sent:
            # The next POST for these vehicles, and for those that joined their chunks
            # meanwhile, must queue their evaluation.
            for unsent in chunks[position:]:
                evaluation_chunk_take(chunk_id=unsent.id, vehicle_ids=unsent.vehicle_ids)
                evaluation_chunk_release(chunk_id=unsent.id)
            return


def _publish(send: Callable[[], object], *, source: str, consequence: str) -> bool:
    """`send` one evaluation message, unless the process paused its publishing; False when it
    is not sent, and counted. Never raises: the work the message carries is committed where it
    is found again. A broker error pauses the process, as each message would spend Celery's
    publish retries learning the same; any other is a bug, logged with its traceback."""
    if _broker_pause.active:
        EVALUATIONS_NOT_QUEUED.labels(source).inc()
        return False
    try:
        send()
    except Exception as exc:
        EVALUATIONS_NOT_QUEUED.labels(source).inc()
        if _is_broker_error(exc):
            _broker_pause.start(consequence, exc)
        else:
            logger.exception(f"evaluation message {consequence}")
        return False
    return True


def _is_broker_error(exc: Exception) -> bool:
    return isinstance(exc, broker_errors(evaluate_vehicles.app.connection_for_write()))


def enqueue_evaluation(
    *,
    vehicle_ids: Iterable[str],
    at: datetime | None = None,
    monitor_ids: list[str] | None = None,
    boundary_id: int | None = None,
    expiries: bool = False,
) -> None:
    # Only an expiry's message names `expiries`: every other keeps the arguments workers of the
    # previous release understand, so a rolling upgrade loses none.
    extra = {"expiries": True} if expiries else {}
    for chunk in vehicle_chunks(vehicle_ids):
        _send_on_commit(evaluate_vehicles, chunk, at.isoformat() if at else None, monitor_ids, boundary_id, **extra)


def _send_on_commit(task: Task, *args: Any, **kwargs: Any) -> None:
    """Once the caller's work is committed, which holds it until it is done: a sweep's claim
    expires and finds it again, a boundary's or a replayed instant's row stays in the outbox, the
    points of a vehicle no longer held are rescued. So the caller (a sweep, an operator's
    replay) does not fail for a message the broker refuses."""
    send = partial(task.delay, *args, **kwargs)
    transaction.on_commit(
        partial(_publish, send, source="sweep", consequence="not sent (the work they carry is found again)")
    )


class _VehicleChunkTask(DjangoTask):  # the app's task class
    """Its messages name their vehicles by count and range in `argsrepr` (what monitoring tools
    show of a message), instead of Celery's repr of every id: building that for a chunk of 50
    ids cost a fifth of publishing the message, five messages a 250-point POST."""

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:  # type: ignore[override]  # celery-types spells out every option; all are passed on
        if args and args[0] and "argsrepr" not in options:
            ids, *rest = args
            listed = f"[{len(ids)} vehicles: {ids[0]!r}..{ids[-1]!r}]"
            options["argsrepr"] = f"({', '.join([listed, *map(repr, rest)])})"
        return super().apply_async(args, kwargs, **options)


@shared_task(base=_VehicleChunkTask, bind=True, acks_late=True, reject_on_worker_lost=True)
def evaluate_vehicles(
    self: _VehicleChunkTask,
    vehicle_ids: list[str],
    at: str | None = None,
    monitor_ids: list[str] | None = None,
    boundary_id: int | None = None,
    expiries: bool = False,
) -> int:
    return engine.vehicles_evaluate(
        vehicle_ids=vehicle_ids,
        at=datetime.fromisoformat(at) if at else None,
        expiries=expiries,
        monitor_ids=monitor_ids,
        boundary_id=boundary_id,
        chunk_id=self.request.id,
    )


@shared_task(acks_late=True, reject_on_worker_lost=True)
def evaluate_retry(dead_letter_id: int) -> int:
    return engine.dead_letter_retry(dead_letter_id=dead_letter_id)


def _enqueue_all(requests: list[sweeps.EvaluationRequest]) -> int:
    for request in requests:
        if request.retry_id is not None:
            _send_on_commit(evaluate_retry, request.retry_id)
            continue
        enqueue_evaluation(
            vehicle_ids=request.vehicle_ids,
            at=request.at,
            monitor_ids=request.monitor_ids,
            boundary_id=request.boundary_id,
            expiries=request.expiries,
        )
    return len(requests)


@shared_task(acks_late=True, ignore_result=True)
def sweep_time_boundaries() -> int:
    return _enqueue_all(sweeps.time_boundaries_sweep())


@shared_task(acks_late=True, ignore_result=True)
def sweep_refresh_reminders() -> int:
    return _enqueue_all(sweeps.refresh_reminders_sweep())


@shared_task(acks_late=True, ignore_result=True)
def sweep_dwell_expiries() -> int:
    return _enqueue_all(sweeps.dwell_expiries_sweep())


@shared_task(acks_late=True, ignore_result=True)
def sweep_unevaluated_points() -> int:
    return _enqueue_all(sweeps.unevaluated_points_sweep())

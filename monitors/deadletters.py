"""Evaluation work that keeps failing: recorded, held aside, retried a bounded number of times
(monitors.models.DeadLetter). The engine and the sweeps call these; replay is a service."""

from __future__ import annotations

import logging
import traceback
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from fleetmon_project.metrics import DEAD_LETTERS
from monitors.models import BoundaryEvaluation, DeadLetter, DeadLetterKind, Monitor
from telemetry.models import Vehicle

logger = logging.getLogger(__name__)

ERROR_CHARS = 2_000
# The end of a traceback names the failing line: that is the part kept.
TRACEBACK_CHARS = 20_000


def held_vehicles(*, retrying: int | None = None) -> QuerySet:
    """The vehicles no evaluation may touch (a subquery): those with a dead letter, but for the
    one `retrying` is the retry of."""
    letters = DeadLetter.objects.filter(vehicle__isnull=False)
    if retrying is not None:
        letters = letters.exclude(pk=retrying)
    # Unordered: the engine's hand-written statements embed its SQL, where DeadLetter's default
    # ordering would sort the letters for nothing.
    return letters.values("vehicle_id").order_by()


def retry_delay() -> timedelta:
    return timedelta(seconds=settings.FLEETMON_POINT_RESCUE_AFTER)


def _describe(error: BaseException) -> tuple[str, str]:
    text = "".join(traceback.format_exception(error))
    if len(text) > TRACEBACK_CHARS:
        text = "…" + text[-TRACEBACK_CHARS:]
    return f"{type(error).__name__}: {error}"[:ERROR_CHARS], text


def _given_up(letter: DeadLetter, now: datetime) -> None:
    letter.given_up_at, letter.retry_at = now, None
    DEAD_LETTERS.labels(letter.kind).inc()
    logger.error(
        "gave up an evaluation after %d attempts: %s; replay it from the admin (Dead letters)",
        letter.attempts,
        letter.error,
        extra={"fleet": letter.fleet_id, "vehicle": letter.vehicle_id},
    )


def evaluation_failed(
    *, vehicle_id: str, at: datetime | None, monitor_ids: list[str] | None, error: BaseException, now: datetime
) -> DeadLetter | None:
    """Count one failure of a vehicle's evaluation; hold the vehicle until a retry succeeds."""
    fleet_id = Vehicle.objects.filter(pk=vehicle_id).values_list("fleet_id", flat=True).first()
    if fleet_id is None:
        return None  # removed meanwhile: its points went with it
    logger.error(
        "evaluation of a vehicle failed; held for retry", exc_info=error, extra={"fleet": fleet_id, "vehicle": vehicle_id}
    )
    letter, _ = DeadLetter.objects.select_for_update().get_or_create(
        vehicle_id=vehicle_id,
        defaults={
            "kind": DeadLetterKind.VEHICLE,
            "fleet_id": fleet_id,
            "vehicle_ids": [vehicle_id],
            "monitor_ids": monitor_ids,
            "at": at,
            "attempts": 0,
            "first_failed_at": now,
            "last_failed_at": now,
        },
    )
    letter.attempts += 1
    letter.last_failed_at = now
    letter.error, letter.traceback = _describe(error)
    letter.retry_at = now + retry_delay()
    if letter.attempts >= settings.FLEETMON_EVALUATION_MAX_ATTEMPTS:
        _given_up(letter, now)
    letter.save()
    return letter


def boundary_given_up(row: BoundaryEvaluation, *, now: datetime) -> DeadLetter:
    """A boundary evaluation sent `row.attempts` times without completing: kept for replay."""
    fleet_id = Monitor.objects.filter(pk__in=row.monitor_ids).values_list("fleet_id", flat=True).first()
    letter = DeadLetter(
        kind=DeadLetterKind.BOUNDARY,
        fleet_id=fleet_id,
        vehicle_ids=row.vehicle_ids,
        monitor_ids=row.monitor_ids,
        at=row.at,
        error=f"the window boundary evaluation at {row.at.isoformat()} did not complete after {row.attempts} messages",
        attempts=row.attempts,
        first_failed_at=row.at,
        last_failed_at=now,
    )
    _given_up(letter, now)
    letter.save()
    return letter

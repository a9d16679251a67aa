"""Attempts: one try at sending a delivery, recorded as a DeliveryAttempt, then its outcome.

The row is the source of truth; Celery messages only say "look at delivery N". The first
task to run for a due delivery takes a lease on it (`Delivery.lease`: `task_id` = its Celery
task id, `in_flight_until`) for the time of its request, or of its countdown retry: any other
task for that delivery meanwhile does nothing. The lease is taken when a task starts, not
when it is queued, so a backlog longer than the lease only makes the sweeper's extra message
a no-op, never keeps the queued ones from sending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from fleetmon_project.metrics import DELIVERIES_FINISHED, WEBHOOK_ATTEMPT_SECONDS, WEBHOOK_ATTEMPTS
from fleetmon_project.rows import model_columns, models_from_row, models_read, row_fields_update, row_insert
from monitors.models import Monitor, MonitorStatus
from notifications import signing, templating, transport
from notifications.models import Delivery, DeliveryAttempt, DeliveryState
from notifications.services import common, health
from notifications.services.webhook_secrets import webhook_secrets_for_signing

logger = logging.getLogger(__name__)

MONITOR_DELETED = "monitor deleted"
INTERRUPTED = "interrupted: no outcome was recorded (the worker was lost during the request)"


@dataclass(frozen=True)
class AttemptOutcome:
    attempt: DeliveryAttempt | None  # None when nothing was sent
    retry_in: int | None = None  # seconds; set when the calling task should retry itself


@dataclass(frozen=True)
class _Claim:
    delivery: Delivery
    attempt: DeliveryAttempt
    request: templating.RenderedRequest


def delivery_attempt(*, delivery_id: int, task_id: str, now: datetime | None = None) -> AttemptOutcome:
    """One try at sending a delivery, by the first of its tasks to run (or the one holding it).

    Does nothing for a delivery that is delivered, failed, not due yet, or leased to another
    task: a redelivered or duplicated message is harmless.
    """
    # Without an injected `now` each step reads the clock, so the retry delay runs from the
    # end of the request, not from its start.
    claim = _delivery_claim(delivery_id=delivery_id, task_id=task_id, now=common.clock(now))
    if claim is None:
        return AttemptOutcome(attempt=None)
    result = _send(claim, now=common.clock(now))
    return _delivery_record(claim, result=result, task_id=task_id, now=common.clock(now))


def _delivery_locked(delivery_id: int, *, health_sql: str, with_monitor: bool) -> tuple[Delivery, bool] | None:
    """The delivery, its row locked, and what `health_sql` (one of health's flags) says of its
    endpoint, read by one statement; `with_monitor`, its monitor too. None when it is gone (or
    its monitor, deleted by a cascade the delivery's lock did not hold back). Built by hand: the
    ORM compiled this read in more instructions than the webhook's HTTP request took."""
    features = connection.features
    lock = " FOR UPDATE OF delivery" if features.has_select_for_update_of else ""
    if not lock and features.has_select_for_update:
        lock = " FOR UPDATE"
    monitor_columns, monitor_join = "", ""
    if with_monitor:
        monitor_columns = f"{model_columns(Monitor, 'monitor')}, "
        monitor_join = f" JOIN {Monitor._meta.db_table} AS monitor ON monitor.id = delivery.monitor_id"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_columns(Delivery, 'delivery')}, {monitor_columns}{health_sql}"
            f" FROM {Delivery._meta.db_table} AS delivery{monitor_join} WHERE delivery.id = %s{lock}",
            [delivery_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    instances, (health_flag,) = models_from_row(row, *((Delivery, Monitor) if with_monitor else (Delivery,)))
    delivery = instances[0]
    assert isinstance(delivery, Delivery)
    if with_monitor:
        assert isinstance(instances[1], Monitor)
        delivery.monitor = instances[1]
    return delivery, bool(health_flag)


def _monitor_read(monitor_id: str) -> Monitor | None:
    found = models_read(
        Monitor,
        f"SELECT {model_columns(Monitor, 'monitor')} FROM {Monitor._meta.db_table} AS monitor WHERE id = %s",
        [monitor_id],
    )
    return found[0] if found else None


@transaction.atomic
def _delivery_claim(*, delivery_id: int, task_id: str, now: datetime) -> _Claim | None:
    locked = _delivery_locked(delivery_id, health_sql=health.ENDPOINT_DISABLED_SQL, with_monitor=True)
    if locked is None:
        return None
    delivery, endpoint_disabled = locked
    if not delivery.may_lease(task_id=task_id, now=now):
        return None  # done, early (whoever scheduled the next attempt comes back for it) or someone else's
    if delivery.monitor.deleted_at is not None:
        _delivery_give_up(delivery, error=MONITOR_DELETED, now=now)
        return None
    if now >= delivery.expires_at:
        _delivery_give_up(delivery, error="retention period over: the event is too old to deliver", now=now)
        return None
    if not delivery.is_test and endpoint_disabled:
        _delivery_stop(delivery, error=health.ENDPOINT_DISABLED)
        return None

    # An attempt still open here was cut short by a dead worker: say so in the log (a
    # delivery never attempted has none to look for).
    if delivery.attempt_count:
        delivery.attempts.filter(finished_at__isnull=True, error="").update(error=INTERRUPTED)
    request = common.render(delivery.monitor, delivery.variables)
    delivery.lease(task_id=task_id, now=now, until=now + common.lease_period())
    row_fields_update(delivery, fields=Delivery.LEASED_FIELDS)
    attempt = DeliveryAttempt(
        delivery=delivery,
        number=delivery.attempt_count,
        started_at=now,
        url=templating.redact_url(request.url),
        task_id=task_id,
    )
    row_insert(attempt)
    return _Claim(delivery=delivery, attempt=attempt, request=request)


def _send(claim: _Claim, *, now: datetime) -> transport.AttemptResult:
    delivery = claim.delivery
    body = delivery.body.encode()
    signature = signing.build_headers(
        secrets=webhook_secrets_for_signing(fleet_id=delivery.fleet_id, now=now),
        msg_id=delivery.webhook_id,
        timestamp=int(now.timestamp()),
        body=body,
    )
    # The signature headers come last: a webhook attribute cannot override them.
    headers = {**claim.request.headers, **signature}
    return transport.post(
        session=transport.shared_session(allow_private=settings.FLEETMON_ALLOW_PRIVATE_WEBHOOKS),
        url=claim.request.url,
        body=body,
        headers=headers,
        connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT,
        read_timeout=settings.WEBHOOK_READ_TIMEOUT,
    )


def _describe(result: transport.AttemptResult) -> str:
    return result.error or f"HTTP {result.status_code}"


@transaction.atomic
def _delivery_record(claim: _Claim, *, result: transport.AttemptResult, task_id: str, now: datetime) -> AttemptOutcome:
    locked = _delivery_locked(claim.delivery.pk, health_sql=health.ENDPOINT_FAILING_SQL, with_monitor=False)
    # The monitor by a statement of its own, after the lock: the locking statement's snapshot
    # predates its wait for the lock, so a failure committed meanwhile that made the monitor
    # Failed (or disabled its endpoint) would go unseen there, and this success not end it.
    monitor = _monitor_read(locked[0].monitor_id) if locked is not None else None
    if locked is None or monitor is None:
        raise Delivery.DoesNotExist(f"delivery {claim.delivery.pk} was deleted during its attempt")
    delivery, endpoint_failing = locked
    delivery.monitor = monitor
    attempt = claim.attempt
    attempt.finished_at = now
    attempt.status_code = result.status_code
    attempt.duration_ms = result.duration_ms
    attempt.response_excerpt = result.response_excerpt
    attempt.error = result.error
    row_fields_update(attempt, fields=DeliveryAttempt.OUTCOME_FIELDS)
    WEBHOOK_ATTEMPTS.labels("ok" if result.ok else "failed").inc()
    WEBHOOK_ATTEMPT_SECONDS.observe(result.duration_ms / 1000)

    if result.ok:
        if delivery.state == DeliveryState.PENDING:
            delivery.mark_delivered(now=now)
            row_fields_update(delivery, fields=Delivery.DELIVERED_FIELDS)
            DELIVERIES_FINISHED.labels("delivered").inc()
        # The flag is read by the statement that locked the delivery (in its snapshot), the
        # monitor by the next one: a failure neither saw can be ordered after this success and
        # counts from the latest committed streak, and one committed in between that made the
        # monitor Failed is ended here, in order. With neither there is nothing to end (the
        # usual case, two statements saved).
        if not delivery.is_test and (endpoint_failing or delivery.monitor.status == MonitorStatus.FAILED):
            health.webhook_health_succeeded(monitor=delivery.monitor, now=now)
        return AttemptOutcome(attempt=attempt)

    if not delivery.is_held_by(task_id):
        # Our lease ran out mid-request and another task owns what happens next.
        if not delivery.is_test:
            health.webhook_health_failed(monitor=delivery.monitor, gave_up=False, error=_describe(result), now=now)
        return AttemptOutcome(attempt=attempt)

    delay = _retry_delay(delivery)
    if delay is None or now + timedelta(seconds=delay) > delivery.expires_at:
        reason = "retry policy exhausted" if delay is None else "retention period over"
        _delivery_give_up(delivery, error=f"{_describe(result)}; gave up: {reason}", now=now)
        return AttemptOutcome(attempt=attempt)

    if not delivery.is_test and health.webhook_health_failed(
        monitor=delivery.monitor, gave_up=False, error=_describe(result), now=now
    ):
        _delivery_stop(delivery, error=f"{_describe(result)}; gave up: {health.ENDPOINT_DISABLED}")
        return AttemptOutcome(attempt=attempt)
    next_attempt_at = now + timedelta(seconds=delay)
    # Same task id on a countdown retry: the lease stays ours through the countdown.
    by_countdown = common.celery_countdown_ok(delay)
    delivery.schedule_retry(
        task_id=task_id,
        error=_describe(result),
        at=next_attempt_at,
        hold_until=next_attempt_at + common.lease_period() if by_countdown else None,
    )
    delivery.save()
    return AttemptOutcome(attempt=attempt, retry_in=delay if by_countdown else None)


def _retry_delay(delivery: Delivery) -> int | None:
    """Seconds until the next attempt, or None when the retry policy allows no more."""
    if delivery.is_test:
        return None  # a test send reports one attempt, it does not keep knocking
    policy = delivery.monitor.spec.retry_policy
    retries_done = delivery.attempt_count - delivery.retry_base - 1
    allowed = {"None": 1, "Bounded": policy.retry_number, "Always": None}[policy.policy]
    if allowed is not None and retries_done >= allowed:
        return None
    return policy.retry_delay


def _delivery_stop(delivery: Delivery, *, error: str) -> None:
    delivery.give_up(error=error)
    delivery.save()
    DELIVERIES_FINISHED.labels("failed").inc()
    logger.warning("delivery %s failed: %s", delivery.pk, error)


def _delivery_give_up(delivery: Delivery, *, error: str, now: datetime) -> None:
    """Stop a delivery that failed, counting it against the webhook's health."""
    _delivery_stop(delivery, error=error)
    if not delivery.is_test:
        health.webhook_health_failed(monitor=delivery.monitor, gave_up=True, error=error, now=now)

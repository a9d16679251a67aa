"""The health of a monitor's webhook, Svix-style: a failing endpoint is shown, then disabled.

A monitor has one webhook (its target template, even when `$vin` makes the URL differ per
vehicle): that is "the endpoint", and WebhookHealth keeps its failure streak. Test sends
never count. The streak

* turns a Running monitor `Failed` (still sending) at FLEETMON_FAILING_THRESHOLD failed
  attempts in a row, or when a delivery gives up;
* **disables** the endpoint once a failure comes FLEETMON_ENDPOINT_DISABLE_AFTER or more
  after the streak's first failure (`failing_since`) with no success in between: the monitor
  is `Failed` with that reason, its pending deliveries give up with "endpoint disabled", and
  any delivery reaching its next attempt meanwhile does too, without sending;
* ends on a success, a resume (`monitor_resumed`) or the replay of a delivery, which all
  re-enable the endpoint.

Lock order: the monitor's row, then its WebhookHealth row, as a resume takes them
(monitors.services.monitor_set_status, then webhook_health_reset); the other order could
deadlock with a resume. Callers recording an attempt hold the delivery's row before both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef

from fleetmon_project.isodates import format_rfc3339
from fleetmon_project.metrics import DELIVERIES_FINISHED, WEBHOOK_ENDPOINTS_DISABLED
from monitors.models import Monitor, MonitorStatus
from notifications.models import Delivery, DeliveryAttempt, DeliveryState, WebhookHealth

logger = logging.getLogger(__name__)

ENDPOINT_DISABLED = "endpoint disabled"


@dataclass(frozen=True)
class Streak:
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    disabled_at: datetime | None = None


def streak_after_failure(streak: Streak, *, now: datetime, disable_after: timedelta) -> Streak:
    """The streak once a failure at `now` is counted: it starts the streak if none is running,
    and disables the endpoint when the streak has lasted `disable_after` by then."""
    failing_since = streak.failing_since or now
    disabled_at = streak.disabled_at
    if disabled_at is None and now - failing_since >= disable_after:
        disabled_at = now
    return Streak(streak.consecutive_failures + 1, failing_since, disabled_at)


def _disable_after() -> timedelta:
    return timedelta(seconds=settings.FLEETMON_ENDPOINT_DISABLE_AFTER)


def _health_exists(condition: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM {WebhookHealth._meta.db_table} AS health"
        f" WHERE health.monitor_id = delivery.monitor_id AND ({condition}))"
    )


# For the statement that reads (and locks) a delivery, aliased `delivery`: whether its
# monitor's endpoint is disabled, read in that statement rather than in one more round trip.
ENDPOINT_DISABLED_SQL = _health_exists("health.disabled_at IS NOT NULL")
# Likewise: whether its endpoint has a failure streak (or is disabled), which a success must end.
ENDPOINT_FAILING_SQL = _health_exists(
    "health.consecutive_failures > 0 OR health.failing_since IS NOT NULL OR health.disabled_at IS NOT NULL"
)


def webhook_health_reset(*, monitor: Monitor) -> None:
    """Start the failure streak over and re-enable the endpoint."""
    WebhookHealth.objects.filter(monitor=monitor).update(consecutive_failures=0, failing_since=None, disabled_at=None)


def webhook_health_succeeded(*, monitor: Monitor, now: datetime) -> None:
    Monitor.objects.filter(pk=monitor.pk, status=MonitorStatus.FAILED, deleted_at__isnull=True).update(
        status=MonitorStatus.RUNNING, status_reason="", updated_at=now
    )
    webhook_health_reset(monitor=monitor)


def webhook_health_reenable(*, monitor: Monitor, now: datetime) -> None:
    """An operator's replay re-enables a disabled endpoint, as a resume would: a fresh streak,
    and a monitor Failed for it Running again."""
    Monitor.objects.select_for_update(no_key=True).filter(pk=monitor.pk).values_list("pk", flat=True).first()
    if WebhookHealth.objects.select_for_update().filter(monitor=monitor, disabled_at__isnull=False).exists():
        webhook_health_succeeded(monitor=monitor, now=now)
        logger.info("webhook endpoint re-enabled by a replay", extra={"monitor": monitor.pk})


def webhook_health_failed(*, monitor: Monitor, gave_up: bool, error: str, now: datetime) -> bool:
    """Count a failure (`error` says what failed); True when the endpoint is disabled, so the
    caller sends no more. A Running monitor turns Failed at the threshold, when a delivery
    gives up, or when the endpoint is disabled; Paused and deleted monitors keep their status."""
    # NO KEY: events and deliveries being inserted for the monitor (foreign-key share locks)
    # need not wait for a failure to be counted.
    Monitor.objects.select_for_update(no_key=True).filter(pk=monitor.pk).values_list("pk", flat=True).first()
    health, _ = WebhookHealth.objects.select_for_update().get_or_create(monitor=monitor)
    before = Streak(health.consecutive_failures, health.failing_since, health.disabled_at)
    after = streak_after_failure(before, now=now, disable_after=_disable_after())
    health.consecutive_failures, health.failing_since, health.disabled_at = (
        after.consecutive_failures,
        after.failing_since,
        after.disabled_at,
    )
    health.save()
    if after.disabled_at is not None and before.disabled_at is None:
        _disable(monitor=monitor, streak=after, error=error, now=now)
    elif gave_up or after.consecutive_failures >= settings.FLEETMON_FAILING_THRESHOLD:
        _set_failed(monitor=monitor, statuses=(MonitorStatus.RUNNING,), reason=_failing_reason(after, gave_up, error), now=now)
    return after.disabled_at is not None


def _failing_reason(streak: Streak, gave_up: bool, error: str) -> str:
    assert streak.failing_since is not None  # a counted failure always has its streak
    since = format_rfc3339(streak.failing_since)
    if gave_up:
        return f"webhook failing since {since}: a delivery gave up ({error})"
    return f"webhook failing since {since}: {streak.consecutive_failures} failed attempts in a row, the last: {error}"


def _set_failed(*, monitor: Monitor, statuses: tuple[str, ...], reason: str, now: datetime) -> None:
    Monitor.objects.filter(pk=monitor.pk, status__in=statuses, deleted_at__isnull=True).update(
        status=MonitorStatus.FAILED, status_reason=reason, updated_at=now
    )


def _disable(*, monitor: Monitor, streak: Streak, error: str, now: datetime) -> None:
    assert streak.failing_since is not None
    since = format_rfc3339(streak.failing_since)
    reason = (
        f"{ENDPOINT_DISABLED}: no successful attempt since {since} ({streak.consecutive_failures} failed, "
        f"FLEETMON_ENDPOINT_DISABLE_AFTER={settings.FLEETMON_ENDPOINT_DISABLE_AFTER}s); the last: {error}. "
        "Nothing is sent until the monitor is resumed or a delivery replayed."
    )
    # A Failed monitor's reason changes too: it no longer sends at all.
    _set_failed(monitor=monitor, statuses=(MonitorStatus.RUNNING, MonitorStatus.FAILED), reason=reason, now=now)
    stopped = _stop_pending(monitor=monitor, now=now)
    WEBHOOK_ENDPOINTS_DISABLED.inc()
    logger.warning(
        "webhook endpoint disabled after failing since %s: %d pending deliveries stopped",
        since,
        stopped,
        extra={"monitor": monitor.pk, "fleet": monitor.fleet_id},
    )


def _stop_pending(*, monitor: Monitor, now: datetime) -> int:
    """Give up the monitor's pending deliveries (they stay replayable). SKIP LOCKED, and not
    those with a request in flight: the task claiming or recording each of those sees the
    endpoint disabled and stops it itself, and this one need not wait for it."""
    in_flight = DeliveryAttempt.objects.filter(delivery=OuterRef("pk"), finished_at__isnull=True)
    stopping = (
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(~Exists(in_flight), monitor=monitor, state=DeliveryState.PENDING, is_test=False)
        .values_list("pk", flat=True)
    )
    stopped = Delivery.objects.filter(pk__in=list(stopping)).update(
        **Delivery.given_up_fields(error=ENDPOINT_DISABLED), updated_at=now
    )
    DELIVERIES_FINISHED.labels("failed").inc(stopped)
    return stopped

"""What the delivery services share: the monitor's rendered webhook request, the clock, the
lease and the broker's limit on countdowns."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from monitors.models import Monitor
from notifications import templating


def clock(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def lease_period() -> timedelta:
    return timedelta(seconds=settings.FLEETMON_DELIVERY_LEASE)


def celery_countdown_ok(seconds: int) -> bool:
    # On a Redis broker a countdown task sits unacknowledged in a worker until it is due; one
    # waiting longer than the visibility timeout is redelivered to another worker meanwhile.
    # Long waits are left to the sweeper instead.
    return seconds * 2 <= settings.CELERY_VISIBILITY_TIMEOUT


def render(monitor: Monitor, variables: dict[str, str]) -> templating.RenderedRequest:
    hook = monitor.spec.webhook
    return templating.render_request_parts(target=hook.target, attributes=hook.attributes, variables=variables)

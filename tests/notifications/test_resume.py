"""Resuming a Failed monitor (`PUT …/status` `Running`): its webhook's failure streak starts
over; its deliveries keep their state (given-up ones stay replayable, pending ones keep their
retry schedule).

Attempts are driven by calling the service with an injected `now`, as the task would."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitors.models import MonitorStatus
from monitors.services import monitor_set_status
from notifications.models import DeliveryState, WebhookHealth
from tests.notifications.factories import attempt, delivery_for, raise_event, webhook_monitor

pytestmark = pytest.mark.django_db

ALWAYS = {"policy": "Always", "retryDelay": 1}
BOUNDED_1 = {"policy": "Bounded", "retryNumber": 1, "retryDelay": 60}


def status_url(monitor) -> str:
    return f"/api/v1/fleets/{monitor.fleet_id}/monitors/{monitor.pk}/status"


def failing_streak(monitor) -> int:
    return WebhookHealth.objects.get(monitor=monitor).consecutive_failures


@pytest.fixture
def threshold(settings):
    settings.FLEETMON_FAILING_THRESHOLD = 3
    return 3


def fail_until_failed(*, fleet, receiver, threshold: int):
    """A monitor made Failed by `threshold` failed attempts of its one (still pending) delivery."""
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=ALWAYS)
    receiver.default_status = 500
    delivery = delivery_for(raise_event(monitor=monitor))
    start = delivery.next_attempt_at
    for second in range(threshold):
        attempt(delivery, start + timedelta(seconds=second))
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.FAILED
    return monitor, delivery, start


def test_running_resumes_a_failed_monitor_and_starts_its_failure_streak_over(api, fleet, receiver, threshold):
    monitor, delivery, start = fail_until_failed(fleet=fleet, receiver=receiver, threshold=threshold)

    response = api.put(status_url(monitor), {"status": "Running"}, format="json")

    assert response.status_code == 202
    assert response.json()["status"] == "Running"
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.RUNNING and failing_streak(monitor) == 0
    assert monitor.generation == 1, "a Failed monitor kept evaluating: its vehicles keep their state"
    # The pending delivery keeps retrying; the monitor fails again only after a new streak.
    for second in range(threshold, 2 * threshold - 1):
        attempt(delivery, start + timedelta(seconds=second))
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.RUNNING
    attempt(delivery, start + timedelta(seconds=2 * threshold - 1))
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.FAILED


def test_resume_leaves_given_up_deliveries_replayable_and_pending_ones_on_schedule(api, fleet, receiver, threshold):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=BOUNDED_1)
    receiver.default_status = 500
    given_up = delivery_for(raise_event(monitor=monitor))
    pending = delivery_for(raise_event(monitor=monitor))
    start = given_up.next_attempt_at
    attempt(given_up, start)
    attempt(given_up, start + timedelta(seconds=60))
    attempt(pending, start + timedelta(seconds=60))
    pending.refresh_from_db()
    scheduled = pending.next_attempt_at
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.FAILED

    monitor_set_status(monitor=monitor, status=MonitorStatus.RUNNING)

    given_up.refresh_from_db()
    pending.refresh_from_db()
    assert given_up.state == DeliveryState.FAILED
    assert (pending.state, pending.next_attempt_at) == (DeliveryState.PENDING, scheduled)
    receiver.default_status = 200
    assert attempt(pending, scheduled).attempt.ok
    replay = api.post(f"/api/v1/fleets/{monitor.fleet_id}/monitors/{monitor.pk}/deliveries/{given_up.pk}/retry")
    assert replay.status_code == 202 and replay.json()["state"] == "pending"
    given_up.refresh_from_db()
    assert attempt(given_up, given_up.next_attempt_at).attempt.ok
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.RUNNING


def test_resuming_a_failed_monitor_that_was_paused_also_starts_the_streak_over(fleet, receiver, threshold):
    monitor, delivery, start = fail_until_failed(fleet=fleet, receiver=receiver, threshold=threshold)
    monitor_set_status(monitor=monitor, status=MonitorStatus.PAUSED)

    monitor = monitor_set_status(monitor=monitor, status=MonitorStatus.RUNNING)

    assert monitor.status == MonitorStatus.RUNNING and failing_streak(monitor) == 0
    attempt(delivery, start + timedelta(seconds=threshold))
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.RUNNING, "one failure after the resume is not a streak"


def test_setting_running_on_a_running_monitor_keeps_its_streak(fleet, receiver, threshold):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=ALWAYS)
    receiver.default_status = 500
    delivery = delivery_for(raise_event(monitor=monitor))
    attempt(delivery, delivery.next_attempt_at)

    monitor_set_status(monitor=monitor, status=MonitorStatus.RUNNING)

    assert failing_streak(monitor) == 1

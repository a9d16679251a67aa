"""Endpoint health, Svix-style: a monitor's webhook failing without a single success for
FLEETMON_ENDPOINT_DISABLE_AFTER is disabled (monitor Failed with a reason, nothing sent) until
a resume or a replay re-enables it.

Attempts are driven by calling the service with an injected `now`, as the task would."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from monitors.models import Monitor, MonitorStatus
from monitors.services import monitor_set_status
from notifications import services, transport
from notifications.models import Delivery, DeliveryAttempt, DeliveryState, WebhookHealth
from notifications.services import attempts
from notifications.services.health import Streak, streak_after_failure
from tests.notifications.factories import attempt, delivery_for, raise_event, webhook_monitor
from tests.reference import assert_api_schema

ALWAYS = {"policy": "Always", "retryDelay": 60}
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


# --- The rule, without a database ----------------------------------------------------------


def test_the_first_failure_starts_the_streak():
    after = streak_after_failure(Streak(), now=T0, disable_after=HOUR)

    assert after == Streak(consecutive_failures=1, failing_since=T0, disabled_at=None)


def test_later_failures_keep_the_streak_start_and_do_not_disable_before_the_duration():
    streak = Streak(consecutive_failures=7, failing_since=T0)

    after = streak_after_failure(streak, now=T0 + HOUR - timedelta(seconds=1), disable_after=HOUR)

    assert after == Streak(consecutive_failures=8, failing_since=T0, disabled_at=None)


def test_a_failure_once_the_streak_has_lasted_the_duration_disables_the_endpoint():
    after = streak_after_failure(Streak(3, T0), now=T0 + HOUR, disable_after=HOUR)

    assert after.disabled_at == T0 + HOUR


def test_a_disabled_endpoint_keeps_the_time_it_was_disabled():
    disabled = Streak(4, T0, disabled_at=T0 + HOUR)

    after = streak_after_failure(disabled, now=T0 + 3 * HOUR, disable_after=HOUR)

    assert after.disabled_at == T0 + HOUR and after.consecutive_failures == 5


def test_one_failure_after_a_long_healthy_time_is_not_a_long_streak():
    # A streak runs from its first failure, not from the last success.
    after = streak_after_failure(Streak(), now=T0 + 100 * HOUR, disable_after=HOUR)

    assert after.disabled_at is None


# --- Recording attempts --------------------------------------------------------------------


def health(monitor) -> WebhookHealth:
    return WebhookHealth.objects.get(monitor=monitor)


def disabled_total() -> float:
    return REGISTRY.get_sample_value("fleetmon_webhook_endpoints_disabled_total") or 0.0


@pytest.fixture
def disable_after(settings):
    settings.FLEETMON_ENDPOINT_DISABLE_AFTER = 3600
    settings.FLEETMON_FAILING_THRESHOLD = 3
    return HOUR


@pytest.fixture
def failing(fleet, receiver, disable_after):
    """A monitor whose webhook answers 500, with one delivery whose first attempt failed."""
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=ALWAYS)
    receiver.default_status = 500
    delivery = delivery_for(raise_event(monitor=monitor))
    start = delivery.next_attempt_at
    attempt(delivery, start)
    return monitor, delivery, start


def disable(monitor, delivery, start):
    """Fail `delivery` again once the streak has lasted FLEETMON_ENDPOINT_DISABLE_AFTER."""
    attempt(delivery, start + HOUR)
    monitor.refresh_from_db()
    delivery.refresh_from_db()


@pytest.mark.django_db
def test_failing_for_the_whole_duration_disables_the_endpoint_and_stops_the_delivery(failing, caplog):
    monitor, delivery, start = failing
    attempt(delivery, start + HOUR - 2 * MINUTE)
    assert health(monitor).disabled_at is None
    metric_before = disabled_total()

    with caplog.at_level(logging.WARNING, logger="notifications.health"):
        disable(monitor, delivery, start)

    assert health(monitor).disabled_at == start + HOUR and health(monitor).failing_since == start
    assert monitor.status == MonitorStatus.FAILED
    assert monitor.status_reason.startswith("endpoint disabled: no successful attempt since ")
    assert "the last: HTTP 500" in monitor.status_reason
    assert (delivery.state, delivery.last_error) == (DeliveryState.FAILED, "HTTP 500; gave up: endpoint disabled")
    assert delivery.next_attempt_at is None
    [record] = [r for r in caplog.records if "webhook endpoint disabled" in r.getMessage()]
    assert record.monitor == monitor.pk and record.fleet == monitor.fleet_id
    assert disabled_total() == metric_before + 1


@pytest.mark.django_db
def test_disabling_stops_the_other_pending_deliveries_but_not_one_whose_request_is_in_flight(failing, receiver):
    monitor, delivery, start = failing
    waiting = delivery_for(raise_event(monitor=monitor))
    in_flight = delivery_for(raise_event(monitor=monitor))
    DeliveryAttempt.objects.create(delivery=in_flight, number=1, started_at=start, url=receiver.url)

    disable(monitor, delivery, start)

    waiting.refresh_from_db()
    in_flight.refresh_from_db()
    assert (waiting.state, waiting.last_error) == (DeliveryState.FAILED, "endpoint disabled")
    assert in_flight.state == DeliveryState.PENDING, "its own task stops it, nobody waits on its lock"
    sent = len(receiver.requests)
    assert attempt(in_flight, start + 2 * HOUR).attempt is None
    in_flight.refresh_from_db()
    assert (in_flight.state, in_flight.last_error) == (DeliveryState.FAILED, "endpoint disabled")
    assert len(receiver.requests) == sent


@pytest.mark.django_db
def test_new_events_of_a_disabled_endpoint_are_kept_but_not_sent(api, failing, receiver):
    monitor, delivery, start = failing
    disable(monitor, delivery, start)
    sent = len(receiver.requests)

    event = raise_event(monitor=monitor)
    later = delivery_for(event)
    outcome = attempt(later, later.next_attempt_at)

    assert outcome.attempt is None and len(receiver.requests) == sent
    later.refresh_from_db()
    assert (later.state, later.last_error, later.attempt_count) == (DeliveryState.FAILED, "endpoint disabled", 0)
    events = api.get(f"/api/v1/fleets/{monitor.fleet_id}/monitors/{monitor.pk}/events").json()
    assert event.pk in [item["id"] for item in events["_embedded"]["events"]]
    assert health(monitor).consecutive_failures == 2, "a delivery not sent is no failed attempt"


@pytest.mark.django_db
def test_a_success_restarts_the_streak_so_failures_around_it_do_not_add_up(failing, receiver):
    monitor, delivery, start = failing
    receiver.default_status = 200
    healthy = delivery_for(raise_event(monitor=monitor))
    assert attempt(healthy, start + HOUR / 2).attempt.ok
    receiver.default_status = 500

    attempt(delivery, start + HOUR)

    assert health(monitor).disabled_at is None and health(monitor).failing_since == start + HOUR
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.RUNNING


@pytest.mark.django_db
def test_a_success_on_a_healthy_endpoint_writes_neither_its_monitor_nor_its_health(fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url)
    delivery = delivery_for(raise_event(monitor=monitor))

    with CaptureQueriesContext(connection) as captured:
        assert attempt(delivery, delivery.next_attempt_at).attempt.ok

    written = [query["sql"] for query in captured.captured_queries if query["sql"].startswith("UPDATE")]
    assert not any('"monitors_monitor"' in sql or '"notifications_webhookhealth"' in sql for sql in written)
    assert [sql.split('"')[1] for sql in written] == ["notifications_delivery", "notifications_deliveryattempt", "notifications_delivery"]


@pytest.mark.django_db
def test_a_failure_counted_while_a_request_was_in_flight_is_ended_by_its_success(fleet, receiver, disable_after):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=ALWAYS)
    succeeding = delivery_for(raise_event(monitor=monitor))
    failing = delivery_for(raise_event(monitor=monitor))
    start = succeeding.next_attempt_at
    claim = attempts._delivery_claim(delivery_id=succeeding.pk, task_id="succeeding", now=start)
    receiver.default_status = 500
    due = failing.next_attempt_at
    for minute in range(3):  # the threshold: the monitor turns Failed
        attempt(failing, due + minute * MINUTE)
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.FAILED

    ok = transport.AttemptResult(status_code=200, duration_ms=5, ok=True)
    attempts._delivery_record(claim, result=ok, task_id="succeeding", now=due + 3 * MINUTE)

    assert (health(monitor).consecutive_failures, health(monitor).failing_since) == (0, None)
    monitor.refresh_from_db()
    assert (monitor.status, monitor.status_reason) == (MonitorStatus.RUNNING, "")


@pytest.mark.django_db
def test_a_test_send_reaches_a_disabled_endpoint_and_does_not_enable_it(failing, receiver):
    monitor, delivery, start = failing
    disable(monitor, delivery, start)
    receiver.default_status = 200

    result = services.delivery_send_test(monitor=monitor, now=start + 2 * HOUR)

    assert result.ok
    assert health(monitor).disabled_at is not None
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.FAILED


@pytest.mark.django_db
def test_disabling_a_paused_monitor_keeps_it_paused_but_stops_its_deliveries(failing):
    monitor, delivery, start = failing
    monitor_set_status(monitor=monitor, status=MonitorStatus.PAUSED)
    attempt(delivery, start + MINUTE)  # the streak the pause left running goes on

    disable(monitor, delivery, start)

    assert monitor.status == MonitorStatus.PAUSED
    assert delivery.state == DeliveryState.FAILED and health(monitor).disabled_at is not None


# --- Re-enabling -------------------------------------------------------------------------


def monitor_url(monitor) -> str:
    return f"/api/v1/fleets/{monitor.fleet_id}/monitors/{monitor.pk}"


@pytest.mark.django_db
def test_replaying_a_delivery_re_enables_the_endpoint_and_sends_it(api, failing, receiver):
    monitor, delivery, start = failing
    disable(monitor, delivery, start)
    receiver.default_status = 200

    response = api.post(f"{monitor_url(monitor)}/deliveries/{delivery.pk}/retry")

    assert response.status_code == 202 and response.json()["state"] == "pending"
    monitor.refresh_from_db()
    assert (monitor.status, monitor.status_reason) == (MonitorStatus.RUNNING, "")
    assert (health(monitor).disabled_at, health(monitor).failing_since, health(monitor).consecutive_failures) == (
        None,
        None,
        0,
    )
    delivery.refresh_from_db()
    assert attempt(delivery, delivery.next_attempt_at).attempt.ok


@pytest.mark.django_db
def test_a_replay_that_fails_again_starts_a_new_streak_rather_than_disabling_at_once(failing):
    monitor, delivery, start = failing
    disable(monitor, delivery, start)
    services.delivery_replay(delivery=delivery, now=start + 2 * HOUR)

    attempt(delivery, start + 2 * HOUR)

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PENDING, "it keeps retrying under its policy"
    assert health(monitor).disabled_at is None and health(monitor).failing_since == start + 2 * HOUR


@pytest.mark.django_db
def test_resuming_the_monitor_re_enables_the_endpoint(api, failing, receiver):
    monitor, delivery, start = failing
    disable(monitor, delivery, start)
    receiver.default_status = 200

    response = api.put(f"{monitor_url(monitor)}/status", {"status": "Running"}, format="json")

    assert response.status_code == 202 and response.json()["status"] == "Running"
    assert (health(monitor).disabled_at, health(monitor).failing_since) == (None, None)
    later = delivery_for(raise_event(monitor=monitor))
    assert attempt(later, later.next_attempt_at).attempt.ok
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED, "a resume replays nothing: stopped deliveries stay replayable"


# --- What operators see ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_monitor_api_says_why_a_monitor_is_failed_and_keeps_the_reference_shape(api, failing):
    monitor, delivery, start = failing
    attempt(delivery, start + MINUTE)
    attempt(delivery, start + 2 * MINUTE)

    body = api.get(monitor_url(monitor)).json()

    assert body["status"] == "Failed"
    assert body["statusReason"].startswith("webhook failing since ")
    assert body["statusReason"].endswith("3 failed attempts in a row, the last: HTTP 500")
    assert_api_schema(body, "Monitor")
    disable(monitor, delivery, start)
    assert api.get(monitor_url(monitor)).json()["statusReason"].startswith("endpoint disabled: ")


@pytest.mark.django_db
def test_a_running_monitor_has_no_status_reason(api, fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=ALWAYS)

    body = api.get(monitor_url(monitor)).json()

    assert body["status"] == "Running" and body["statusReason"] is None
    assert_api_schema(body, "Monitor")


@pytest.mark.django_db
def test_a_delivery_giving_up_says_so_in_the_reason(fleet, receiver, disable_after):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry={"policy": "None", "retryDelay": 60})
    receiver.default_status = 500
    delivery = delivery_for(raise_event(monitor=monitor))
    start = delivery.next_attempt_at
    attempt(delivery, start)

    attempt(delivery, start + MINUTE)

    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.FAILED
    assert monitor.status_reason.endswith("a delivery gave up (HTTP 500; gave up: retry policy exhausted)")


@pytest.mark.django_db
def test_the_admin_monitor_page_shows_the_reason(admin_client, failing):
    monitor, delivery, start = failing
    disable(monitor, delivery, start)

    page = admin_client.get(f"/admin/monitors/monitor/{monitor.pk}/change/")

    assert page.status_code == 200
    assert "endpoint disabled: no successful attempt since" in page.content.decode()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and snapshots: PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_failure_committed_while_a_success_waited_for_its_delivery_is_ended_by_it(fleet, receiver, enqueued):
    """The success's locking read takes its snapshot before it waits for the lock: the monitor
    turned Failed by the transaction it waited for must be read after the lock, not in it."""
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=ALWAYS)
    delivery = delivery_for(raise_event(monitor=monitor))
    start = delivery.created_at
    claim = attempts._delivery_claim(delivery_id=delivery.pk, task_id="succeeding", now=start)
    assert claim is not None
    holding, release = threading.Event(), threading.Event()

    def fail_while_holding_the_delivery() -> None:
        with transaction.atomic():
            Delivery.objects.select_for_update().get(pk=delivery.pk)
            Monitor.objects.filter(pk=monitor.pk).update(status=MonitorStatus.FAILED, status_reason="failing")
            holding.set()
            release.wait(10)
        connection.close()

    def record_success() -> None:
        ok = transport.AttemptResult(status_code=200, duration_ms=5, ok=True)
        attempts._delivery_record(claim, result=ok, task_id="succeeding", now=start + MINUTE)
        connection.close()

    holder, recorder = threading.Thread(target=fail_while_holding_the_delivery), threading.Thread(target=record_success)
    holder.start()
    try:
        assert holding.wait(10)
        recorder.start()
        assert _a_backend_waits_for_a_lock(within=10)
    finally:
        release.set()
        holder.join()
    recorder.join(10)

    monitor.refresh_from_db()
    assert (monitor.status, monitor.status_reason) == (MonitorStatus.RUNNING, "")
    assert Delivery.objects.get(pk=delivery.pk).state == DeliveryState.DELIVERED


def _a_backend_waits_for_a_lock(*, within: float) -> bool:
    deadline = time.monotonic() + within
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False

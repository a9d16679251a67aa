"""Sending: the HTTP request, signing, retry policies, retention, monitor status, leases.

Real HTTP to the loopback receiver, no worker: the attempts are driven by calling the
service with an injected `now`, as the task would at those instants.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from fleetmon_project.receiver import WebhookReceiver
from monitors.models import MonitorStatus
from monitors.services import monitor_delete, monitor_set_status
from notifications import guarded_connections, services, tasks, transport
from notifications.models import Delivery, DeliveryState
from notifications.services import attempts
from tests.notifications.factories import (
    EventFactory,
    attempt,
    delivery_for,
    raise_event,
    raise_events,
    webhook_monitor,
)
from tests.notifications.support import assert_monitor_events, verify_signature
from tests.telemetry.factories import VehicleFactory

pytestmark = pytest.mark.django_db

BOUNDED_3 = {"policy": "Bounded", "retryNumber": 3, "retryDelay": 1}
NONE = {"policy": "None", "retryDelay": 1}
ALWAYS = {"policy": "Always", "retryDelay": 1}


def test_request_carries_attributes_signature_and_a_valid_body(fleet, receiver):
    monitor = webhook_monitor(
        fleet=fleet,
        target=f"{receiver.url}/hooks/fleetmon?source=fm",
        attributes=[
            {"type": "Header", "key": "X-Api-Key", "value": "k-123"},
            {"type": "Header", "key": "X-Vehicle", "value": "$vin"},
            {"type": "Query", "key": "fleet", "value": "$fleetID"},
            {"type": "Query", "key": "vehicle", "value": "$vid"},
            {"type": "Body", "key": "monitor", "value": "$monitorID"},
            {"type": "Body", "key": "note", "value": "a&b=c $vin"},
        ],
    )
    event = raise_event(monitor=monitor)
    delivery = delivery_for(event)

    outcome = attempt(delivery, delivery.next_attempt_at)
    assert outcome.attempt.ok

    (request,) = receiver.received()
    assert request.path == "/hooks/fleetmon"
    assert request.query == {"source": ["fm"], "fleet": [fleet.pk], "vehicle": [event.vehicle_public_id]}
    assert request.headers["x-api-key"] == "k-123"
    assert request.headers["x-vehicle"] == event.vin
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == delivery.webhook_id
    assert request.body == delivery.body.encode()

    body = request.json()
    assert_monitor_events(body)
    assert body["monitorId"] == monitor.pk
    assert body["attributes"] == [
        {"key": "monitor", "value": monitor.pk},
        {"key": "note", "value": f"a&b=c {event.vin}"},
    ]
    (sent,) = body["events"]
    assert sent["vin"] == event.vin and sent["fleetId"] == fleet.pk and sent["refresh"] is False
    assert sent["values"] == event.values

    secret = services.webhook_secret_get_or_create(fleet=fleet).secret
    assert verify_signature(secret=secret, headers=request.headers, body=request.body)
    assert not verify_signature(secret=secret, headers=request.headers, body=request.body + b" ")

    outcome.attempt.refresh_from_db()
    # The log keeps the URL, minus the query values that often carry tokens.
    assert outcome.attempt.url == f"{receiver.url}/hooks/fleetmon?source=***&fleet=***&vehicle=***"
    assert outcome.attempt.status_code == 200 and outcome.attempt.response_excerpt == '{"ok": true}'


def test_vin_in_url_sends_one_vehicle_per_request(fleet, receiver, t0):
    monitor = webhook_monitor(
        fleet=fleet,
        target=f"{receiver.url}/hook",
        attributes=[{"type": "Query", "key": "vin", "value": "$vin"}],
        batch={"size": 2, "timeWindow": 60},
    )
    a, b = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    for vehicle in (a, b, b, a):
        services.deliveries_create_for_events(events=[EventFactory(monitor=monitor, vehicle=vehicle)], now=t0)
    for delivery in Delivery.objects.filter(monitor=monitor):
        attempt(delivery, t0)

    requests = receiver.received()
    assert len(requests) == 2
    for request in requests:
        assert_monitor_events(request.json())
        assert {e["vin"] for e in request.json()["events"]} == set(request.query["vin"])
    assert sorted(r.query["vin"][0] for r in requests) == sorted([a.vin, b.vin])


def test_bounded_3_failing_twice_then_ok_makes_exactly_3_attempts(fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=BOUNDED_3)
    receiver.script(500, 500, 200)
    event = raise_event(monitor=monitor)
    delivery = delivery_for(event)
    start = delivery.next_attempt_at

    assert attempt(delivery, start).retry_in == 1
    # Not due yet: a duplicate message arriving early sends nothing.
    assert attempt(delivery, start + timedelta(seconds=0.5)).attempt is None
    assert attempt(delivery, start + timedelta(seconds=1)).retry_in == 1
    assert attempt(delivery, start + timedelta(seconds=2)).attempt.ok

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempt_count == 3
    assert [a.status_code for a in delivery.attempts.all()] == [500, 500, 200]
    assert len({r.headers["webhook-id"] for r in receiver.received()}) == 1
    assert len({r.body for r in receiver.received()}) == 1  # identical bytes every time


def test_attempts_and_finished_deliveries_are_counted_for_metrics(fleet, receiver):
    def sample(name: str, outcome: str) -> float:
        return REGISTRY.get_sample_value(name, {"outcome": outcome}) or 0.0

    before = {
        key: sample(*key)
        for key in [
            ("fleetmon_webhook_attempts_total", "ok"),
            ("fleetmon_webhook_attempts_total", "failed"),
            ("fleetmon_deliveries_total", "delivered"),
            ("fleetmon_deliveries_total", "failed"),
        ]
    }
    seconds_before = REGISTRY.get_sample_value("fleetmon_webhook_attempt_seconds_count") or 0.0
    receiver.script(500, 200)
    delivered = delivery_for(raise_event(monitor=webhook_monitor(fleet=fleet, target=receiver.url, retry=BOUNDED_3)))
    attempt(delivered, delivered.next_attempt_at)
    attempt(delivered, delivered.next_attempt_at + timedelta(seconds=1))
    receiver.default_status = 503
    failed = delivery_for(raise_event(monitor=webhook_monitor(fleet=fleet, target=receiver.url, retry=NONE)))
    attempt(failed, failed.next_attempt_at)
    attempt(failed, failed.next_attempt_at + timedelta(seconds=1))  # policy None: one retry

    assert {key: sample(*key) - value for key, value in before.items()} == {
        ("fleetmon_webhook_attempts_total", "ok"): 1,
        ("fleetmon_webhook_attempts_total", "failed"): 3,
        ("fleetmon_deliveries_total", "delivered"): 1,
        ("fleetmon_deliveries_total", "failed"): 1,
    }
    assert REGISTRY.get_sample_value("fleetmon_webhook_attempt_seconds_count") == seconds_before + 4


def test_bounded_gives_up_after_retry_number_retries(fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=BOUNDED_3)
    receiver.default_status = 503
    event = raise_event(monitor=monitor)
    delivery = delivery_for(event)
    start = delivery.next_attempt_at
    for second in range(4):
        attempt(delivery, start + timedelta(seconds=second))
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED and delivery.attempt_count == 4
    assert delivery.last_error == "HTTP 503; gave up: retry policy exhausted"


def test_none_policy_makes_exactly_2_attempts_then_fails(fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=NONE)
    receiver.default_status = 500
    event = raise_event(monitor=monitor)
    delivery = delivery_for(event)
    start = delivery.next_attempt_at

    assert attempt(delivery, start).retry_in == 1
    assert attempt(delivery, start + timedelta(seconds=1)).retry_in is None
    assert attempt(delivery, start + timedelta(seconds=5)).attempt is None

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.attempt_count == 2 and len(receiver.received()) == 2


def test_always_policy_keeps_retrying_until_success(fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=ALWAYS)
    receiver.default_status = 502
    event = raise_event(monitor=monitor)
    delivery = delivery_for(event)
    start = delivery.next_attempt_at

    for second in range(20):
        assert attempt(delivery, start + timedelta(seconds=second)).retry_in == 1
    receiver.default_status = 200
    assert attempt(delivery, start + timedelta(seconds=20)).attempt.ok
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempt_count == 21


def test_long_retry_delays_are_left_to_the_sweeper(fleet, receiver, settings):
    settings.CELERY_VISIBILITY_TIMEOUT = 3600
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry={"policy": "Always", "retryDelay": 2000})
    receiver.default_status = 500
    event = raise_event(monitor=monitor)
    delivery = delivery_for(event)

    start = delivery.next_attempt_at
    assert attempt(delivery, start).retry_in is None  # no 33-minute Celery countdown
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == start + timedelta(seconds=2000)
    assert delivery.in_flight_until is None and delivery.task_id == ""
    assert services.delivery_sweep(now=start + timedelta(seconds=1999)).requeued == []
    assert services.delivery_sweep(now=start + timedelta(seconds=2000)).requeued == [delivery.pk]


def test_retries_stop_at_the_retention_counted_from_when_the_event_was_raised(fleet, receiver, settings, t0):
    settings.FLEETMON_EVENT_RETENTION = 60
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry={"policy": "Always", "retryDelay": 25})
    receiver.default_status = 500
    # Telemetry from a week ago: the retention still runs from now, when the event is raised.
    event = raise_event(monitor=monitor, event_date=t0 - timedelta(days=7))
    delivery = delivery_for(event)
    raised = delivery.next_attempt_at
    assert delivery.expires_at == event.created_at + timedelta(seconds=60)

    assert attempt(delivery, raised).retry_in == 25
    assert attempt(delivery, raised + timedelta(seconds=25)).retry_in == 25
    # The next one would be at +75s, past the retention: give up now.
    assert attempt(delivery, raised + timedelta(seconds=50)).retry_in is None
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.last_error.endswith("gave up: retention period over")


def test_a_pending_delivery_past_retention_is_not_sent(fleet, receiver, settings):
    settings.FLEETMON_EVENT_RETENTION = 60
    monitor = webhook_monitor(fleet=fleet, target=receiver.url)
    event = raise_event(monitor=monitor)
    delivery = delivery_for(event)
    assert attempt(delivery, delivery.next_attempt_at + timedelta(seconds=60)).attempt is None
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED and receiver.received() == []


def test_monitor_turns_failed_after_consecutive_failures_and_recovers(fleet, receiver, settings):
    settings.FLEETMON_FAILING_THRESHOLD = 3
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=ALWAYS)
    receiver.default_status = 500
    event = raise_event(monitor=monitor)
    delivery = delivery_for(event)
    start = delivery.next_attempt_at

    for second in range(2):
        attempt(delivery, start + timedelta(seconds=second))
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.RUNNING
    attempt(delivery, start + timedelta(seconds=2))
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.FAILED

    receiver.default_status = 200
    attempt(delivery, start + timedelta(seconds=3))
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.RUNNING


def test_a_delivery_giving_up_marks_the_monitor_failed(fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=NONE)
    receiver.default_status = 500
    event = raise_event(monitor=monitor)
    delivery = delivery_for(event)
    start = delivery.next_attempt_at
    attempt(delivery, start)
    attempt(delivery, start + timedelta(seconds=1))
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.FAILED  # 2 failures, below the threshold of 5, but it gave up


def test_paused_monitor_status_is_left_alone(fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=NONE)
    receiver.default_status = 500
    event = raise_event(monitor=monitor)
    monitor_set_status(monitor=monitor, status=MonitorStatus.PAUSED)
    delivery = delivery_for(event)
    start = delivery.next_attempt_at
    attempt(delivery, start)
    attempt(delivery, start + timedelta(seconds=1))
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.PAUSED
    assert len(receiver.received()) == 2  # events raised before the pause are still delivered


def test_deleted_monitor_deliveries_are_not_sent(fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url)
    event = raise_event(monitor=monitor)
    monitor_delete(monitor=monitor)
    delivery = delivery_for(event)
    assert attempt(delivery, delivery.next_attempt_at).attempt is None
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED and delivery.last_error == "monitor deleted"
    assert receiver.received() == []


def test_redelivered_task_does_nothing_for_a_delivered_delivery(fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url)
    delivery = delivery_for(raise_event(monitor=monitor))
    tasks.deliver_webhook.apply(args=(delivery.pk,), task_id=delivery.task_id)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED

    # The broker hands the same message out again (acks_late after a crash), twice.
    tasks.deliver_webhook.apply(args=(delivery.pk,), task_id=delivery.task_id)
    tasks.deliver_webhook.apply(args=(delivery.pk,), task_id="another-task")
    delivery.refresh_from_db()
    assert delivery.attempt_count == 1 and len(receiver.received()) == 1


def test_task_retries_itself_with_the_policy_delay(fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry={"policy": "Bounded", "retryDelay": 7})
    receiver.script(500)
    delivery = delivery_for(raise_event(monitor=monitor))
    with pytest.raises(Retry) as retry:
        tasks.deliver_webhook.apply(args=(delivery.pk,), task_id=delivery.task_id)
    assert retry.value.when == 7
    delivery.refresh_from_db()
    # The lease covers the countdown, so the sweeper does not duplicate the retry.
    assert delivery.in_flight_until > delivery.next_attempt_at


def group_of(monitors) -> list[Delivery]:
    """Deliveries raised together for one origin: queued as one group, under one task id."""
    deliveries = [delivery_for(event) for event in raise_events(monitors=monitors)]
    assert len({delivery.task_id for delivery in deliveries}) == 1
    return deliveries


def test_a_group_message_sends_its_deliveries_in_turn(fleet, receiver, enqueued):
    group = group_of([webhook_monitor(fleet=fleet, target=f"{receiver.url}/{n}") for n in range(3)])
    task_id = group[0].task_id
    tasks.deliver_webhooks.apply(args=([d.pk for d in group],), task_id=task_id)

    assert [request.path for request in receiver.received()] == ["/0", "/1", "/2"]
    for delivery in group:
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.DELIVERED
        assert list(delivery.attempts.values_list("task_id", flat=True)) == [task_id]
    assert enqueued == []  # nothing handed off


DELIVER = "notifications.tasks.deliver_webhook"


def handed_off(messages, group_task_id: str) -> list[int]:
    """The deliveries handed off to messages of their own, each under a fresh task id."""
    hand_offs = [message for message in messages if message[3] is None]
    assert all(name == DELIVER and task_id != group_task_id for name, _, task_id, _ in hand_offs)
    assert len({task_id for _, _, task_id, _ in hand_offs}) == len(hand_offs)
    return [args[0] for _, args, _, _ in hand_offs]


def test_a_failed_attempt_hands_the_rest_of_its_group_to_messages_of_their_own(fleet, receiver, messages):
    receiver.script(500)
    retry = {"policy": "Bounded", "retryDelay": 7}
    group = group_of([webhook_monitor(fleet=fleet, target=receiver.url, retry=retry) for _ in range(3)])
    task_id = group[0].task_id
    tasks.deliver_webhooks.apply(args=([d.pk for d in group],), task_id=task_id)

    # The failed one retries by countdown, under the id that holds it; the others were not
    # tried, and go on in parallel.
    assert messages[0] == (DELIVER, (group[0].pk,), task_id, 7)
    assert handed_off(messages[1:], task_id) == [delivery.pk for delivery in group[1:]]
    assert len(receiver.received()) == 1
    for (_, (delivery_id,), hand_off_id, _), delivery in zip(messages[1:], group[1:], strict=True):
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.PENDING and delivery.attempt_count == 0
        tasks.deliver_webhook.apply(args=(delivery_id,), task_id=hand_off_id)
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.DELIVERED


def test_a_group_past_its_time_budget_hands_off_the_rest(fleet, receiver, messages, monkeypatch):
    monkeypatch.setattr(tasks, "GROUP_BUDGET_SECONDS", 0.0)
    group = group_of([webhook_monitor(fleet=fleet, target=receiver.url) for _ in range(3)])
    tasks.deliver_webhooks.apply(args=([d.pk for d in group],), task_id=group[0].task_id)

    assert len(receiver.received()) == 1
    assert handed_off(messages, group[0].task_id) == [delivery.pk for delivery in group[1:]]


def test_an_error_in_a_group_hands_off_the_rest_and_fails_the_task(fleet, receiver, messages, monkeypatch):
    group = group_of([webhook_monitor(fleet=fleet, target=receiver.url) for _ in range(3)])
    sent = services.delivery_attempt

    def attempt_failing_the_second(*, delivery_id: int, task_id: str):
        if delivery_id == group[1].pk:
            raise RuntimeError("database gone")
        return sent(delivery_id=delivery_id, task_id=task_id)

    monkeypatch.setattr(services, "delivery_attempt", attempt_failing_the_second)
    with pytest.raises(RuntimeError):
        tasks.deliver_webhooks.apply(args=([d.pk for d in group],), task_id=group[0].task_id)

    assert len(receiver.received()) == 1
    assert handed_off(messages, group[0].task_id) == [group[2].pk]


def test_a_redelivered_group_sends_only_what_its_first_run_did_not(fleet, receiver, messages):
    group = group_of([webhook_monitor(fleet=fleet, target=receiver.url) for _ in range(2)])
    task_id = group[0].task_id
    # The first run sent the first delivery, then its worker was lost.
    services.delivery_attempt(delivery_id=group[0].pk, task_id=task_id)
    tasks.deliver_webhooks.apply(args=([d.pk for d in group],), task_id=task_id)

    assert len(receiver.received()) == 2
    for delivery in group:
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.DELIVERED and delivery.attempt_count == 1
    assert messages == []


def test_the_flush_task_sends_the_batch_it_sealed(fleet, receiver, enqueued, t0):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, batch={"size": 10, "timeWindow": 5})
    services.deliveries_create_for_events(
        events=[EventFactory(monitor=monitor), EventFactory(monitor=monitor)], now=t0 - timedelta(seconds=5)
    )
    batch = Delivery.objects.get(monitor=monitor)
    tasks.flush_batch.apply(args=(batch.pk,), task_id="flush-1")

    (request,) = receiver.received()
    assert len(request.json()["events"]) == 2
    batch.refresh_from_db()
    assert batch.state == DeliveryState.DELIVERED
    assert list(batch.attempts.values_list("task_id", flat=True)) == ["flush-1"]
    assert enqueued == []  # sealed and sent by one task, no message in between


def test_the_flush_task_leaves_a_batch_the_sweeper_sealed_to_the_sweeper_s_message(fleet, receiver, enqueued, t0):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, batch={"size": 10, "timeWindow": 5})
    services.deliveries_create_for_events(events=[EventFactory(monitor=monitor)], now=t0 - timedelta(seconds=5))
    batch = Delivery.objects.get(monitor=monitor)
    services.delivery_sweep()
    tasks.flush_batch.apply(args=(batch.pk,), task_id="flush-1")

    assert receiver.received() == []
    batch.refresh_from_db()
    assert batch.state == DeliveryState.PENDING and batch.attempt_count == 0


def test_a_batch_whose_flush_attempt_failed_retries_by_a_message_of_its_own(fleet, receiver, messages, t0):
    receiver.script(500)
    monitor = webhook_monitor(
        fleet=fleet, target=receiver.url, batch={"size": 10, "timeWindow": 5}, retry={"policy": "Bounded", "retryDelay": 7}
    )
    services.deliveries_create_for_events(events=[EventFactory(monitor=monitor)], now=t0 - timedelta(seconds=5))
    batch = Delivery.objects.get(monitor=monitor)
    tasks.flush_batch.apply(args=(batch.pk,), task_id="flush-1")

    assert messages == [(DELIVER, (batch.pk,), "flush-1", 7)]
    batch.refresh_from_db()
    assert batch.state == DeliveryState.PENDING and batch.is_held_by("flush-1")


def test_sequential_deliveries_to_a_keep_alive_receiver_share_one_connection(fleet, settings, monkeypatch):
    settings.FLEETMON_ALLOW_PRIVATE_WEBHOOKS = True
    monkeypatch.setattr(transport, "_sessions", {})  # none kept from an earlier test
    monkeypatch.setattr(guarded_connections, "KEEPALIVE_IDLE_S", 60.0)  # however slow the machine
    receiver = WebhookReceiver(keep_alive=True)
    receiver.start()
    try:
        monitor = webhook_monitor(fleet=fleet, target=f"{receiver.url}/hooks")
        deliveries = [delivery_for(raise_event(monitor=monitor)) for _ in range(5)]
        for delivery in deliveries:
            assert attempt(delivery, delivery.next_attempt_at).attempt.ok
        assert len(receiver.received()) == 5
        assert receiver.connections_accepted == 1
    finally:
        receiver.stop()


def test_lease_keeps_other_tasks_out_while_one_is_sending(fleet, receiver, settings, monkeypatch):
    settings.FLEETMON_DELIVERY_LEASE = 30
    monitor = webhook_monitor(fleet=fleet, target=receiver.url)
    delivery = delivery_for(raise_event(monitor=monitor))
    start = delivery.next_attempt_at
    intruders = []
    send = attempts._send

    def send_while_others_try(claim, *, now):
        intruders.append(services.delivery_attempt(delivery_id=delivery.pk, task_id="intruder", now=now))
        intruders.append(
            services.delivery_attempt(delivery_id=delivery.pk, task_id="late", now=now + timedelta(seconds=29))
        )
        return send(claim, now=now)

    monkeypatch.setattr(attempts, "_send", send_while_others_try)
    sent = services.delivery_attempt(delivery_id=delivery.pk, task_id="first", now=start)

    assert sent.attempt.ok and sent.attempt.task_id == "first"
    assert [outcome.attempt for outcome in intruders] == [None, None]
    assert len(receiver.received()) == 1


def test_backlog_longer_than_the_lease_still_delivers_with_the_first_message(fleet, receiver, settings, t0):
    """The queue is so long that the sweeper queues a second message before the first runs:
    the first one to run sends, the other finds nothing to do."""
    settings.FLEETMON_DELIVERY_LEASE = 30
    monitor = webhook_monitor(fleet=fleet, target=receiver.url)
    delivery = delivery_for(raise_event(monitor=monitor))
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=t0, enqueued_at=t0)
    first_message = delivery.task_id

    assert services.delivery_sweep(now=t0 + timedelta(seconds=31)).requeued == [delivery.pk]
    assert services.delivery_sweep(now=t0 + timedelta(seconds=50)).requeued == []
    delivery.refresh_from_db()
    second_message = delivery.task_id
    assert second_message != first_message

    first = services.delivery_attempt(delivery_id=delivery.pk, task_id=first_message, now=t0 + timedelta(seconds=90))
    second = services.delivery_attempt(delivery_id=delivery.pk, task_id=second_message, now=t0 + timedelta(seconds=95))
    assert first.attempt.ok and second.attempt is None
    assert len(receiver.received()) == 1


def test_attempt_cut_short_by_a_dead_worker_is_logged_and_retried(fleet, receiver, monkeypatch):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url)
    event = raise_event(monitor=monitor)
    delivery = delivery_for(event)
    start = delivery.next_attempt_at

    def worker_dies(*args, **kwargs):
        raise SystemExit("SIGKILL")

    monkeypatch.setattr(attempts, "_send", worker_dies)
    with pytest.raises(SystemExit):
        attempt(delivery, start)
    monkeypatch.undo()

    # The sweeper hands it to a new task once the lease has run out.
    later = start + timedelta(seconds=61)
    assert services.delivery_sweep(now=later).requeued == [delivery.pk]
    assert attempt(delivery, later).attempt.ok
    first, second = delivery.attempts.all()
    assert first.finished_at is None and first.error.startswith("interrupted")
    assert second.ok


def test_blocked_target_is_a_failed_attempt(fleet, settings):
    settings.FLEETMON_ALLOW_PRIVATE_WEBHOOKS = False
    monitor = webhook_monitor(fleet=fleet, target="http://169.254.169.254/latest/meta-data", retry=NONE)
    event = raise_event(monitor=monitor)
    outcome = attempt(delivery_for(event), delivery_for(event).next_attempt_at)
    assert not outcome.attempt.ok and outcome.attempt.status_code is None
    assert outcome.attempt.error.startswith("blocked: 169.254.169.254 is not a public address")


def test_signature_uses_old_and_new_secret_during_rotation(fleet, receiver, settings):
    settings.FLEETMON_SECRET_ROTATION_GRACE = 3600
    old = services.webhook_secret_get_or_create(fleet=fleet).secret
    new = services.webhook_secret_rotate(fleet=fleet).secret
    monitor = webhook_monitor(fleet=fleet, target=receiver.url)
    event = raise_event(monitor=monitor)
    attempt(delivery_for(event), delivery_for(event).next_attempt_at)

    (request,) = receiver.received()
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert verify_signature(secret=secret, headers=request.headers, body=request.body)


def test_expired_secret_no_longer_signs(fleet, receiver, settings, t0):
    settings.FLEETMON_SECRET_ROTATION_GRACE = 0
    old = services.webhook_secret_get_or_create(fleet=fleet).secret
    new = services.webhook_secret_rotate(fleet=fleet, now=t0).secret
    monitor = webhook_monitor(fleet=fleet, target=receiver.url)
    event = raise_event(monitor=monitor)
    attempt(delivery_for(event), delivery_for(event).next_attempt_at)

    (request,) = receiver.received()
    assert verify_signature(secret=new, headers=request.headers, body=request.body)
    assert not verify_signature(secret=old, headers=request.headers, body=request.body)


def test_a_fleet_whose_active_secret_was_deleted_signs_with_a_new_one_and_the_old_ones(fleet, receiver, settings):
    # An operator may delete a secret in the admin, the active one included.
    settings.FLEETMON_SECRET_ROTATION_GRACE = 3600
    retiring = services.webhook_secret_get_or_create(fleet=fleet).secret
    services.webhook_secret_rotate(fleet=fleet).delete()
    monitor = webhook_monitor(fleet=fleet, target=receiver.url)
    event = raise_event(monitor=monitor)
    attempt(delivery_for(event), delivery_for(event).next_attempt_at)

    active = services.webhook_secret_get_or_create(fleet=fleet).secret
    assert active != retiring
    (request,) = receiver.received()
    for secret in (retiring, active):
        assert verify_signature(secret=secret, headers=request.headers, body=request.body)


def test_a_first_attempt_reads_the_secrets_once_and_looks_for_no_interrupted_attempt(fleet, receiver):
    services.webhook_secret_get_or_create(fleet=fleet)
    monitor = webhook_monitor(fleet=fleet, target=receiver.url)
    delivery = delivery_for(raise_event(monitor=monitor))

    with CaptureQueriesContext(connection) as captured:
        assert attempt(delivery, delivery.next_attempt_at).attempt.ok

    statements = [query["sql"] for query in captured.captured_queries]
    assert sum('FROM notifications_webhooksecret' in sql.replace('"', "") for sql in statements) == 1
    assert not any(sql.startswith('UPDATE "notifications_deliveryattempt" SET "error"') for sql in statements)


def test_replay_resends_the_same_bytes_with_a_fresh_retry_budget(fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=receiver.url, retry=NONE)
    receiver.default_status = 500
    event = raise_event(monitor=monitor)
    delivery = delivery_for(event)
    start = delivery.next_attempt_at
    attempt(delivery, start)
    attempt(delivery, start + timedelta(seconds=1))
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED

    services.delivery_replay(delivery=delivery, now=start + timedelta(seconds=10))
    assert attempt(delivery, start + timedelta(seconds=10)).retry_in == 1  # the policy's retry again
    receiver.default_status = 200
    assert attempt(delivery, start + timedelta(seconds=11)).attempt.ok

    bodies = {(r.headers["webhook-id"], r.body) for r in receiver.received()}
    assert bodies == {(delivery.webhook_id, delivery.body.encode())}
    assert json.loads(delivery.body)["events"][0]["vin"] == event.vin

"""End to end: real Celery worker and Beat processes on the real Redis broker, the test
PostgreSQL database, and a real HTTP receiver on loopback.

Events are raised the way the engine raises them (created and announced in one committed
transaction), so these tests exercise notifications only; the engine has its own.
"""

from __future__ import annotations

import socket
import time

import pytest
from django.conf import settings as django_settings

from monitors.models import MonitorStatus
from notifications.models import Delivery, DeliveryState
from tests.e2e_support import flush_broker, wait_for
from tests.notifications.factories import delivery_for, raise_event, raise_events, webhook_monitor
from tests.notifications.support import assert_monitor_events, verify_signature
from tests.telemetry.factories import VehicleFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RETRY_FAST = {"retryDelay": 1}
# Short leases: a message the broker loses is re-enqueued by the sweeper within seconds
# (still longer than one attempt can take, connect + read timeouts, as the settings require).
LEASE = 4
TIMING = {
    "FLEETMON_DELIVERY_LEASE": str(LEASE),
    "FLEETMON_WEBHOOK_CONNECT_TIMEOUT": "0.5",
    "FLEETMON_WEBHOOK_READ_TIMEOUT": "3",
}


@pytest.fixture
def cluster(live_celery, settings):
    """Workers and Beat with short leases; the test process (which seals deliveries and takes
    their first lease) uses the same. Tests about lost messages start Beat (the sweeper)."""
    settings.FLEETMON_DELIVERY_LEASE = LEASE
    live_celery.env_overrides.update(TIMING)
    return live_celery


def states(monitor) -> list[str]:
    return list(Delivery.objects.filter(monitor=monitor).values_list("state", flat=True))


def all_in(monitor, state: str, count: int = 1):
    return lambda: states(monitor) == [state] * count


def test_attributes_and_signature_arrive_as_configured(api, fleet, cluster, webhook_receiver):
    cluster.worker()
    monitor = webhook_monitor(
        fleet=fleet,
        target=f"{webhook_receiver.url}/in?static=1",
        attributes=[
            {"type": "Header", "key": "Authorization", "value": "Bearer t0k3n"},
            {"type": "Header", "key": "X-Vehicle-Id", "value": "$vin"},
            {"type": "Query", "key": "monitor", "value": "$monitorID"},
            {"type": "Query", "key": "vid", "value": "$vid"},
            {"type": "Body", "key": "fleet", "value": "$fleetID"},
            {"type": "Body", "key": "source", "value": "fleetmon e2e"},
        ],
    )
    event = raise_event(monitor=monitor)

    (request,) = wait_for(webhook_receiver.received, message="the webhook request")
    assert request.path == "/in"
    assert request.query == {"static": ["1"], "monitor": [monitor.pk], "vid": [event.vehicle_public_id]}
    assert request.headers["authorization"] == "Bearer t0k3n"
    assert request.headers["x-vehicle-id"] == event.vin
    body = request.json()
    assert_monitor_events(body)
    assert body["attributes"] == [{"key": "fleet", "value": fleet.pk}, {"key": "source", "value": "fleetmon e2e"}]
    assert [e["vin"] for e in body["events"]] == [event.vin]

    secret = api.get(f"/api/v1/fleets/{fleet.pk}/webhook-secret").json()["secret"]
    assert verify_signature(secret=secret, headers=request.headers, body=request.body)
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    wait_for(all_in(monitor, DeliveryState.DELIVERED), message="delivery marked delivered")
    assert request.headers["webhook-id"] == Delivery.objects.get(monitor=monitor).webhook_id


def test_deliveries_raised_together_go_out_by_one_message_and_a_failure_hands_off_the_rest(
    fleet, cluster, webhook_receiver
):
    webhook_receiver.script(500)  # the first request fails: the rest of its group is handed off
    always = {"policy": "Always", **RETRY_FAST}
    monitors = [webhook_monitor(fleet=fleet, target=f"{webhook_receiver.url}/{n}", retry=always) for n in range(3)]
    events = raise_events(monitors=monitors)
    (group_task,) = {delivery_for(event).task_id for event in events}  # one message for the three
    cluster.worker()

    wait_for(lambda: all(all_in(monitor, DeliveryState.DELIVERED)() for monitor in monitors), message="3 webhooks")
    assert webhook_receiver.received()[0].path == "/0" and len(webhook_receiver.received()) == 4
    tasks_by_delivery = [
        list(delivery_for(event).attempts.order_by("number").values_list("task_id", flat=True)) for event in events
    ]
    # The group's message failed the first and retried it under its own id; the other two went
    # out under tasks of their own.
    assert tasks_by_delivery[0] == [group_task, group_task]
    assert len({tasks_by_delivery[1][0], tasks_by_delivery[2][0], group_task}) == 3
    assert [len(task_ids) for task_ids in tasks_by_delivery[1:]] == [1, 1]


def test_batching_by_size_with_one_vehicle_per_request(fleet, cluster, webhook_receiver):
    cluster.worker()
    monitor = webhook_monitor(
        fleet=fleet,
        target=f"{webhook_receiver.url}/batch",
        attributes=[{"type": "Query", "key": "vin", "value": "$vin"}],
        batch={"size": 2, "timeWindow": 60},
    )
    a, b = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    for vehicle in (a, b, a, b):
        raise_event(monitor=monitor, vehicle=vehicle)

    requests = wait_for(lambda: len(webhook_receiver.received()) == 2 and webhook_receiver.received(), message="2 batches")
    for request in requests:
        assert_monitor_events(request.json())
        assert [e["vin"] for e in request.json()["events"]] == request.query["vin"] * 2
    assert sorted(r.query["vin"][0] for r in requests) == sorted([a.vin, b.vin])


def test_batching_by_time_window(fleet, cluster, webhook_receiver):
    cluster.worker()
    monitor = webhook_monitor(fleet=fleet, target=webhook_receiver.url, batch={"size": 10, "timeWindow": 5})
    raise_event(monitor=monitor)
    first_buffered = time.monotonic()
    raise_event(monitor=monitor)

    (request,) = wait_for(webhook_receiver.received, timeout=15, message="the time-window flush")
    waited = request.received_at - first_buffered
    assert 4.5 <= waited <= 8, f"sent {waited:.1f}s after the first event, expected ~5s"
    assert_monitor_events(request.json())
    assert len(request.json()["events"]) == 2


def test_bounded_3_with_two_failures_makes_exactly_3_attempts(fleet, cluster, webhook_receiver):
    cluster.worker()
    webhook_receiver.script(500, 500, 200)
    monitor = webhook_monitor(fleet=fleet, target=webhook_receiver.url, retry={"policy": "Bounded", "retryNumber": 3, **RETRY_FAST})
    raise_event(monitor=monitor)

    wait_for(all_in(monitor, DeliveryState.DELIVERED), message="delivered on the third attempt")
    time.sleep(1.5)  # nothing more comes after the success
    requests = webhook_receiver.received()
    assert len(requests) == 3
    assert len({r.headers["webhook-id"] for r in requests}) == 1 and len({r.body for r in requests}) == 1
    delivery = Delivery.objects.get(monitor=monitor)
    assert [a.status_code for a in delivery.attempts.all()] == [500, 500, 200]
    # Spaced by retryDelay.
    assert requests[1].received_at - requests[0].received_at >= 0.9


def test_none_policy_makes_exactly_2_attempts_then_fails(fleet, cluster, webhook_receiver):
    cluster.worker()
    webhook_receiver.script(500, 500)  # a third attempt would succeed, and show
    monitor = webhook_monitor(fleet=fleet, target=webhook_receiver.url, retry={"policy": "None", **RETRY_FAST})
    raise_event(monitor=monitor)

    wait_for(all_in(monitor, DeliveryState.FAILED), message="failed after the single retry")
    time.sleep(1.5)
    assert len(webhook_receiver.received()) == 2
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.FAILED


def test_always_policy_retries_until_the_receiver_comes_back(fleet, cluster, webhook_receiver):
    cluster.worker()
    webhook_receiver.default_status = 503
    monitor = webhook_monitor(fleet=fleet, target=webhook_receiver.url, retry={"policy": "Always", **RETRY_FAST})
    raise_event(monitor=monitor)

    threshold = django_settings.FLEETMON_FAILING_THRESHOLD
    wait_for(lambda: len(webhook_receiver.received()) > threshold, timeout=20, message="repeated failures")
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.FAILED and states(monitor) == [DeliveryState.PENDING]

    webhook_receiver.default_status = 200
    wait_for(all_in(monitor, DeliveryState.DELIVERED), message="delivered once the receiver is back")
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.RUNNING
    assert len({r.headers["webhook-id"] for r in webhook_receiver.received()}) == 1


def test_worker_killed_during_a_slow_delivery(fleet, cluster, webhook_receiver, settings):
    # The receiver holds the request 5 s: the lease and read timeout must outlast that.
    timing = {"FLEETMON_DELIVERY_LEASE": "8", "FLEETMON_WEBHOOK_READ_TIMEOUT": "6"}
    settings.FLEETMON_DELIVERY_LEASE = 8
    cluster.beat(**timing)
    doomed = cluster.worker(name="doomed", **timing)
    webhook_receiver.script((200, 5.0))
    monitor = webhook_monitor(fleet=fleet, target=webhook_receiver.url)
    raise_event(monitor=monitor)

    delivery = wait_for(
        lambda: Delivery.objects.filter(monitor=monitor, attempts__isnull=False).first(), message="attempt started"
    )
    time.sleep(1)  # the receiver is holding the request
    doomed.kill()
    cluster.worker(name="rescuer", **timing)

    wait_for(all_in(monitor, DeliveryState.DELIVERED), timeout=30, message="delivered after the restart")
    delivery.refresh_from_db()
    first, *_, last = delivery.attempts.all()
    assert first.error.startswith("interrupted") and last.ok
    requests = wait_for(lambda: len(webhook_receiver.received()) >= 2 and webhook_receiver.received())
    assert {r.headers["webhook-id"] for r in requests} == {delivery.webhook_id}
    assert {r.body for r in requests} == {delivery.body.encode()}


def test_redis_flush_loses_no_delivery(fleet, cluster, webhook_receiver):
    """The broker loses every message (FLUSHDB of its database: FLUSHALL would also wipe the
    databases of other test runs sharing the Redis server, and loses nothing more of ours)."""
    monitor = webhook_monitor(fleet=fleet, target=webhook_receiver.url)
    for _ in range(3):
        raise_event(monitor=monitor)  # enqueued in Redis on commit; no worker is running
    assert states(monitor) == [DeliveryState.PENDING] * 3

    flush_broker()
    cluster.worker()
    cluster.beat()

    wait_for(all_in(monitor, DeliveryState.DELIVERED, 3), timeout=30, message="all delivered after the flush")
    ids = [r.headers["webhook-id"] for r in webhook_receiver.received()]
    assert sorted(ids) == sorted(Delivery.objects.filter(monitor=monitor).values_list("webhook_id", flat=True))


def _ipv6_loopback_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM):
            return True
    except OSError:
        return False


def test_private_targets_are_refused_unless_allowed(api, fleet, cluster, webhook_receiver):
    port = webhook_receiver.server.server_address[1]
    loopback = [f"http://127.0.0.1:{port}/a", f"http://localhost:{port}/b"]
    if _ipv6_loopback_works():
        loopback.append(f"http://[::ffff:127.0.0.1]:{port}/c")
    unreachable = ["http://10.20.30.40/hook", "http://169.254.169.254/latest/meta-data"]
    monitors = [
        webhook_monitor(fleet=fleet, target=target, retry={"policy": "None", **RETRY_FAST})
        for target in loopback + unreachable
    ]

    refusing = cluster.worker(name="guarded", FLEETMON_ALLOW_PRIVATE_WEBHOOKS="false")
    for monitor in monitors:
        raise_event(monitor=monitor)
    wait_for(lambda: all(states(m) == [DeliveryState.FAILED] for m in monitors), message="all refused")
    for delivery in Delivery.objects.filter(monitor__in=monitors):
        errors = [a.error for a in delivery.attempts.all()]
        assert len(errors) == 2 and all(e.startswith("blocked: ") for e in errors), errors
    assert webhook_receiver.received() == []
    refusing.stop()

    # Allowed by the setting, the same deliveries (replayed through the API) go through.
    cluster.worker(name="open", FLEETMON_ALLOW_PRIVATE_WEBHOOKS="true")
    for monitor in monitors[: len(loopback)]:
        delivery = Delivery.objects.get(monitor=monitor)
        base = f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/deliveries/{delivery.pk}"
        assert api.post(f"{base}/retry").status_code == 202
    wait_for(lambda: len(webhook_receiver.received()) == len(loopback), message="loopback deliveries")
    assert sorted(r.path for r in webhook_receiver.received()) == sorted("/" + t.rsplit("/", 1)[1] for t in loopback)
    wait_for(lambda: all(states(m) == [DeliveryState.DELIVERED] for m in monitors[: len(loopback)]))

"""The outbox: delivery rows written with their events, batching, sealing and the sweeper."""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from monitors.models import Event
from monitors.signals import events_raised
from notifications import services
from notifications.models import Delivery, DeliveryState
from notifications.services.outbox import delivery_new
from tests.notifications.factories import EventFactory, delivery_for, raise_event, raise_events, webhook_monitor
from tests.plans import rows_read
from tests.telemetry.factories import VehicleFactory

pytestmark = pytest.mark.django_db
TARGET = "http://127.0.0.1:9/hook"


def body_of(delivery: Delivery) -> dict:
    return json.loads(delivery.body)


@contextlib.contextmanager
def held_elsewhere(work: Callable[[], None]) -> Iterator[None]:
    """`work` done in a transaction of another thread (its own connection), kept open, its locks
    held, for the duration of the block."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            work()
            holding.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        release.set()
        holder.join()


def test_event_gets_its_delivery_in_the_same_transaction(fleet):
    monitor = webhook_monitor(fleet=fleet, target=TARGET)
    event = raise_event(monitor=monitor)

    delivery = Delivery.objects.get(delivery_events__event=event)
    assert delivery.state == DeliveryState.PENDING
    assert delivery.monitor == monitor and delivery.fleet == fleet
    assert delivery.webhook_id.startswith("msg_")
    assert [e["vin"] for e in body_of(delivery)["events"]] == [event.vin]


def test_rolled_back_event_leaves_no_delivery(fleet):
    monitor = webhook_monitor(fleet=fleet, target=TARGET)
    with pytest.raises(RuntimeError), transaction.atomic():
        event = EventFactory(monitor=monitor)
        events_raised.send(sender=Event, events=[event])
        raise RuntimeError("the evaluation failed after raising the event")
    assert not Delivery.objects.exists()


def test_delivery_is_enqueued_on_commit_with_its_id_only(fleet, enqueued, django_capture_on_commit_callbacks):
    monitor = webhook_monitor(fleet=fleet, target=TARGET)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = raise_event(monitor=monitor)
    assert enqueued == []  # nothing leaves before the commit

    for callback in callbacks:
        callback()
    delivery = Delivery.objects.get(delivery_events__event=event)
    # The message is the id and its task id, nothing else; nobody holds the delivery until a
    # task starts sending it.
    assert enqueued == [(delivery.pk, delivery.task_id)]
    assert delivery.enqueued_at is not None and delivery.in_flight_until is None


def test_deliveries_raised_together_for_one_origin_share_one_message(
    fleet, messages, django_capture_on_commit_callbacks
):
    same_origin = [
        webhook_monitor(fleet=fleet, target="http://Hooks.example:8080/a"),
        webhook_monitor(fleet=fleet, target="http://user:secret@hooks.EXAMPLE:8080/b?x=1"),
    ]
    other_port = webhook_monitor(fleet=fleet, target="http://hooks.example:8081/a")
    with django_capture_on_commit_callbacks(execute=True):
        first, second, third = (delivery_for(e) for e in raise_events(monitors=[*same_origin, other_port]))

    assert first.task_id == second.task_id != third.task_id
    assert messages == [
        ("notifications.tasks.deliver_webhooks", ([first.pk, second.pk],), first.task_id, None),
        ("notifications.tasks.deliver_webhook", (third.pk,), third.task_id, None),
    ]


def test_a_group_holds_at_most_group_max_deliveries(fleet, monkeypatch, enqueued, django_capture_on_commit_callbacks):
    from notifications.services import outbox

    monkeypatch.setattr(outbox, "GROUP_MAX", 2)
    with django_capture_on_commit_callbacks(execute=True):
        events = raise_events(monitors=[webhook_monitor(fleet=fleet, target=TARGET) for _ in range(5)])

    task_ids = [delivery_for(event).task_id for event in events]
    assert [task_ids.count(task_id) for task_id in dict.fromkeys(task_ids)] == [2, 2, 1]
    assert sorted(enqueued) == sorted((delivery_for(event).pk, delivery_for(event).task_id) for event in events)


def test_without_batch_notify_one_event_per_request(fleet):
    monitor = webhook_monitor(fleet=fleet, target=TARGET)
    vehicle = VehicleFactory(fleet=fleet)
    for _ in range(3):
        raise_event(monitor=monitor, vehicle=vehicle)
    deliveries = Delivery.objects.filter(monitor=monitor)
    assert deliveries.count() == 3
    assert all(len(body_of(d)["events"]) == 1 for d in deliveries)


def test_events_of_one_evaluation_get_their_deliveries_in_two_inserts(fleet, t0, django_assert_num_queries):
    monitor = webhook_monitor(fleet=fleet, target=TARGET)
    events = [EventFactory(monitor=monitor) for _ in range(10)]
    with django_assert_num_queries(2):
        deliveries = services.deliveries_create_for_events(events=events, now=t0)
    assert len(deliveries) == 10
    for delivery, event in zip(deliveries, events, strict=True):
        assert delivery.state == DeliveryState.PENDING and delivery.next_attempt_at == t0
        assert list(delivery.delivery_events.values_list("event", flat=True)) == [event.pk]
        assert [e["vin"] for e in body_of(delivery)["events"]] == [event.vin]
    assert len({delivery.webhook_id for delivery in deliveries}) == 10


def test_batch_sealed_when_size_is_reached(fleet, t0):
    monitor = webhook_monitor(fleet=fleet, target=TARGET, batch={"size": 3, "timeWindow": 60})
    events = [EventFactory(monitor=monitor, event_date=t0 - timedelta(minutes=m)) for m in (1, 3, 2, 0)]

    for event in events[:2]:
        services.deliveries_create_for_events(events=[event], now=t0)
    batch = Delivery.objects.get(monitor=monitor)
    assert batch.state == DeliveryState.BATCHING and batch.body == ""

    services.deliveries_create_for_events(events=[events[2]], now=t0)
    batch.refresh_from_db()
    assert batch.state == DeliveryState.PENDING
    sent = body_of(batch)["events"]
    assert len(sent) == 3
    assert [e["eventDate"] for e in sent] == sorted(e["eventDate"] for e in sent)  # in eventDate order

    # The fourth event opens the next batch.
    services.deliveries_create_for_events(events=[events[3]], now=t0)
    assert Delivery.objects.filter(monitor=monitor, state=DeliveryState.BATCHING).count() == 1


def test_batch_sealed_when_time_window_elapses(fleet, t0):
    monitor = webhook_monitor(fleet=fleet, target=TARGET, batch={"size": 10, "timeWindow": 30})
    services.deliveries_create_for_events(events=[EventFactory(monitor=monitor)], now=t0)
    services.deliveries_create_for_events(events=[EventFactory(monitor=monitor)], now=t0 + timedelta(seconds=20))
    batch = Delivery.objects.get(monitor=monitor)
    # The window runs from the first buffered event.
    assert batch.next_attempt_at == t0 + timedelta(seconds=30)

    assert services.delivery_sweep(now=t0 + timedelta(seconds=29)).sealed == []
    assert services.delivery_batch_flush(delivery_id=batch.pk, task_id="flush", now=t0 + timedelta(seconds=29)) is False

    assert services.delivery_sweep(now=t0 + timedelta(seconds=30)).sealed == [batch.pk]
    batch.refresh_from_db()
    assert batch.state == DeliveryState.PENDING
    assert len(body_of(batch)["events"]) == 2


def test_batch_flush_seals_a_due_batch_for_the_flushing_task_to_send(fleet, t0, enqueued, django_capture_on_commit_callbacks):
    monitor = webhook_monitor(fleet=fleet, target=TARGET, batch={"size": 10, "timeWindow": 5})
    services.deliveries_create_for_events(events=[EventFactory(monitor=monitor)], now=t0)
    batch = Delivery.objects.get(monitor=monitor)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delivery_batch_flush(delivery_id=batch.pk, task_id="flush", now=t0 + timedelta(seconds=5))
    batch.refresh_from_db()
    assert batch.state == DeliveryState.PENDING and batch.task_id == "flush"
    assert enqueued == []  # the flushing task sends it, no message
    # The same message run again (its worker was lost) still has it to send; another task
    # (the sweeper racing the flush, a duplicate message) has not.
    assert services.delivery_batch_flush(delivery_id=batch.pk, task_id="flush", now=t0 + timedelta(seconds=6))
    assert not services.delivery_batch_flush(delivery_id=batch.pk, task_id="other", now=t0 + timedelta(seconds=6))


def test_a_batch_the_sweeper_sealed_is_not_the_flush_task_s(fleet, t0):
    monitor = webhook_monitor(fleet=fleet, target=TARGET, batch={"size": 10, "timeWindow": 5})
    services.deliveries_create_for_events(events=[EventFactory(monitor=monitor)], now=t0)
    batch = Delivery.objects.get(monitor=monitor)
    assert services.delivery_sweep(now=t0 + timedelta(seconds=5)).sealed == [batch.pk]
    assert not services.delivery_batch_flush(delivery_id=batch.pk, task_id="flush", now=t0 + timedelta(seconds=6))


def test_vin_in_url_batches_per_vehicle(fleet, t0):
    monitor = webhook_monitor(
        fleet=fleet,
        target=TARGET,
        attributes=[{"type": "Query", "key": "vin", "value": "$vin"}],
        batch={"size": 2, "timeWindow": 60},
    )
    a, b = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    for vehicle in (a, b, a, b):
        services.deliveries_create_for_events(events=[EventFactory(monitor=monitor, vehicle=vehicle)], now=t0)

    deliveries = list(Delivery.objects.filter(monitor=monitor))
    assert len(deliveries) == 2
    for delivery in deliveries:
        vins = {e["vin"] for e in body_of(delivery)["events"]}
        assert len(vins) == 1 and len(body_of(delivery)["events"]) == 2
        assert delivery.variables["vin"] in vins


def test_vin_only_in_body_batches_across_vehicles_with_first_event_values(fleet, t0):
    monitor = webhook_monitor(
        fleet=fleet,
        target=TARGET,
        attributes=[{"type": "Body", "key": "vehicle", "value": "$vin"}],
        batch={"size": 2, "timeWindow": 60},
    )
    first = EventFactory(monitor=monitor, event_date=t0 - timedelta(minutes=5))
    second = EventFactory(monitor=monitor, event_date=t0)
    services.deliveries_create_for_events(events=[second], now=t0)
    services.deliveries_create_for_events(events=[first], now=t0)

    (delivery,) = Delivery.objects.filter(monitor=monitor)
    body = body_of(delivery)
    assert {e["vin"] for e in body["events"]} == {first.vin, second.vin}
    assert body["attributes"] == [{"key": "vehicle", "value": first.vin}]


def test_the_sweeper_seals_due_batches_reading_their_events_once_and_queues_one_message_per_origin(
    fleet, t0, messages, django_capture_on_commit_callbacks
):
    monitors = [webhook_monitor(fleet=fleet, target=TARGET, batch={"size": 10, "timeWindow": 5}) for _ in range(3)]
    elsewhere = webhook_monitor(fleet=fleet, target="http://127.0.0.2:9/hook", batch={"size": 10, "timeWindow": 5})
    for monitor in [*monitors, elsewhere]:
        services.deliveries_create_for_events(events=[EventFactory(monitor=monitor), EventFactory(monitor=monitor)], now=t0)

    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        sealed = services.delivery_sweep(now=t0 + timedelta(seconds=5)).sealed

    assert len(sealed) == 4
    assert sum("notifications_deliveryevent" in query["sql"] for query in queries.captured_queries) == 1
    batches = {delivery.monitor_id: delivery for delivery in Delivery.objects.filter(pk__in=sealed)}
    assert all(len(body_of(batch)["events"]) == 2 for batch in batches.values())
    together = [batches[monitor.pk].pk for monitor in monitors]
    assert sorted(messages) == sorted([
        ("notifications.tasks.deliver_webhooks", (together,), batches[monitors[0].pk].task_id, None),
        ("notifications.tasks.deliver_webhook", (batches[elsewhere.pk].pk,), batches[elsewhere.pk].task_id, None),
    ])


def test_the_sweeper_requeues_deliveries_in_one_message_per_origin(fleet, t0, messages, django_capture_on_commit_callbacks):
    lost = [delivery_for(raise_event(monitor=webhook_monitor(fleet=fleet, target=TARGET))) for _ in range(3)]
    Delivery.objects.update(next_attempt_at=t0, enqueued_at=None, in_flight_until=None)
    messages.clear()

    with django_capture_on_commit_callbacks(execute=True):
        requeued = services.delivery_sweep(now=t0).requeued

    assert sorted(requeued) == sorted(delivery.pk for delivery in lost)
    (message,) = messages
    assert message[0] == "notifications.tasks.deliver_webhooks" and sorted(message[1][0]) == sorted(requeued)
    assert set(Delivery.objects.values_list("task_id", flat=True)) == {message[2]}


def test_sweeper_requeues_due_deliveries_nobody_holds(fleet, t0, enqueued, django_capture_on_commit_callbacks, settings):
    settings.FLEETMON_DELIVERY_LEASE = 60
    monitor = webhook_monitor(fleet=fleet, target=TARGET)
    lost, dropped, held, queued, later = (
        Delivery.objects.get(delivery_events__event=raise_event(monitor=monitor)) for _ in range(5)
    )
    Delivery.objects.update(next_attempt_at=t0, enqueued_at=t0 - timedelta(seconds=61), in_flight_until=None)
    # Its sender died mid-request: the lease ran out.
    Delivery.objects.filter(pk=dropped.pk).update(in_flight_until=t0 - timedelta(seconds=1))
    Delivery.objects.filter(pk=held.pk).update(in_flight_until=t0 + timedelta(seconds=30))
    Delivery.objects.filter(pk=queued.pk).update(enqueued_at=t0 - timedelta(seconds=30))
    Delivery.objects.filter(pk=later.pk).update(next_attempt_at=t0 + timedelta(seconds=30))
    enqueued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        result = services.delivery_sweep(now=t0)

    assert sorted(result.requeued) == sorted([lost.pk, dropped.pk])
    lost.refresh_from_db()
    assert (lost.pk, lost.task_id) in enqueued and lost.enqueued_at == t0
    # Queued again just now: the next sweep leaves it to that message.
    assert services.delivery_sweep(now=t0 + timedelta(seconds=5)).requeued == []


@pytest.mark.django_db(transaction=True)
def test_sweeper_skips_rows_locked_by_someone_else(fleet, t0, enqueued):
    monitor = webhook_monitor(fleet=fleet, target=TARGET)
    locked, free = (Delivery.objects.get(delivery_events__event=raise_event(monitor=monitor)) for _ in range(2))
    Delivery.objects.update(in_flight_until=None, enqueued_at=None, next_attempt_at=t0)
    enqueued.clear()  # the messages sent when they were created (this test commits)

    with held_elsewhere(lambda: Delivery.objects.select_for_update().get(pk=locked.pk)):
        # Does not wait for the locked row (SKIP LOCKED), takes the free one.
        assert services.delivery_sweep(now=t0 + timedelta(seconds=1)).requeued == [free.pk]
    assert [delivery_id for delivery_id, _ in enqueued] == [free.pk]
    assert services.delivery_sweep(now=t0 + timedelta(seconds=1)).requeued == [locked.pk]


@pytest.mark.django_db(transaction=True)
def test_a_batch_held_by_another_evaluation_is_not_waited_for(fleet, t0, enqueued):
    """Evaluations raise events in any monitor order: waiting on each other's batches could
    deadlock, so an event whose open batch is locked starts another batch."""
    monitor = webhook_monitor(fleet=fleet, target=TARGET, batch={"size": 10, "timeWindow": 60})

    def add_event() -> Delivery:
        with transaction.atomic():  # the engine's transaction
            (delivery,) = services.deliveries_create_for_events(events=[EventFactory(monitor=monitor)], now=t0)
            return delivery

    held = add_event()

    with held_elsewhere(lambda: Delivery.objects.select_for_update().get(pk=held.pk)):
        other = add_event()
    assert other.pk != held.pk and other.state == DeliveryState.BATCHING
    # Once free again, the first batch takes the next event.
    assert add_event().pk == held.pk


@pytest.mark.django_db(transaction=True)
def test_an_evaluation_holds_only_the_batch_it_fills(fleet, t0, enqueued):
    """Two open batches of one monitor (left by evaluations that raced): an evaluation adding
    to the older one leaves the other free for a concurrent evaluation, instead of making it
    open a third."""
    monitor = webhook_monitor(fleet=fleet, target=TARGET, batch={"size": 10, "timeWindow": 60})
    window_end = t0 + timedelta(seconds=60)
    older, newer = (delivery_new(monitor=monitor, raised_at=t0, next_attempt_at=window_end) for _ in range(2))
    older.save()
    newer.save()
    taken_elsewhere: list[Delivery] = []
    add = functools.partial(services.deliveries_create_for_events, now=t0)

    elsewhere = held_elsewhere(lambda: taken_elsewhere.extend(add(events=[EventFactory(monitor=monitor)])))
    with elsewhere, transaction.atomic():  # the engine's transaction
        (batch,) = add(events=[EventFactory(monitor=monitor)])
    assert [taken.pk for taken in taken_elsewhere] == [older.pk]
    assert batch.pk == newer.pk
    assert Delivery.objects.filter(monitor=monitor).count() == 2


def test_a_new_batch_gets_one_flush_at_its_window_unless_the_broker_cannot_wait_that_long(
    fleet, t0, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from notifications import tasks

    flushes = []
    monkeypatch.setattr(
        tasks.flush_batch, "apply_async", lambda args, countdown=None, **options: flushes.append((*args, countdown))
    )
    settings.CELERY_VISIBILITY_TIMEOUT = 3600
    short = webhook_monitor(fleet=fleet, target=TARGET, batch={"size": 10, "timeWindow": 30})
    long = webhook_monitor(fleet=fleet, target=TARGET, batch={"size": 10, "timeWindow": 1801})
    with django_capture_on_commit_callbacks(execute=True):
        services.deliveries_create_for_events(
            events=[EventFactory(monitor=short), EventFactory(monitor=short), EventFactory(monitor=long)], now=t0
        )
    # The long window is left to the sweeper.
    assert flushes == [(Delivery.objects.get(monitor=short).pk, 30)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans of PostgreSQL's partial indexes")
def test_a_sweep_reads_the_rows_it_acts_on_not_every_open_delivery(fleet, t0, settings):
    """A backlog of queued deliveries is due, but its messages are on their way: the sweeper's
    reads skip it through their indexes instead of filtering it out row by row."""
    settings.FLEETMON_DELIVERY_LEASE = 60
    monitor = webhook_monitor(fleet=fleet, target=TARGET)

    def delivery(number: int, **fields) -> Delivery:
        return Delivery(
            monitor=monitor, fleet=fleet, webhook_id=f"msg_sweep_{number}", expires_at=t0 + timedelta(days=3), **fields
        )

    queued = [
        delivery(n, state=DeliveryState.PENDING, next_attempt_at=t0, enqueued_at=t0 - timedelta(seconds=5))
        for n in range(2000)
    ]
    lost = [
        delivery(n, state=DeliveryState.PENDING, next_attempt_at=t0, enqueued_at=t0 - timedelta(seconds=120))
        for n in range(2000, 2003)
    ]
    Delivery.objects.bulk_create([*queued, *lost])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE notifications_delivery")

    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        result = services.delivery_sweep(now=t0)
        transaction.set_rollback(True)  # the reads are explained below on the same rows

    assert sorted(result.requeued) == sorted(d.pk for d in lost)
    reads = [query["sql"] for query in captured.captured_queries if query["sql"].startswith("SELECT")]
    assert [rows_read(sql, Delivery._meta.db_table) for sql in reads] == [0, 3]  # due batches, then deliveries to queue again


def test_a_due_delivery_waiting_behind_a_backlog_is_queued_again_after_one_two_four_leases(
    fleet, t0, enqueued, django_capture_on_commit_callbacks, settings
):
    settings.FLEETMON_DELIVERY_LEASE = 60
    monitor = webhook_monitor(fleet=fleet, target=TARGET)
    delivery = Delivery.objects.get(delivery_events__event=raise_event(monitor=monitor))
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=t0, enqueued_at=t0, in_flight_until=None)

    def requeued_at(seconds: int) -> bool:
        with django_capture_on_commit_callbacks(execute=True):
            return services.delivery_sweep(now=t0 + timedelta(seconds=seconds)).requeued == [delivery.pk]

    # Every sweep (every few seconds) over ten minutes: queued again at 60, 120, 240 and 480 s only.
    assert [s for s in range(0, 600, 5) if requeued_at(s)] == [60, 120, 240, 480]


def test_a_delivery_waiting_for_days_is_queued_again_at_least_every_eight_leases(
    fleet, t0, enqueued, django_capture_on_commit_callbacks, settings
):
    settings.FLEETMON_DELIVERY_LEASE = 60
    monitor = webhook_monitor(fleet=fleet, target=TARGET)
    delivery = Delivery.objects.get(delivery_events__event=raise_event(monitor=monitor))
    # Due for a day, queued again an hour ago: half its wait would be another eleven hours.
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=t0 - timedelta(days=1), enqueued_at=t0 - timedelta(minutes=60), in_flight_until=None
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delivery_sweep(now=t0).requeued == [delivery.pk]


def test_batched_events_of_one_evaluation_fill_their_batches_in_order_and_seal_the_full_ones(
    fleet, t0, monkeypatch, django_capture_on_commit_callbacks
):
    from notifications import tasks

    flushes = []
    monkeypatch.setattr(
        tasks.flush_batch, "apply_async", lambda args, countdown=None, **options: flushes.append((*args, countdown))
    )
    monitor = webhook_monitor(fleet=fleet, target=TARGET, batch={"size": 3, "timeWindow": 30})
    earlier = EventFactory(monitor=monitor)
    with django_capture_on_commit_callbacks(execute=True):
        (open_batch,) = services.deliveries_create_for_events(events=[earlier], now=t0)
    flushes.clear()
    events = [EventFactory(monitor=monitor) for _ in range(6)]

    with django_capture_on_commit_callbacks(execute=True):
        batches = services.deliveries_create_for_events(events=events, now=t0 + timedelta(seconds=1))

    # The open batch takes two more and is full; the next three fill a new one; the last
    # opens a third, the only one left collecting, and the only one with a flush to come.
    assert [batch.pk for batch in batches[:2]] == [open_batch.pk] * 2
    assert len({batch.pk for batch in batches[2:5]}) == 1 and batches[2].pk != open_batch.pk
    last = batches[5]
    assert last.pk not in (open_batch.pk, batches[2].pk)
    states = dict(Delivery.objects.values_list("pk", "state"))
    assert states == {
        open_batch.pk: DeliveryState.PENDING,
        batches[2].pk: DeliveryState.PENDING,
        last.pk: DeliveryState.BATCHING,
    }
    sent = body_of(Delivery.objects.get(pk=open_batch.pk))["events"]
    assert sorted(e["vin"] for e in sent) == sorted([earlier.vin, events[0].vin, events[1].vin])
    assert len(body_of(Delivery.objects.get(pk=batches[2].pk))["events"]) == 3
    assert flushes == [(last.pk, 30)]


def test_batched_events_of_one_evaluation_take_the_same_statements_however_many(fleet, t0, django_assert_num_queries):
    def events(monitors: int, per_monitor: int) -> list[Event]:
        batching = [
            webhook_monitor(fleet=fleet, target=TARGET, batch={"size": 100, "timeWindow": 30}) for _ in range(monitors)
        ]
        return [EventFactory(monitor=monitor) for monitor in batching for _ in range(per_monitor)]

    first = events(1, 1)
    services.deliveries_create_for_events(events=first, now=t0)  # opens a batch
    one_more = [EventFactory(monitor=first[0].monitor) for _ in range(2)]
    many = events(5, 4)
    # The open batches locked, then their events counted or new batches inserted, then the
    # events linked. Before, three or four statements per event.
    with django_assert_num_queries(3):
        services.deliveries_create_for_events(events=one_more, now=t0)
    with django_assert_num_queries(3):
        services.deliveries_create_for_events(events=many, now=t0)

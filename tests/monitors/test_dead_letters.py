"""Evaluations that keep failing become dead letters: held, retried a bounded number of times,
given up, replayed from the admin. Injected instants; the tasks run eagerly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from fleetmon_project.metrics import DEAD_LETTERS
from monitors import engine, sweeps, tasks
from monitors.deadletters import retry_delay
from monitors.models import BoundaryEvaluation, DeadLetter, DeadLetterKind, Event, Monitor
from telemetry.selectors import points_pending
from tests.monitors.scenarios import battery_monitor, time_zone_monitor
from tests.telemetry.factories import VehicleFactory, store_point

pytestmark = pytest.mark.django_db

LEVEL = "vehicle.energy.electric.level"


@pytest.fixture
def poison(monkeypatch):
    """Points carrying `poison` make the engine raise, as a bug or an unforeseen value would;
    `poison.cured = True` lifts it, as a fix deployed."""

    class Poison:
        cured = False

    original = engine.merge_point

    def merge_point(latest, *, data, **kwargs):
        if "poison" in data and not Poison.cured:
            raise RuntimeError("a point the engine cannot digest")
        return original(latest, data=data, **kwargs)

    monkeypatch.setattr(engine, "merge_point", merge_point)
    return Poison


@pytest.fixture
def now():
    # Real time: points' received_at is set by the database default, and the rescue reads it.
    return timezone.now()


def store(vehicle, at: datetime, **data) -> None:
    store_point(vehicle, event_date=at, data=data)


def unevaluated(vehicle) -> int:
    return points_pending().filter(vehicle=vehicle).count()


def run(request: sweeps.EvaluationRequest, now: datetime) -> int:
    if request.retry_id is not None:
        return engine.dead_letter_retry(dead_letter_id=request.retry_id, now=now)
    return engine.vehicles_evaluate(
        vehicle_ids=request.vehicle_ids, at=request.at, monitor_ids=request.monitor_ids,
        boundary_id=request.boundary_id, now=now,
    )


def retries(requests: list[sweeps.EvaluationRequest]) -> list[sweeps.EvaluationRequest]:
    return [request for request in requests if request.retry_id is not None]


def test_a_vehicle_that_cannot_be_evaluated_does_not_hold_up_its_chunk(fleet, poison, now):
    monitor = battery_monitor(fleet)
    sick, healthy = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    store(sick, now - timedelta(seconds=2), **{LEVEL: 40})
    store(sick, now - timedelta(seconds=1), poison=True)
    store(healthy, now - timedelta(seconds=1), **{LEVEL: 40})

    assert engine.vehicles_evaluate(vehicle_ids=[sick.pk, healthy.pk], now=now) == 1

    assert [event.vin for event in Event.objects.filter(monitor=monitor)] == [healthy.vin]
    assert unevaluated(healthy) == 0
    assert unevaluated(sick) == 2  # kept, in order, for the retry: none applied past the poison
    letter = DeadLetter.objects.get()
    assert (letter.kind, letter.vehicle_id, letter.fleet_id, letter.attempts) == ("vehicle", sick.pk, fleet.pk, 1)
    assert (letter.first_failed_at, letter.last_failed_at, letter.retry_at) == (now, now, now + retry_delay())
    assert letter.given_up_at is None
    assert letter.error == "RuntimeError: a point the engine cannot digest"
    assert "Traceback" in letter.traceback and "merge_point" in letter.traceback


def test_a_held_vehicle_waits_for_its_retry_and_is_not_rescued_meanwhile(fleet, poison, now):
    battery_monitor(fleet)
    sick = VehicleFactory(fleet=fleet)
    store(sick, now, poison=True)
    engine.vehicles_evaluate(vehicle_ids=[sick.pk], now=now)

    # New telemetry for it does not retry it before time, nor count as an attempt.
    store(sick, now + timedelta(seconds=1), **{LEVEL: 40})
    assert engine.vehicles_evaluate(vehicle_ids=[sick.pk], now=now + timedelta(seconds=1)) == 0
    assert DeadLetter.objects.get().attempts == 1
    assert unevaluated(sick) == 2

    assert sweeps.unevaluated_points_sweep(now=now + retry_delay() - timedelta(seconds=1)) == []
    [retry] = sweeps.unevaluated_points_sweep(now=now + retry_delay())  # the points are not rescued besides
    assert (retry.vehicle_ids, retry.retry_id) == ([sick.pk], DeadLetter.objects.get().pk)
    # Claimed: the next sweep does not send it again while it may still be queued.
    assert sweeps.unevaluated_points_sweep(now=now + retry_delay() + timedelta(seconds=1)) == []


def test_a_retry_that_succeeds_releases_the_vehicle_and_applies_its_points(fleet, poison, now):
    monitor = battery_monitor(fleet)
    sick = VehicleFactory(fleet=fleet)
    store(sick, now - timedelta(seconds=1), poison=True)
    store(sick, now, **{LEVEL: 40})
    engine.vehicles_evaluate(vehicle_ids=[sick.pk], now=now)

    poison.cured = True
    later = now + retry_delay()
    [retry] = sweeps.unevaluated_points_sweep(now=later)
    assert run(retry, later) == 1
    assert not DeadLetter.objects.exists()
    assert unevaluated(sick) == 0
    assert [event.event_date for event in Event.objects.filter(monitor=monitor)] == [now]


def test_after_max_attempts_it_is_given_up_counted_and_never_retried_or_rescued(fleet, poison, now, settings):
    settings.FLEETMON_EVALUATION_MAX_ATTEMPTS = 3
    battery_monitor(fleet)
    sick, healthy = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    store(sick, now, poison=True)
    given_up_before = DEAD_LETTERS.labels("vehicle")._value.get()
    engine.vehicles_evaluate(vehicle_ids=[sick.pk], now=now)

    moment = now
    for attempt in (2, 3):
        moment += retry_delay()
        [retry] = sweeps.unevaluated_points_sweep(now=moment)
        run(retry, moment)
        assert DeadLetter.objects.get().attempts == attempt

    letter = DeadLetter.objects.get()
    assert (letter.given_up_at, letter.retry_at, letter.last_failed_at) == (moment, None, moment)
    assert letter.first_failed_at == now
    assert DEAD_LETTERS.labels("vehicle")._value.get() == given_up_before + 1
    # Neither retried nor rescued, however long it waits; its point is still there.
    store(healthy, now, **{LEVEL: 40})
    [rescue] = sweeps.unevaluated_points_sweep(now=moment + timedelta(days=1))
    assert (rescue.vehicle_ids, rescue.retry_id) == ([healthy.pk], None)
    assert unevaluated(sick) == 1


def test_replay_from_the_admin_applies_the_held_points_and_counts_failures_from_one(
    fleet, poison, now, settings, admin_client, django_capture_on_commit_callbacks
):
    settings.FLEETMON_EVALUATION_MAX_ATTEMPTS = 1
    monitor = battery_monitor(fleet)
    sick = VehicleFactory(fleet=fleet)
    store(sick, now - timedelta(seconds=1), poison=True)
    store(sick, now, **{LEVEL: 40})
    engine.vehicles_evaluate(vehicle_ids=[sick.pk], now=now)
    letter = DeadLetter.objects.get()
    assert letter.given_up_at == now  # the one attempt allowed

    page = admin_client.get("/admin/monitors/deadletter/")
    assert page.status_code == 200 and sick.vin in page.content.decode()
    assert admin_client.get(f"/admin/monitors/deadletter/{letter.pk}/change/").status_code == 200

    poison.cured = True
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/monitors/deadletter/", {"action": "replay", "_selected_action": [letter.pk]}, follow=True
        )
    assert "Replayed 1 dead letter(s)" in response.content.decode()
    assert not DeadLetter.objects.exists()
    assert unevaluated(sick) == 0
    assert Event.objects.filter(monitor=monitor, vin=sick.vin).count() == 1

    poison.cured = False
    store(sick, now + timedelta(seconds=5), poison=True)
    engine.vehicles_evaluate(vehicle_ids=[sick.pk], now=now + timedelta(seconds=5))
    assert DeadLetter.objects.get().attempts == 1


def test_a_vehicle_failing_a_boundary_evaluation_keeps_its_share_the_others_complete_it(fleet, poison, now):
    monitor = time_zone_monitor(fleet)
    sick, healthy = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    outside = {"vehicle.kinetic.moving": True}
    for vehicle in (sick, healthy):
        store_point(vehicle, event_date=now, latitude=49.3, longitude=2.33, data=outside)
    engine.vehicles_evaluate(vehicle_ids=[sick.pk, healthy.pk], now=now)
    store(sick, now + timedelta(seconds=1), poison=True)
    row = BoundaryEvaluation.objects.create(
        at=now + timedelta(minutes=1), monitor_ids=[monitor.pk], vehicle_ids=[sick.pk, healthy.pk], enqueued_at=now
    )

    engine.vehicles_evaluate(
        vehicle_ids=row.vehicle_ids, at=row.at, monitor_ids=row.monitor_ids, boundary_id=row.pk, now=row.at
    )

    assert not BoundaryEvaluation.objects.exists()
    letter = DeadLetter.objects.get()
    assert (letter.vehicle_id, letter.at, letter.monitor_ids) == (sick.pk, row.at, [monitor.pk])


def test_a_boundary_evaluation_that_never_completes_is_a_dead_letter_that_replay_puts_back(
    fleet, settings, django_capture_on_commit_callbacks
):
    settings.FLEETMON_EVALUATION_MAX_ATTEMPTS = 2
    monitor = time_zone_monitor(fleet)
    vehicle = VehicleFactory(fleet=fleet)
    start = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    store_point(vehicle, event_date=start, latitude=49.3, longitude=2.33, data={"vehicle.kinetic.moving": True})
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], now=start)
    close = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
    Monitor.objects.filter(pk=monitor.pk).update(next_time_boundary=close)
    sweeps.time_boundaries_sweep(now=close)  # every message from here on lost
    assert len(sweeps.time_boundaries_sweep(now=close + sweeps.BOUNDARY_RESCUE_AFTER)) == 1
    assert sweeps.time_boundaries_sweep(now=close + 2 * sweeps.BOUNDARY_RESCUE_AFTER) == []

    letter = DeadLetter.objects.get()
    assert (letter.kind, letter.fleet_id, letter.vehicle_id) == (DeadLetterKind.BOUNDARY, fleet.pk, None)
    assert (letter.at, letter.monitor_ids, letter.vehicle_ids, letter.attempts) == (close, [monitor.pk], [vehicle.pk], 2)
    assert not BoundaryEvaluation.objects.exists()

    from monitors.services import dead_letter_replay

    with django_capture_on_commit_callbacks(execute=True):
        assert dead_letter_replay(dead_letters=[letter]) == 1
    assert not DeadLetter.objects.exists() and not BoundaryEvaluation.objects.exists()
    assert [event.event_date for event in Event.objects.filter(monitor=monitor)] == [close]


def test_held_vehicles_get_no_refresh_reminders_until_released(fleet, poison, now):
    monitor = battery_monitor(fleet, refreshEvent=60)
    sick = VehicleFactory(fleet=fleet)
    store(sick, now, **{LEVEL: 40})
    engine.vehicles_evaluate(vehicle_ids=[sick.pk], now=now)
    store(sick, now + timedelta(seconds=1), poison=True)
    engine.vehicles_evaluate(vehicle_ids=[sick.pk], now=now + timedelta(seconds=1))
    assert DeadLetter.objects.filter(vehicle=sick).exists()
    assert sweeps.refresh_reminders_sweep(now=now + timedelta(minutes=5)) == []
    DeadLetter.objects.all().delete()
    [reminder] = sweeps.refresh_reminders_sweep(now=now + timedelta(minutes=5))
    assert reminder.monitor_ids == [monitor.pk]


def test_retry_tasks_carry_the_dead_letter_id_only(monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(tasks.evaluate_retry, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        tasks._enqueue_all([sweeps.EvaluationRequest(vehicle_ids=["v"], at=None, monitor_ids=None, retry_id=7)])
    assert sent == [(7,)]


def _not_sent() -> float:
    return REGISTRY.get_sample_value("fleetmon_evaluations_not_queued_total", {"source": "sweep"}) or 0.0


def test_a_replay_the_broker_refuses_is_still_done_and_its_points_are_rescued(
    fleet, poison, now, settings, admin_client, django_capture_on_commit_callbacks, refusing_broker, caplog
):
    settings.FLEETMON_EVALUATION_MAX_ATTEMPTS = 1
    sick = VehicleFactory(fleet=fleet)
    store(sick, now, poison=True)
    engine.vehicles_evaluate(vehicle_ids=[sick.pk], now=now)
    letter = DeadLetter.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/monitors/deadletter/", {"action": "replay", "_selected_action": [letter.pk]}, follow=True
        )
    assert response.status_code == 200
    assert "Replayed 1 dead letter(s)" in response.content.decode()
    assert refusing_broker == [[sick.pk]]
    assert "not sent (the work they carry is found again)" in caplog.text
    assert not DeadLetter.objects.exists()
    [rescue] = sweeps.unevaluated_points_sweep(now=now + timedelta(days=1))
    assert rescue.vehicle_ids == [sick.pk]


def test_a_vehicles_instant_replayed_goes_back_in_the_outbox_so_a_lost_message_is_sent_again(
    fleet, now, django_capture_on_commit_callbacks, refusing_broker
):
    from monitors.services import dead_letter_replay

    monitor = time_zone_monitor(fleet)
    vehicle = VehicleFactory(fleet=fleet)
    letter = DeadLetter.objects.create(
        kind=DeadLetterKind.VEHICLE, fleet=fleet, vehicle=vehicle, vehicle_ids=[vehicle.pk], at=now,
        monitor_ids=[monitor.pk], attempts=1, first_failed_at=now, last_failed_at=now, given_up_at=now,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert dead_letter_replay(dead_letters=[letter], now=now) == 1
    assert refusing_broker == [[vehicle.pk]]
    [row] = BoundaryEvaluation.objects.all()
    assert (row.at, row.monitor_ids, row.vehicle_ids) == (now, [monitor.pk], [vehicle.pk])
    [again] = sweeps.time_boundaries_sweep(now=now + sweeps.BOUNDARY_RESCUE_AFTER)
    assert (again.vehicle_ids, again.at, again.boundary_id) == ([vehicle.pk], now, row.pk)


def test_after_a_refused_message_a_sweep_sends_no_more_and_its_claims_find_them_again(
    refusing_broker, django_capture_on_commit_callbacks, caplog
):
    before = _not_sent()
    requests = [sweeps.EvaluationRequest(vehicle_ids=[vehicle], at=None, monitor_ids=None) for vehicle in ("a", "b")]
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks._enqueue_all(requests) == 2
    assert refusing_broker == [["a"]]  # "b" would have spent Celery's retries too
    assert _not_sent() == before + 2
    assert "not sent (the work they carry is found again)" in caplog.text


def test_a_sweep_message_failing_for_a_reason_other_than_the_broker_is_logged_and_the_rest_sent(
    monkeypatch, django_capture_on_commit_callbacks, caplog
):
    sent = []

    def send(args, kwargs=None, **options):
        if not sent:
            sent.append(None)
            raise TypeError("not serializable")
        sent.append(args[0])

    monkeypatch.setattr(tasks.evaluate_vehicles, "apply_async", send)
    requests = [sweeps.EvaluationRequest(vehicle_ids=[vehicle], at=None, monitor_ids=None) for vehicle in ("a", "b")]
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks._enqueue_all(requests) == 2
    assert sent == [None, ["b"]]
    assert "not serializable" in caplog.text and "Traceback" in caplog.text
    assert not tasks._broker_pause.active

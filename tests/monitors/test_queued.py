from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from fleetmon_project.sharedredis import REDIS_TIMEOUT
from monitors import engine, queued, tasks
from monitors.queued import KEY, MARK_SECONDS, evaluation_marks_claim, evaluation_marks_clear
from monitors.sweeps import unevaluated_points_sweep
from telemetry.selectors import points_pending
from tests.e2e_support import wait_for
from tests.telemetry.factories import VehicleFactory, point

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def redis_not_paused(monkeypatch):
    monkeypatch.setattr(queued._pause, "until", 0.0)


@pytest.fixture
def marks(shared_redis):
    _drop_marks(shared_redis)
    yield shared_redis
    _drop_marks(shared_redis)


def _drop_marks(client: redis.Redis) -> None:
    found = client.keys(KEY.format("*"))
    if found:
        client.delete(*found)


def test_a_vehicle_whose_evaluation_is_queued_is_not_queued_again(marks):
    assert evaluation_marks_claim(vehicle_ids=["a", "b"]) == ["a", "b"]
    assert evaluation_marks_claim(vehicle_ids=["b", "c"]) == ["c"]
    evaluation_marks_clear(vehicle_ids=["b"])
    assert evaluation_marks_claim(vehicle_ids=["a", "b"]) == ["b"]


def test_a_mark_expires_in_seconds(marks):
    evaluation_marks_claim(vehicle_ids=["a"])
    assert MARK_SECONDS - 1 <= marks.ttl(KEY.format("a")) <= MARK_SECONDS


def test_without_a_shared_cache_every_vehicle_is_queued_each_time(settings):
    settings.CACHE_URL = ""
    assert evaluation_marks_claim(vehicle_ids=["a", "b"]) == ["a", "b"]
    assert evaluation_marks_claim(vehicle_ids=["a", "b"]) == ["a", "b"]


def test_when_redis_refuses_every_vehicle_is_queued(settings, caplog, monkeypatch):
    settings.CACHE_URL = "redis://127.0.0.1:1/0"  # nothing listens on loopback port 1
    assert evaluation_marks_claim(vehicle_ids=["a", "b"]) == ["a", "b"]
    assert "evaluation marks unavailable" in caplog.text
    monkeypatch.setattr(queued._pause, "until", 0.0)
    evaluation_marks_clear(vehicle_ids=["a"])  # logged, not raised
    assert "not cleared" in caplog.text


def test_a_redis_that_hangs_costs_one_timeout_then_is_left_alone_for_a_while(hung_redis, caplog):
    started = time.monotonic()
    assert evaluation_marks_claim(vehicle_ids=["a"]) == ["a"]
    assert time.monotonic() - started < 3 * REDIS_TIMEOUT
    started = time.monotonic()
    assert evaluation_marks_claim(vehicle_ids=["a"]) == ["a"]
    evaluation_marks_clear(vehicle_ids=["a"])
    assert time.monotonic() - started < REDIS_TIMEOUT / 5
    assert caplog.text.count("evaluation marks") == 1


def test_an_unexpected_error_still_queues_every_vehicle(marks, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("not what redis-py raises")

    monkeypatch.setattr(marks.__class__, "evalsha", broken)
    assert evaluation_marks_claim(vehicle_ids=["a", "b"]) == ["a", "b"]
    assert not marks.exists(KEY.format("a"))


def test_a_redis_that_lost_the_claim_script_is_sent_it_again(marks):
    assert evaluation_marks_claim(vehicle_ids=["a"]) == ["a"]
    marks.script_flush()  # as after a restart
    assert evaluation_marks_claim(vehicle_ids=["a", "b"]) == ["b"]


@pytest.mark.django_db
def test_a_post_finding_an_evaluation_queued_leaves_its_points_to_it(
    marks, api, fleet, django_capture_on_commit_callbacks, monkeypatch
):
    first, second = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    queued = []
    monkeypatch.setattr(tasks.evaluate_vehicles, "delay", lambda *args: queued.append(args[0]))

    def post(*vehicles, at):
        with django_capture_on_commit_callbacks(execute=True):
            body = [point(vin=vehicle.vin, eventDate=at.isoformat()) for vehicle in vehicles]
            assert api.post("/api/v1/telemetry", body, format="json").status_code == 202

    post(first, at=NOW - timedelta(seconds=3))
    post(first, second, at=NOW - timedelta(seconds=2))
    assert queued == [[first.pk], [second.pk]]

    engine.vehicles_evaluate(vehicle_ids=queued[0])  # the first POST's evaluation applies the second's point too
    assert sorted(p.vehicle_id for p in points_pending()) == [second.pk]
    post(first, at=NOW - timedelta(seconds=1))
    assert queued[2:] == [[first.pk]]  # started, it no longer covers what comes next


@pytest.mark.django_db
def test_a_vehicle_is_marked_only_once_its_points_are_committed(
    marks, api, fleet, django_capture_on_commit_callbacks, monkeypatch
):
    vehicle = VehicleFactory(fleet=fleet)
    monkeypatch.setattr(tasks.evaluate_vehicles, "delay", lambda *args: None)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert api.post("/api/v1/telemetry", point(vin=vehicle.vin), format="json").status_code == 202
    assert marks.exists(KEY.format(vehicle.pk)) == 0
    for callback in callbacks:
        callback()
    assert marks.exists(KEY.format(vehicle.pk)) == 1


@pytest.mark.django_db
def test_an_evaluation_clears_its_vehicles_marks_before_it_reads_what_is_pending(
    marks, api, fleet, django_capture_on_commit_callbacks, monkeypatch
):
    vehicle = VehicleFactory(fleet=fleet)
    monkeypatch.setattr(tasks.evaluate_vehicles, "delay", lambda *args: None)
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/telemetry", point(vin=vehicle.vin), format="json")
    marked_when_read = []
    read = engine._vehicles_pending_read

    def observed(ids, **kwargs):
        marked_when_read.append(marks.exists(KEY.format(vehicle.pk)))
        return read(ids, **kwargs)

    monkeypatch.setattr(engine, "_vehicles_pending_read", observed)
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk])
    assert marked_when_read == [0]
    assert not points_pending().exists()


@pytest.mark.django_db
def test_points_left_behind_a_lost_message_are_rescued_by_the_sweeper(
    marks, api, fleet, django_capture_on_commit_callbacks, monkeypatch, settings
):
    vehicle = VehicleFactory(fleet=fleet)
    lost = []
    monkeypatch.setattr(tasks.evaluate_vehicles, "delay", lambda *args: lost.append(args))
    for seconds in (2, 1):
        with django_capture_on_commit_callbacks(execute=True):
            body = point(vin=vehicle.vin, eventDate=(NOW - timedelta(seconds=seconds)).isoformat())
            api.post("/api/v1/telemetry", body, format="json")
    assert len(lost) == 1  # the second POST relied on the first's message

    later = datetime.now(UTC) + timedelta(seconds=settings.FLEETMON_POINT_RESCUE_AFTER + 1)
    (rescue,) = unevaluated_points_sweep(now=later)
    assert rescue.vehicle_ids == [vehicle.pk]
    engine.vehicles_evaluate(vehicle_ids=rescue.vehicle_ids)
    assert not points_pending().exists()
    assert marks.exists(KEY.format(vehicle.pk)) == 0


@pytest.mark.django_db
def test_evaluations_the_broker_refused_are_not_left_marked(
    marks, api, fleet, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.FLEETMON_EVALUATION_CHUNK = 1
    vehicles = [VehicleFactory(fleet=fleet) for _ in range(3)]
    sent = []

    def send(chunk, *args):
        if sent:
            raise ConnectionError("broker down")
        sent.append(chunk)

    monkeypatch.setattr(tasks.evaluate_vehicles, "delay", send)
    with pytest.raises(ConnectionError), django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/telemetry", [point(vin=vehicle.vin) for vehicle in vehicles], format="json")
    assert len(sent) == 1
    ids = sorted(vehicle.pk for vehicle in vehicles)
    assert evaluation_marks_claim(vehicle_ids=ids) == ids[1:]  # only the one queued stays marked


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_posts_while_an_evaluation_waits_in_the_queue_share_its_message(
    marks, api, fleet, live_celery, webhook_receiver, monkeypatch
):
    from tests.monitors.test_engine_e2e import INSIDE, OUTSIDE, create_monitor, event_dates, send

    VehicleFactory(fleet=fleet, vin="VF3ABCDE0FG123456")
    monitor_id = create_monitor(api, fleet, webhook_receiver)
    sent = []
    send_for_real = tasks.evaluate_vehicles.delay
    monkeypatch.setattr(tasks.evaluate_vehicles, "delay", lambda *args: sent.append(args) or send_for_real(*args))
    start = datetime.now(UTC) - timedelta(minutes=10)
    for offset, position in ((0, INSIDE), (60, OUTSIDE), (120, INSIDE), (180, OUTSIDE)):
        send(api, start, (offset, position, None))  # no worker yet: the first POST's message waits
    assert len(sent) == 1

    live_celery.worker(CACHE_URL=os.environ["CELERY_BROKER_URL"])
    wait_for(lambda: not points_pending().exists(), message="points evaluated")
    assert event_dates(monitor_id) == [start + timedelta(seconds=60), start + timedelta(seconds=180)]
    assert marks.keys(KEY.format("*")) == []  # started, the evaluation cleared its vehicle's mark

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis
from prometheus_client import REGISTRY

from fleetmon_project.sharedredis import REDIS_TIMEOUT
from monitors import engine, queued, tasks
from monitors.queued import (
    CHUNK_KEY,
    CHUNK_SECONDS,
    KEY,
    MARK_SECONDS,
    OPEN_KEY,
    evaluation_chunk_release,
    evaluation_chunk_take,
    evaluation_chunks_claim,
)
from monitors.sweeps import unevaluated_points_sweep
from telemetry.models import Vehicle
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
    client.delete(OPEN_KEY, *client.keys(KEY.format("*")), *client.keys(CHUNK_KEY.format("*")))


def _claim(*vehicle_ids: str) -> list[tuple[str | None, list[str]]]:
    return [(chunk.id, chunk.vehicle_ids) for chunk in evaluation_chunks_claim(vehicle_ids=vehicle_ids)]


def test_a_vehicle_whose_evaluation_is_queued_is_not_queued_again(marks):
    ((first, named),) = _claim("b", "a")
    assert named == ["a", "b"]
    assert _claim("b", "c") == []  # c joins the open chunk, whose message is on its way
    assert evaluation_chunk_take(chunk_id=first, vehicle_ids=named) == ["a", "b", "c"]
    assert [named for _, named in _claim("a", "b", "c", "d")] == [["a", "b", "c", "d"]]


def test_a_taken_chunk_is_closed_and_the_next_vehicles_open_another(marks):
    ((first, _),) = _claim("a")
    evaluation_chunk_take(chunk_id=first, vehicle_ids=["a"])
    ((second, named),) = _claim("b")
    assert second != first
    assert named == ["b"]
    assert evaluation_chunk_take(chunk_id=second, vehicle_ids=named) == ["b"]


def test_vehicles_fill_the_open_chunk_then_open_chunks_of_their_own(marks, settings):
    settings.FLEETMON_EVALUATION_CHUNK = 3
    ((first, _),) = _claim("a")
    opened = _claim("b", "c", "d", "e", "f", "g")
    assert [named for _, named in opened] == [["d", "e", "f"], ["g"]]
    assert evaluation_chunk_take(chunk_id=first, vehicle_ids=["a"]) == ["a", "b", "c"]
    assert evaluation_chunk_take(chunk_id=opened[0][0], vehicle_ids=["d", "e", "f"]) == ["d", "e", "f"]
    assert _claim("h") == []  # the last chunk opened has room
    assert evaluation_chunk_take(chunk_id=opened[1][0], vehicle_ids=["g"]) == ["g", "h"]


def test_a_mark_and_an_open_chunk_expire_in_seconds_a_chunk_in_an_hour(marks):
    ((chunk_id, _),) = _claim("a")
    assert MARK_SECONDS - 1 <= marks.ttl(KEY.format("a")) <= MARK_SECONDS
    assert MARK_SECONDS - 1 <= marks.ttl(OPEN_KEY) <= MARK_SECONDS
    assert CHUNK_SECONDS - 1 <= marks.pttl(CHUNK_KEY.format(chunk_id)) / 1000 <= CHUNK_SECONDS


def test_vehicles_joining_a_chunk_do_not_keep_it_open_longer(marks):
    _claim("a")
    time.sleep(1.1)
    assert _claim("b") == []
    assert marks.pttl(OPEN_KEY) <= (MARK_SECONDS - 1) * 1000


def test_a_redis_url_asking_for_decoded_replies_gets_bytes_all_the_same(marks, settings):
    settings.CACHE_URL += "?decode_responses=true"
    ((chunk_id, named),) = _claim("a")
    assert evaluation_chunk_take(chunk_id=chunk_id, vehicle_ids=named) == ["a"]


def test_a_chunk_is_read_again_until_it_is_released(marks):
    ((chunk_id, named),) = _claim("a")
    _claim("b")
    assert evaluation_chunk_take(chunk_id=chunk_id, vehicle_ids=named) == ["a", "b"]
    # the message delivered again, its worker killed mid-evaluation
    assert evaluation_chunk_take(chunk_id=chunk_id, vehicle_ids=named) == ["a", "b"]
    evaluation_chunk_release(chunk_id=chunk_id)
    assert evaluation_chunk_take(chunk_id=chunk_id, vehicle_ids=named) == []
    assert marks.keys(CHUNK_KEY.format("*")) == []


def test_a_message_without_a_chunk_clears_the_marks_of_the_vehicles_it_names(marks):
    _claim("a", "b")
    assert evaluation_chunk_take(chunk_id=None, vehicle_ids=["a"]) == []  # a sweep's, say
    assert (marks.exists(KEY.format("a")), marks.exists(KEY.format("b"))) == (0, 1)


def test_without_a_shared_cache_every_vehicle_is_queued_each_time(settings):
    settings.CACHE_URL = ""
    settings.FLEETMON_EVALUATION_CHUNK = 2
    assert _claim("a", "b", "c") == [(None, ["a", "b"]), (None, ["c"])]
    assert _claim("a", "b", "c") == [(None, ["a", "b"]), (None, ["c"])]
    assert evaluation_chunk_take(chunk_id="x", vehicle_ids=["a"]) == []


def test_when_redis_refuses_every_vehicle_is_queued(settings, caplog, monkeypatch):
    settings.CACHE_URL = "redis://127.0.0.1:1/0"  # nothing listens on loopback port 1
    assert _claim("a", "b") == [(None, ["a", "b"])]
    assert "evaluation marks unavailable" in caplog.text
    monkeypatch.setattr(queued._pause, "until", 0.0)
    assert evaluation_chunk_take(chunk_id="x", vehicle_ids=["a"]) == []  # logged, not raised
    assert "not cleared" in caplog.text
    monkeypatch.setattr(queued._pause, "until", 0.0)
    evaluation_chunk_release(chunk_id="x")
    assert "chunk not released" in caplog.text


def test_a_redis_that_hangs_costs_one_timeout_then_is_left_alone_for_a_while(hung_redis, caplog):
    started = time.monotonic()
    assert _claim("a") == [(None, ["a"])]
    assert time.monotonic() - started < 3 * REDIS_TIMEOUT
    started = time.monotonic()
    assert _claim("a") == [(None, ["a"])]
    evaluation_chunk_take(chunk_id=None, vehicle_ids=["a"])
    evaluation_chunk_release(chunk_id="x")
    assert time.monotonic() - started < REDIS_TIMEOUT / 5
    assert caplog.text.count("evaluation marks") == 1


def test_a_worker_takes_its_chunk_even_while_redis_errors_pause_the_marks(marks, monkeypatch):
    ((chunk_id, named),) = _claim("a")
    _claim("b")
    monkeypatch.setattr(queued._pause, "until", time.monotonic() + 60)
    assert evaluation_chunk_take(chunk_id=chunk_id, vehicle_ids=named) == ["a", "b"]


def test_an_unexpected_error_still_queues_every_vehicle(marks, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("not what redis-py raises")

    monkeypatch.setattr(marks.__class__, "evalsha", broken)
    assert _claim("a", "b") == [(None, ["a", "b"])]
    assert not marks.exists(KEY.format("a"))


def test_a_redis_that_lost_the_scripts_is_sent_them_again(marks):
    ((chunk_id, _),) = _claim("a")
    marks.script_flush()  # as after a restart
    assert _claim("a", "b") == []
    marks.script_flush()
    assert evaluation_chunk_take(chunk_id=chunk_id, vehicle_ids=["a"]) == ["a", "b"]


@pytest.fixture
def published(monkeypatch):
    """The evaluation messages POSTs publish, as (vehicles named, task id), not sent."""
    sent: list[tuple[list[str], str | None]] = []
    monkeypatch.setattr(
        tasks.evaluate_vehicles, "apply_async", lambda args, task_id=None: sent.append((args[0], task_id))
    )
    return sent


@pytest.fixture
def post(api, django_capture_on_commit_callbacks):
    def post(*vehicles, at=None):
        with django_capture_on_commit_callbacks(execute=True):
            body = [point(vin=vehicle.vin, eventDate=(at or NOW).isoformat()) for vehicle in vehicles]
            assert api.post("/api/v1/telemetry", body, format="json").status_code == 202

    return post


@dataclass(frozen=True)
class JoinedChunk:
    opener: Vehicle
    joiner: Vehicle
    named: list[str]  # the vehicles its message names
    chunk_id: str | None


@pytest.fixture
def joined_chunk(marks, fleet, published, post) -> JoinedChunk:
    """A chunk one vehicle's POST opened and another's joined, its message published."""
    opener, joiner = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    post(opener)
    post(joiner)
    ((named, chunk_id),) = published
    return JoinedChunk(opener, joiner, named, chunk_id)


@pytest.mark.django_db
def test_posts_finding_an_evaluation_queued_leave_their_points_to_it(marks, fleet, published, post):
    first, second = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    post(first, at=NOW - timedelta(seconds=3))
    post(first, second, at=NOW - timedelta(seconds=2))  # second joins the open chunk
    ((named, chunk_id),) = published
    assert named == [first.pk]

    engine.vehicles_evaluate(vehicle_ids=named, chunk_id=chunk_id)  # applies both POSTs' points
    assert not points_pending().exists()
    assert marks.keys(CHUNK_KEY.format("*")) == []  # released once evaluated
    post(first, at=NOW - timedelta(seconds=1))
    assert [named for named, _ in published[1:]] == [[first.pk]]  # started, it no longer covers what comes next


@pytest.mark.django_db
def test_a_vehicle_is_marked_only_once_its_points_are_committed(
    marks, api, fleet, django_capture_on_commit_callbacks, published
):
    vehicle = VehicleFactory(fleet=fleet)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert api.post("/api/v1/telemetry", point(vin=vehicle.vin), format="json").status_code == 202
    assert marks.exists(KEY.format(vehicle.pk)) == 0
    for callback in callbacks:
        callback()
    assert marks.exists(KEY.format(vehicle.pk)) == 1


@pytest.mark.django_db
def test_an_evaluation_clears_its_chunks_marks_before_it_reads_what_is_pending(marks, joined_chunk, monkeypatch):
    marked_when_read = []
    read = engine._vehicles_pending_read

    def observed(ids, **kwargs):
        marked_when_read.append(marks.exists(KEY.format(joined_chunk.opener.pk), KEY.format(joined_chunk.joiner.pk)))
        return read(ids, **kwargs)

    monkeypatch.setattr(engine, "_vehicles_pending_read", observed)
    engine.vehicles_evaluate(vehicle_ids=joined_chunk.named, chunk_id=joined_chunk.chunk_id)
    assert marked_when_read == [0]
    assert not points_pending().exists()


@pytest.mark.django_db
def test_the_task_vehicles_metric_counts_those_that_joined_the_chunk(joined_chunk):
    def observed() -> tuple[float, float]:
        sample = REGISTRY.get_sample_value
        return sample("fleetmon_evaluation_task_vehicles_count") or 0.0, sample("fleetmon_evaluation_task_vehicles_sum") or 0.0

    before = observed()
    engine.vehicles_evaluate(vehicle_ids=joined_chunk.named, chunk_id=joined_chunk.chunk_id)
    assert len(joined_chunk.named) == 1
    assert observed() == (before[0] + 1, before[1] + 2)


@pytest.mark.django_db
def test_a_message_naming_a_chunk_redis_lost_still_evaluates_its_own_vehicles(marks, joined_chunk):
    marks.delete(CHUNK_KEY.format(joined_chunk.chunk_id))  # or a worker of the previous release ignores it
    engine.vehicles_evaluate(vehicle_ids=joined_chunk.named, chunk_id=joined_chunk.chunk_id)
    # the joiner waits, as after a lost mark
    assert [p.vehicle_id for p in points_pending()] == [joined_chunk.joiner.pk]


@pytest.mark.django_db
def test_a_chunk_whose_evaluation_failed_is_left_to_a_copy_of_its_message(marks, joined_chunk, monkeypatch):
    named, chunk_id = joined_chunk.named, joined_chunk.chunk_id

    def broken(*args, **kwargs):
        raise ConnectionError("database gone")

    working = engine._evaluate, engine._one_by_one
    monkeypatch.setattr(engine, "_evaluate", broken)
    monkeypatch.setattr(engine, "_one_by_one", broken)
    with pytest.raises(ConnectionError):
        engine.vehicles_evaluate(vehicle_ids=named, chunk_id=chunk_id)
    monkeypatch.setattr(engine, "_evaluate", working[0])
    monkeypatch.setattr(engine, "_one_by_one", working[1])
    engine.vehicles_evaluate(vehicle_ids=named, chunk_id=chunk_id)  # the copy
    assert not points_pending().exists()
    assert marks.keys(CHUNK_KEY.format("*")) == []


@pytest.mark.django_db
def test_a_chunk_whose_points_another_evaluation_applied_is_released(marks, joined_chunk):
    engine.vehicles_evaluate(vehicle_ids=[joined_chunk.opener.pk, joined_chunk.joiner.pk])  # the sweeper's, say
    assert engine.vehicles_evaluate(vehicle_ids=joined_chunk.named, chunk_id=joined_chunk.chunk_id) == 0
    assert marks.keys(CHUNK_KEY.format("*")) == []


@pytest.mark.django_db
def test_points_left_behind_a_lost_message_are_rescued_by_the_sweeper(marks, fleet, published, post, settings):
    vehicle, joiner = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    post(vehicle, at=NOW - timedelta(seconds=2))
    post(vehicle, joiner, at=NOW - timedelta(seconds=1))
    assert len(published) == 1  # the second POST relied on the first's message, which is lost

    later = datetime.now(UTC) + timedelta(seconds=settings.FLEETMON_POINT_RESCUE_AFTER + 1)
    (rescue,) = unevaluated_points_sweep(now=later)
    assert sorted(rescue.vehicle_ids) == sorted([vehicle.pk, joiner.pk])
    engine.vehicles_evaluate(vehicle_ids=rescue.vehicle_ids)
    assert not points_pending().exists()
    assert marks.exists(KEY.format(vehicle.pk), KEY.format(joiner.pk)) == 0


@pytest.mark.django_db
def test_evaluations_the_broker_refused_are_not_left_marked(
    marks, api, fleet, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.FLEETMON_EVALUATION_CHUNK = 2
    vehicles = sorted((VehicleFactory(fleet=fleet) for _ in range(4)), key=lambda vehicle: vehicle.pk)
    ids = [vehicle.pk for vehicle in vehicles]
    sent = []

    def send(args, task_id=None):
        if sent:
            assert _claim(ids[3]) == []  # another POST's vehicle joins the chunk meanwhile
            raise ConnectionError("broker down")
        sent.append(args[0])

    monkeypatch.setattr(tasks.evaluate_vehicles, "apply_async", send)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/telemetry", [point(vin=vehicle.vin) for vehicle in vehicles[:3]], format="json")
    assert response.status_code == 202
    assert sent == [ids[:2]]
    # only the chunk queued stays marked, and the refused one is not left open
    assert [named for _, named in _claim(*ids)] == [ids[2:]]


def _not_queued() -> float:
    return REGISTRY.get_sample_value("fleetmon_evaluations_not_queued_total", {"source": "telemetry"}) or 0.0


@pytest.mark.django_db(transaction=True)  # the hook runs at the request's own commit, as in production
def test_points_whose_evaluation_the_broker_refuses_are_accepted_and_left_to_the_sweeper(
    api, fleet, refusing_broker, caplog, settings
):
    vehicle = VehicleFactory(fleet=fleet)
    before = _not_queued()
    response = api.post("/api/v1/telemetry", [point(vin=vehicle.vin)], format="json")
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1}
    assert refusing_broker == [[vehicle.pk]]
    assert _not_queued() == before + 1
    assert "evaluation messages not queued (the sweeper rescues the points stored)" in caplog.text
    assert "Connection refused" in caplog.text
    later = datetime.now(UTC) + timedelta(seconds=settings.FLEETMON_POINT_RESCUE_AFTER + 1)
    (rescue,) = unevaluated_points_sweep(now=later)
    assert rescue.vehicle_ids == [vehicle.pk]


@pytest.fixture
def post_status(api, django_capture_on_commit_callbacks):
    def post_status(vehicle: Vehicle) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return api.post("/api/v1/telemetry", [point(vin=vehicle.vin)], format="json").status_code

    return post_status


@pytest.mark.django_db
def test_after_a_refused_message_posts_publish_nothing_until_the_pause_ends(
    fleet, refusing_broker, post_status, monkeypatch
):
    vehicle = VehicleFactory(fleet=fleet)
    assert post_status(vehicle) == 202
    before = _not_queued()
    assert post_status(vehicle) == 202
    assert len(refusing_broker) == 1  # the second POST did not wait on the broker
    assert _not_queued() == before + 1
    monkeypatch.setattr(tasks._broker_pause, "until", time.monotonic() - 1)  # the pause is over
    assert post_status(vehicle) == 202
    assert len(refusing_broker) == 2


@pytest.mark.django_db
def test_while_a_publish_is_stuck_on_the_broker_other_posts_publish_nothing(
    fleet, published, post_status, monkeypatch
):
    vehicle = VehicleFactory(fleet=fleet)
    another_thread = -1
    monkeypatch.setitem(tasks._publishing_since, another_thread, time.monotonic() - tasks.STUCK_PUBLISH_S - 1)
    assert post_status(vehicle) == 202
    assert published == []
    tasks._publishing_since[another_thread] = time.monotonic() + 60  # publishing, but not for long
    assert post_status(vehicle) == 202
    assert [named for named, _ in published] == [[vehicle.pk]]
    assert list(tasks._publishing_since) == [another_thread]  # the POST's own entry is gone


@pytest.mark.django_db
def test_a_publish_failing_for_a_reason_other_than_the_broker_is_logged_whole_and_pauses_nothing(
    fleet, post_status, monkeypatch, caplog
):
    def broken(args, task_id=None):
        raise TypeError("apply_async() got an unexpected keyword argument")

    monkeypatch.setattr(tasks.evaluate_vehicles, "apply_async", broken)
    vehicle = VehicleFactory(fleet=fleet)
    assert post_status(vehicle) == 202
    (record,) = [r for r in caplog.records if "evaluation message not queued" in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is TypeError
    assert not tasks._broker_pause.active


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_posts_while_an_evaluation_waits_in_the_queue_share_its_message(
    marks, api, fleet, live_celery, webhook_receiver, monkeypatch
):
    from tests.monitors.test_engine_e2e import INSIDE, OUTSIDE, create_monitor, event_dates, send

    VehicleFactory(fleet=fleet, vin="VF3ABCDE0FG123456")
    others = [VehicleFactory(fleet=fleet) for _ in range(3)]
    monitor_id = create_monitor(api, fleet, webhook_receiver)
    sent = []
    send_for_real = tasks.evaluate_vehicles.apply_async
    monkeypatch.setattr(
        tasks.evaluate_vehicles,
        "apply_async",
        lambda *args, **kwargs: sent.append(args) or send_for_real(*args, **kwargs),
    )
    start = datetime.now(UTC) - timedelta(minutes=10)
    for offset, position in ((0, INSIDE), (60, OUTSIDE), (120, INSIDE), (180, OUTSIDE)):
        send(api, start, (offset, position, None))  # no worker yet: the first POST's message waits
    for other in others:  # one point per POST, from vehicles of their own
        body = {"vin": other.vin, "eventDate": (start + timedelta(seconds=30)).isoformat(), "position": INSIDE}
        assert api.post("/api/v1/telemetry", body, format="json").status_code == 202
    assert len(sent) == 1

    live_celery.worker(CACHE_URL=os.environ["CELERY_BROKER_URL"])
    wait_for(lambda: not points_pending().exists(), message="points evaluated")
    assert event_dates(monitor_id) == [start + timedelta(seconds=60), start + timedelta(seconds=180)]
    assert marks.keys(KEY.format("*")) == []  # started, the evaluation cleared its vehicles' marks
    wait_for(lambda: marks.keys(CHUNK_KEY.format("*")) == [], message="chunk released")

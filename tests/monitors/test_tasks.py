from __future__ import annotations

import pytest
from celery import Task

from monitors import tasks


@pytest.fixture
def published(monkeypatch):
    """What evaluate_vehicles hands to Celery's own apply_async: (args, options) per message."""
    sent: list[tuple[object, dict]] = []
    monkeypatch.setattr(
        Task, "apply_async", lambda self, args=None, kwargs=None, **options: sent.append((args, options))
    )
    return sent


def test_an_evaluation_message_shows_its_vehicles_by_count_and_range(published):
    tasks.evaluate_vehicles.delay(["a", "b", "c"], None, ["m1"], 7)
    # The message still carries every id; only what monitoring tools show of it is short.
    assert published == [
        ((["a", "b", "c"], None, ["m1"], 7), {"argsrepr": "([3 vehicles: 'a'..'c'], None, ['m1'], 7)"})
    ]


@pytest.mark.django_db
def test_an_evaluation_queued_on_commit_gets_the_short_argsrepr_too(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tasks.enqueue_evaluation(vehicle_ids=["a", "b"], expiries=True)
    assert [options for _, options in published] == [{"argsrepr": "([2 vehicles: 'a'..'b'], None, None, None)"}]


def test_an_explicit_argsrepr_is_kept(published):
    tasks.evaluate_vehicles.apply_async((["a"], None, None, None), argsrepr="mine")
    assert [options for _, options in published] == [{"argsrepr": "mine"}]


def test_an_evaluation_takes_the_chunk_its_task_id_names(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.engine, "vehicles_evaluate", lambda **kwargs: calls.append(kwargs) or 0)
    tasks.evaluate_vehicles.apply((["a"], None, None, None), task_id="the-chunk")
    assert [call["chunk_id"] for call in calls] == ["the-chunk"]

from __future__ import annotations

import pytest
from celery import Task

from monitors import tasks


def test_an_evaluation_message_shows_its_vehicles_by_count_and_range(monkeypatch):
    sent = []
    monkeypatch.setattr(
        Task, "apply_async", lambda self, args=None, kwargs=None, **options: sent.append((args, options))
    )
    tasks.evaluate_vehicles.delay(["a", "b", "c"], None, ["m1"], 7)
    # The message still carries every id; only what monitoring tools show of it is short.
    assert sent == [((["a", "b", "c"], None, ["m1"], 7), {"argsrepr": "([3 vehicles: 'a'..'c'], None, ['m1'], 7)"})]


@pytest.mark.django_db
def test_an_evaluation_queued_on_commit_gets_the_short_argsrepr_too(monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(Task, "apply_async", lambda self, args=None, kwargs=None, **options: sent.append(options))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.enqueue_evaluation(vehicle_ids=["a", "b"], expiries=True)
    assert sent == [{"argsrepr": "([2 vehicles: 'a'..'b'], None, None, None)"}]


def test_an_explicit_argsrepr_is_kept(monkeypatch):
    sent = []
    monkeypatch.setattr(Task, "apply_async", lambda self, args=None, kwargs=None, **options: sent.append(options))
    tasks.evaluate_vehicles.apply_async((["a"], None, None, None), argsrepr="mine")
    assert sent == [{"argsrepr": "mine"}]

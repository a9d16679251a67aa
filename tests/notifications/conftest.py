from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone


@pytest.fixture
def receiver(webhook_receiver, settings):
    """The loopback receiver, reachable because private targets are allowed for it."""
    settings.FLEETMON_ALLOW_PRIVATE_WEBHOOKS = True
    return webhook_receiver


@pytest.fixture
def t0() -> datetime:
    return timezone.now()


@pytest.fixture
def enqueued(monkeypatch):
    """Records the deliveries' messages instead of sending them: `[(delivery_id, task_id)]`, a
    group's (deliver_webhooks) as one entry per delivery."""
    from notifications import tasks

    calls: list[tuple[int, str]] = []
    monkeypatch.setattr(
        tasks.deliver_webhook,
        "apply_async",
        lambda args, task_id=None, **options: calls.append((*args, task_id)),
    )
    monkeypatch.setattr(
        tasks.deliver_webhooks,
        "apply_async",
        lambda args, task_id=None, **options: calls.extend((delivery_id, task_id) for delivery_id in args[0]),
    )
    return calls


@pytest.fixture
def messages(monkeypatch) -> list[tuple[str, tuple, str | None, int | None]]:
    """The deliveries' messages instead of sending them: `[(task name, args, task id, countdown)]`."""
    from notifications import tasks

    sent: list[tuple[str, tuple, str | None, int | None]] = []
    for task in (tasks.deliver_webhook, tasks.deliver_webhooks):
        monkeypatch.setattr(
            task,
            "apply_async",
            lambda args, task_id=None, countdown=None, _name=task.name, **options: sent.append(
                (_name, args, task_id, countdown)
            ),
        )
    return sent

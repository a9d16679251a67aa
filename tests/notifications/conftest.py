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
    """Records deliver_webhook messages instead of running them: `[(delivery_id, task_id)]`."""
    from notifications import tasks

    calls: list[tuple[int, str]] = []
    monkeypatch.setattr(
        tasks.deliver_webhook,
        "apply_async",
        lambda args, task_id=None, **options: calls.append((*args, task_id)),
    )
    return calls

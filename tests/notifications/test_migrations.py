"""Schema migrations of the delivery rows, run backwards and forwards against the real database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifications.models import Delivery
from tests.migrations import migrate, migrate_to_latest
from tests.monitors.factories import MonitorFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("notifications", "0004_webhook_health_streak_start_and_disablement")]
AFTER = [("notifications", "0005_delivery_task_id")]
LEASED_UNTIL = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def test_the_lease_holder_is_kept_when_claimed_by_becomes_task_id(fleet):
    monitor = MonitorFactory(fleet=fleet)
    old = migrate(BEFORE).get_model("notifications", "Delivery")
    held = old.objects.create(
        monitor_id=monitor.pk, fleet_id=fleet.pk, webhook_id="msg_held", expires_at=LEASED_UNTIL,
        claimed_by="celery-task-1", in_flight_until=LEASED_UNTIL,
    )
    try:
        migrate(AFTER)
        assert Delivery.objects.get(pk=held.pk).task_id == "celery-task-1"
    finally:
        migrate_to_latest()

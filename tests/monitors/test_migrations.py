"""Data migrations, run backwards and forwards against the real database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.migrations import migrate, migrate_to_latest
from tests.monitors.factories import monitor_definition

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("monitors", "0004_boundary_evaluation_outbox")]
AFTER = [("monitors", "0005_pause_history")]
PAUSED = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
RESUMED = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)


def test_the_last_pause_is_carried_over_into_the_pause_history(user):
    apps = migrate(BEFORE)
    Fleet = apps.get_model("telemetry", "Fleet")
    Monitor = apps.get_model("monitors", "Monitor")
    fleet = Fleet.objects.create(owner_id=user.pk, label="f")
    common = {"fleet": fleet, "label": "m", "definition": monitor_definition(), "bool_exp": "a",
              "trigger_names": ["a"], "truth_table": 2}
    resumed = Monitor.objects.create(**common, paused_at=PAUSED, resumed_at=RESUMED)
    still_paused = Monitor.objects.create(**common, status="Paused", paused_at=PAUSED)
    never = Monitor.objects.create(**common)
    try:
        Monitor = migrate(AFTER).get_model("monitors", "Monitor")
        pauses = dict(Monitor.objects.values_list("pk", "pauses"))
        assert pauses[resumed.pk] == [[PAUSED.isoformat(), RESUMED.isoformat()]]
        assert pauses[still_paused.pk] == [[PAUSED.isoformat(), None]]
        assert pauses[never.pk] == []
    finally:
        migrate_to_latest()

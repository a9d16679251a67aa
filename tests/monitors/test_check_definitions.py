"""`manage.py check_definitions` against rows written around the API, as an older release would have."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from monitors.models import Monitor
from monitors.services import monitor_delete
from tests.monitors.factories import PARIS, MonitorFactory, monitor_definition

pytestmark = pytest.mark.django_db


def _store_around_the_api(monitor: Monitor, definition: dict) -> None:
    Monitor.objects.filter(pk=monitor.pk).update(definition=definition)


def too_wide() -> dict:
    """A circle wider than the Earth, and an unknown operator: two rules the API enforces today."""
    return monitor_definition(
        triggerParam={
            "triggers": [
                {"name": "far", "zone": {"transition": "Out", "place": {"radius": 30000, "center": dict(PARIS)}}},
                {"name": "odd", "data": {"data": "vehicle.energy.electric.level", "op": "roughly", "value": ["5"]}},
            ],
            "boolExp": "far & odd",
        }
    )


def run(*args: str) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("check_definitions", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_all_valid_exits_zero_and_says_how_many_were_checked(fleet):
    MonitorFactory.create_batch(2, fleet=fleet)
    out, error = run()
    assert error is None
    assert "all 2 monitor(s) pass" in out


def test_a_definition_the_current_rules_refuse_is_listed_with_every_problem_and_fails(fleet):
    good = MonitorFactory(fleet=fleet)
    bad = MonitorFactory(fleet=fleet, label="Legacy circle")
    _store_around_the_api(bad, too_wide())

    out, error = run()

    assert error is not None and error.returncode == 1
    assert "1 of 2 monitor(s) fail" in str(error)
    assert f"fleet {fleet.pk} monitor {bad.pk} 'Legacy circle':" in out
    assert "triggerParam.triggers[0].zone.place.radius:" in out
    assert "triggerParam.triggers[1].data.op:" in out
    assert good.pk not in out
    # Read-only: the row is as it was.
    bad.refresh_from_db()
    assert bad.definition == too_wide()


def test_fleet_option_checks_only_that_fleet(fleet, other_fleet):
    bad = MonitorFactory(fleet=other_fleet)
    _store_around_the_api(bad, too_wide())
    MonitorFactory(fleet=fleet)

    out, error = run("--fleet", fleet.pk)
    assert error is None and "all 1 monitor(s) pass" in out

    out, error = run("--fleet", other_fleet.pk)
    assert error is not None and error.returncode == 1
    assert bad.pk in out


def test_deleted_monitors_are_not_checked(fleet):
    bad = MonitorFactory(fleet=fleet)
    _store_around_the_api(bad, too_wide())
    monitor_delete(monitor=bad)
    out, error = run()
    assert error is None and "all 0 monitor(s) pass" in out


def test_an_unknown_fleet_is_a_usage_error():
    _, error = run("--fleet", "nope")
    assert error is not None and error.returncode == 2
    assert "no fleet with id 'nope'" in str(error)

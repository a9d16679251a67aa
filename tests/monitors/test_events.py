"""Tests of monitors.events: the one builder of the `MonitorEvent` shape."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from monitors.events import monitor_event

VALUES = [{"data": "vehicle.energy.electric.level", "value": {"type": "string", "body": {"literalValue": "42"}}}]


def test_monitor_event_has_the_template_fields_in_its_order_with_an_rfc3339_date() -> None:
    paris = timezone(timedelta(hours=2))
    event = monitor_event(
        fleet_id="fleet-1",
        vin="VR3ABC00000000001",
        event_date=datetime(2026, 5, 4, 15, 0, 0, 250000, tzinfo=paris),
        values=VALUES,
        extensions=[],
        refresh=True,
    )
    assert list(event) == ["fleetId", "vin", "eventDate", "values", "extensions", "refresh"]
    assert event["eventDate"] == "2026-05-04T13:00:00.250Z"
    assert event["values"] == VALUES and event["extensions"] == [] and event["refresh"] is True

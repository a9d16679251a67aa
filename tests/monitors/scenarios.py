"""Scenarios the engine's tests share: a vehicle driving in and out of Paris from T0, its points
fed through the engine as they arrive, and the monitors watching it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitors import engine
from monitors.models import Event
from tests.monitors.factories import PARIS, MonitorFactory, monitor_definition
from tests.telemetry.factories import store_points

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # a Monday, 12:00 in Paris
INSIDE = {"latitude": PARIS["latitude"], "longitude": PARIS["longitude"]}
OUTSIDE = {"latitude": 49.3, "longitude": 2.33}  # ~48 km north of the centre


def feed(vehicle, *points, evaluate: bool = True, late_by: float = 0) -> int:
    """Store points as ingestion does, then run the engine on them as they arrive: `late_by`
    seconds after the last one's eventDate. Each point is (seconds after T0, position or None,
    data)."""
    store_points(
        vehicle,
        [{"event_date": T0 + timedelta(seconds=offset), "data": data, **(position or {})} for offset, position, data in points],
    )
    arrived = T0 + timedelta(seconds=max(offset for offset, _, _ in points) + late_by)
    return engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], now=arrived) if evaluate else 0


def events(monitor, **filters):
    return list(Event.objects.filter(monitor=monitor, **filters).order_by("event_date", "id"))


def battery_monitor(fleet, **subscribe):
    return MonitorFactory(
        fleet=fleet,
        definition=monitor_definition(
            subscribeParam={
                "callback": {"webhook": {"target": "http://127.0.0.1:9/hook", "name": "r"}},
                **subscribe,
            },
            triggerParam={
                "triggers": [
                    {"name": "low", "data": {"data": "vehicle.energy.electric.level", "op": "lowerThan", "value": ["50"]}}
                ],
                "boolExp": "low",
            },
        ),
    )


def time_zone_monitor(fleet):
    """`z & !t`: outside Paris and not within 12:00-13:00 Paris time."""
    return MonitorFactory(
        fleet=fleet,
        definition=monitor_definition(
            triggerParam={
                "triggers": [
                    {"name": "z", "zone": {"transition": "Out", "place": {"radius": 20, "center": dict(PARIS)}}},
                    {
                        "name": "t",
                        "time": {
                            "timeZone": "Europe/Paris",
                            "times": [{"recurrence": "Daily", "start": "PT12H", "duration": "PT1H"}],
                        },
                    },
                ],
                "boolExp": "z & !t",
            }
        ),
    )

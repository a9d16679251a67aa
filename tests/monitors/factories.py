from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import factory

from monitors.definition import parse_monitor_definition
from monitors.models import Event, Monitor
from monitors.services import monitor_create
from tests.telemetry.factories import FleetFactory, VehicleFactory

# The user's documented examples, verbatim (tests/fixtures/README.md).
SEED_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "seed-monitors"

PARIS = {"latitude": 48.866667, "longitude": 2.333333}

# A definition using every part of the contract: each trigger kind, two time entries (one
# recurring with occurrences), retry policy, batching, refresh, templated attributes of each type
# and extended event data.
FULL_DEFINITION: dict[str, Any] = {
    "label": "Paris zone, weekday afternoons, low battery",
    "subscribeParam": {
        "refreshEvent": 600,
        "retryPolicy": {"policy": "Always", "retryNumber": 3, "retryDelay": 120},
        "batchNotify": {"size": 10, "timeWindow": 300},
        "callback": {
            "webhook": {
                "target": "https://my.post.callback/events",
                "name": "My_Webhook",
                "attributes": [
                    {"type": "Header", "key": "X-Vehicle_Id", "value": "$vin"},
                    {"type": "Query", "key": "fleet", "value": "$fleetID"},
                    {"type": "Body", "key": "monitor", "value": "$monitorID"},
                ],
            }
        },
    },
    "extendedEventParam": ["vehicle.alerts", "vehicle.status"],
    "triggerParam": {
        "triggers": [
            {
                "name": "z",
                "zone": {
                    "transition": "Out",
                    "place": {"radius": 20, "center": {"latitude": 48.866667, "longitude": 2.333333}},
                },
            },
            {
                "name": "t",
                "time": {
                    "times": [
                        {
                            "recurrence": "Daily",
                            "start": "PT14H30M",
                            "duration": "PT04H30M",
                            "occurence": {"day": ["Mon", "Tue"], "week": ["w1-w25", "w30"]},
                        },
                        {"recurrence": "None", "start": "2026-01-03T12:00:00+01:00", "duration": "P2D"},
                    ],
                    "timeZone": "Europe/Paris",
                },
            },
            {"name": "d", "data": {"data": "vehicle.energy.electric.level", "op": "lowerThan", "value": ["50"]}},
        ],
        "boolExp": "z & (t | d)",
    },
}


def load_seed(name: str) -> dict[str, Any]:
    return json.loads((SEED_DIR / name).read_text(encoding="utf-8"))


def monitor_definition(**overrides: Any) -> dict[str, Any]:
    """A valid definition: leaving a 20 km circle around Paris, posted to a loopback receiver."""
    definition: dict[str, Any] = {
        "label": "Out of Paris",
        "subscribeParam": {
            "callback": {"webhook": {"target": "http://127.0.0.1:9/hook", "name": "receiver", "attributes": []}},
        },
        "triggerParam": {
            "triggers": [{"name": "outOfParis", "zone": {"transition": "Out", "place": {"radius": 20, "center": dict(PARIS)}}}],
            "boolExp": "outOfParis",
        },
    }
    definition.update(copy.deepcopy(overrides))
    return definition


class MonitorFactory(factory.django.DjangoModelFactory):
    """Builds monitors through the real service, so the compiled form is always consistent."""

    class Meta:
        model = Monitor

    fleet = factory.SubFactory(FleetFactory)
    definition = factory.LazyFunction(monitor_definition)

    @classmethod
    def _create(cls, model_class, *args, fleet, definition, **kwargs):  # noqa: ANN001
        monitor = monitor_create(fleet=fleet, definition=parse_monitor_definition(definition))
        for field, value in kwargs.items():
            setattr(monitor, field, value)
        if kwargs:
            monitor.save()
        return monitor


def make_event(monitor: Monitor, *, when, refresh: bool = False, vehicle=None) -> Event:
    vehicle = vehicle or VehicleFactory(fleet=monitor.fleet)
    return Event.objects.create(
        fleet=monitor.fleet, monitor=monitor, vehicle=vehicle, vin=vehicle.vin, vehicle_public_id=vehicle.pk,
        event_date=when, refresh=refresh,
    )


def make_recent_events(monitor: Monitor, now) -> None:
    """Three events over the last two hours and a refresh: the timeline's grain is the hour."""
    vehicle = VehicleFactory(fleet=monitor.fleet)
    for minutes in (90, 60, 30):
        make_event(monitor, when=now - timedelta(minutes=minutes), vehicle=vehicle)
    make_event(monitor, when=now - timedelta(minutes=20), refresh=True, vehicle=vehicle)

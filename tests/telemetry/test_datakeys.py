"""The data-key tables copied from the reference agree with the reference itself."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import yaml

from telemetry.datakeys import DATA_KEY_ENUMS, DATA_KEYS
from tests.reference import REFERENCE

# Where each enum-typed key takes its values: schema name, then property path (empty: the
# schema is the enum itself).
ENUM_SOURCES: dict[str, tuple[str, ...]] = {
    "vehicle.alert": ("AlertMsgEnum",),
    "vehicle.powertrain.status": ("PowertrainBase", "status"),
    "vehicle.energy.charging.status": ("ChargingStatusEnum",),
    "vehicle.energy.charging.type": ("EnergyCharging", "type"),
    "vehicle.trip.state": ("TripStateEnum",),
    "vehicle.safety.beltWarning": ("BeltStatus", "belt"),
    "privacy.state": ("PrivacyBase", "state"),
    "vehicle.drivingBehavior.mode": ("DrivingBehaviorBase", "mode"),
    "vehicle.collision.side": ("CollisionDetails", "side"),
    "vehicle.collision.severity": ("CollisionDetails", "severity"),
    "vehicle.safety.autoECallTriggering": ("BaseSafety", "autoECallTriggering"),
    "vehicle.alarm.trigger.type": ("BaseAlarmTrigger", "type"),
    "vehicle.alarm.status.activation": ("BaseAlarmStatus", "activation"),
}


@cache
def _schemas() -> dict[str, Any]:
    return yaml.safe_load((REFERENCE / "stellantis-b2b-api.yaml").read_text(encoding="utf-8"))["components"]["schemas"]


def _reference_enum(schema: str, *properties: str) -> list[str]:
    node = _schemas()[schema]
    for name in properties:
        node = node["properties"][name]
    return node["enum"]


def test_every_enum_key_has_a_source_in_the_reference():
    assert set(DATA_KEY_ENUMS) == set(ENUM_SOURCES)
    assert set(DATA_KEY_ENUMS) <= set(DATA_KEYS)


@pytest.mark.parametrize("key", sorted(ENUM_SOURCES))
def test_enum_values_are_the_reference_values(key):
    assert list(DATA_KEY_ENUMS[key]) == _reference_enum(*ENUM_SOURCES[key])

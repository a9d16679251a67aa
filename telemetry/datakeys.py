"""The catalogue of telemetry data keys, shared by ingestion and monitor validation.

The keys and their types are those of the Stellantis B2B API's `DataTrigger.data` table;
`ValueKind` says how a reported value is type-checked at ingestion and compared by triggers.
"""

from __future__ import annotations

import enum
import re


class ValueKind(str, enum.Enum):
    NUMBER = "number"  # int or float (never bool); greaterThan/lowerThan allowed
    BOOLEAN = "boolean"
    STRING = "string"  # enums and literals: compared exactly
    LIST = "list"  # a list of strings (or objects with a string identity); includedIn = any overlap
    ANY = "any"  # the reference types these "N/A": only onChange is meaningful


DATA_KEYS: dict[str, ValueKind] = {
    "vehicle.alert": ValueKind.LIST,
    "vehicle.odometer": ValueKind.NUMBER,
    "vehicle.powertrain.status": ValueKind.STRING,
    "vehicle.engines.thermic.oil.temp": ValueKind.NUMBER,
    "vehicle.energy.electric.level": ValueKind.NUMBER,
    "vehicle.energy.electric.autonomy": ValueKind.NUMBER,
    "vehicle.energy.fuel.level": ValueKind.NUMBER,
    "vehicle.energy.fuel.autonomy": ValueKind.NUMBER,
    "vehicle.autonomy": ValueKind.NUMBER,
    "vehicle.energy.charging.status": ValueKind.STRING,
    "vehicle.energy.charging.plugged": ValueKind.BOOLEAN,
    "vehicle.energy.charging.type": ValueKind.STRING,
    "vehicle.doorsState.lockedState": ValueKind.ANY,
    "vehicle.doorsState.opening": ValueKind.ANY,
    "vehicle.kinetic.moving": ValueKind.BOOLEAN,
    "vehicle.kinetic.speed": ValueKind.NUMBER,
    "vehicle.trip": ValueKind.STRING,
    "vehicle.trip.start": ValueKind.STRING,
    "vehicle.trip.stop": ValueKind.STRING,
    "vehicle.trip.duration": ValueKind.NUMBER,
    "vehicle.trip.distance": ValueKind.NUMBER,
    "vehicle.trip.state": ValueKind.LIST,
    "vehicle.maintenance.daysBeforeMaintenance": ValueKind.NUMBER,
    "vehicle.maintenance.mileageBeforeMaintenance": ValueKind.NUMBER,
    "vehicle.safety.beltWarning": ValueKind.STRING,
    "environment.air.temp": ValueKind.NUMBER,
    "privacy.state": ValueKind.STRING,
    "vehicle.drivingBehavior.mode": ValueKind.STRING,
    "vehicle.collision.side": ValueKind.STRING,
    "vehicle.collision.severity": ValueKind.STRING,
    "vehicle.safety.autoECallTriggering": ValueKind.STRING,
    "vehicle.preconditioning.airConditioning": ValueKind.ANY,
    "vehicle.alarm.trigger.type": ValueKind.STRING,
    "vehicle.alarm.status.activation": ValueKind.STRING,
    "stolen.state": ValueKind.BOOLEAN,
}

MOVING_KEY = "vehicle.kinetic.moving"

# MonitorParameter.extendedEventParam enum: extra vehicle data attached to events.
EXTENSION_TYPES: tuple[str, ...] = (
    "vehicle.doorsState",
    "vehicle.status",
    "vehicle.maintenance",
    "vehicle.position",
    "vehicle.telemetry",
    "vehicle.alerts",
    "vehicle.collisions",
    "vehicle.trip",
    "vehicle.stolen",
)

# TelemetryEnum: the suffixes allowed after `vehicle.telemetry.` in extendedEventParam.
TELEMETRY_TYPES: tuple[str, ...] = (
    "environment",
    "privacy",
    "vehicle",
    "vehicle.adas",
    "vehicle.battery",
    "vehicle.doorsState",
    "vehicle.energies",
    "vehicle.engines",
    "vehicle.ignition",
    "vehicle.lighting",
    "vehicle.lightingSystem",
    "vehicle.safety",
    "vehicle.transmission",
    "vehicle.drivingBehavior",
    "vehicle.alarm.status",
    "vehicle.alarm.trigger",
    "vehicle.wipingBlades",
)

TELEMETRY_PREFIX = "vehicle.telemetry."
_EXTENSION_KEY = re.compile(r"^vehicle\.telemetry\.[A-Za-z0-9_.]+$")


def is_extension_data_key(key: str) -> bool:
    """Keys a point may carry besides DATA_KEYS: whole extension objects
    (`vehicle.status`, `vehicle.doorsState`, ...) and `vehicle.telemetry.<type>` records,
    stored as-is for `extendedEventParam`."""
    return key in EXTENSION_TYPES or bool(_EXTENSION_KEY.match(key))


def value_matches_kind(value: object, kind: ValueKind) -> bool:
    if kind is ValueKind.NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is ValueKind.BOOLEAN:
        return isinstance(value, bool)
    if kind is ValueKind.STRING:
        return isinstance(value, str)
    if kind is ValueKind.LIST:
        return isinstance(value, list) and all(isinstance(item, (str, dict)) for item in value)
    return value is not None


def describe_kind(kind: ValueKind) -> str:
    return {
        ValueKind.NUMBER: "a number",
        ValueKind.BOOLEAN: "a boolean",
        ValueKind.STRING: "a string",
        ValueKind.LIST: "a list of strings or objects",
        ValueKind.ANY: "a non-null value",
    }[kind]

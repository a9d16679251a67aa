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


# The reference's DataTrigger table, "Op" column: the operators each key supports. `onChange`
# only where the table lists it (not on numbers); `vehicle.alert`'s "onChange (at least one)"
# is plain onChange.
_COMPARE = ("equalsTo", "greaterThan", "lowerThan")
_ENUM_OPS = ("equalsTo", "includedIn", "onChange")
_SWITCH_OPS = ("equalsTo", "onChange")
_CHANGE_ONLY = ("onChange",)

DATA_KEY_OPS: dict[str, tuple[str, ...]] = {
    "vehicle.alert": _ENUM_OPS,
    "vehicle.odometer": _COMPARE,
    "vehicle.powertrain.status": _ENUM_OPS,
    "vehicle.engines.thermic.oil.temp": _COMPARE,
    "vehicle.energy.electric.level": _COMPARE,
    "vehicle.energy.electric.autonomy": _COMPARE,
    "vehicle.energy.fuel.level": _COMPARE,
    "vehicle.energy.fuel.autonomy": _COMPARE,
    "vehicle.autonomy": _COMPARE,
    "vehicle.energy.charging.status": _ENUM_OPS,
    "vehicle.energy.charging.plugged": _SWITCH_OPS,
    "vehicle.energy.charging.type": _SWITCH_OPS,
    "vehicle.doorsState.lockedState": _CHANGE_ONLY,
    "vehicle.doorsState.opening": _CHANGE_ONLY,
    "vehicle.kinetic.moving": _SWITCH_OPS,
    "vehicle.kinetic.speed": _COMPARE,
    "vehicle.trip": _CHANGE_ONLY,
    "vehicle.trip.start": _CHANGE_ONLY,
    "vehicle.trip.stop": _CHANGE_ONLY,
    "vehicle.trip.duration": _COMPARE,
    "vehicle.trip.distance": _COMPARE,
    "vehicle.trip.state": ("includedIn",),
    "vehicle.maintenance.daysBeforeMaintenance": _COMPARE,
    "vehicle.maintenance.mileageBeforeMaintenance": _COMPARE,
    "vehicle.safety.beltWarning": _SWITCH_OPS,
    "environment.air.temp": _COMPARE,
    "privacy.state": _ENUM_OPS,
    "vehicle.drivingBehavior.mode": _ENUM_OPS,
    "vehicle.collision.side": ("equalsTo", "includedIn"),
    "vehicle.collision.severity": ("equalsTo", "includedIn"),
    "vehicle.safety.autoECallTriggering": _ENUM_OPS,
    "vehicle.preconditioning.airConditioning": _CHANGE_ONLY,
    "vehicle.alarm.trigger.type": _ENUM_OPS,
    "vehicle.alarm.status.activation": _SWITCH_OPS,
    "stolen.state": _SWITCH_OPS,
}

# AlertMsgEnum, the alerts `vehicle.alert` lists (the reference's spellings, typos included).
ALERTS: tuple[str, ...] = (
    "AbsBrakingSystemFault", "ActiveSpoilerFault", "AdBlueFault", "AdBlueFaultStartingImpossible",
    "AdBlueFaultStartingImpossibleSoon", "AddWasherFluid", "AirbagOrSeatBeltPretensionerOrActiveHoodFailure",
    "AssistanceButtonFault", "AutomaticBrakingDeactivated", "AutomaticHeadlightAdjustmentFault",
    "BatteryChargeOrElectricalCircuitSystemFailure", "BrakingSystemFailure", "ChargingFailure",
    "CheckTheCenterBrakeLamp", "CollisionDetectionSystemFault", "CollisionMitigationSystemFault",
    "CoolantLevellow", "DrivingAssistanceSensorBlind", "ElectricTractionSystemFailureLimitSpeed",
    "ElectricTractionSystemFailureStopVehicle", "ElectricTractionSystemFault", "ElectronicImmobiliserFault",
    "EmissionSystemOrAdBlueQualityFailueStartingImpossible",
    "EmissionSystemOrAdBlueQualityFailueStartingImpossibleSoon", "EmissionSystemOrAdBlueQualityFailure",
    "EngineFailure", "EngineFault", "EngineMisfiringFuel", "EngineOilPressureFailure",
    "EngineTemperatureFailure", "EspAsrSystemFault", "FrontLeftFlashingIndicatorFault",
    "FrontLeftFogLampsFault", "FrontLeftParkingLampsFault", "FrontRightFlashingIndicatorFault",
    "FrontRightFogLampsFault", "FrontRightParkingLampsFault", "FuelLevelLow", "GearboxFault",
    "HeadlightsFault", "InstalledSpareWheelFault", "InterVehicleTimeMeasurementFault",
    "LaneChangeAssistanceFault", "LaneDepartureWarningSystemFault", "LeftBrakeLampFault", "LeftFrontDoorOpen",
    "LeftFrontDoorOpenLowSpeed", "LeftFrontTirePressurSensorFault", "LeftFrontTirePuncture",
    "LeftFrontTireUnderInflated", "LeftRearDoorOpen", "LeftRearDoorOpenLowSpeed",
    "LeftRearTirePressurSensorFault", "LeftRearTirePuncture", "LeftRearTireUnderInflated",
    "LeftReverseLampFault", "OilLevelLow", "ParkAssistSystemFault", "ParkingBrakeOrHillStartSystemFailure",
    "ParticleFilterAdditiveLevelTooLow", "ParticleFilterFull", "ParticleFilterRegenerating",
    "PowerSteeringFailure", "PowerSteeringFault", "PreheatingPreventilationDeactivatedBatteryLow",
    "PreheatingPreventilationDeactivatedClockUnset", "PreheatingPreventilationDeactivatedFuelLevelLow",
    "RearLeftFlashingIndicatorFault", "RearLeftFogLampsFault", "RearLeftParkingLampsFault",
    "RearRightFlashingIndicatorFault", "RearRightFogLampsFault", "RearRightParkingLampsFault",
    "RearWindowOpen", "RearWindowOpenLowSpeed", "ReplaceBrakePads", "ReplaceTheRemoteControlBattery",
    "RetractableRoofMechanismFault", "RightBrakeLampFault", "RightFrontDoorOpenLowSpeed",
    "RightFrontDoorOpen", "RightFrontTirePressurSensorFault", "RightFrontTirePuncture",
    "RightFrontTireUnderInflated", "RightRearDoorOpen", "RightRearDoorOpenLowSpeed",
    "RightRearTirePressurSensorFault", "RightRearTirePuncture", "RightRearTireUnderInflated",
    "RightReverseLampFault", "RiskOfIce", "RoofOperationNotPossibleSpeedUnknown",
    "RoofOperationNotPossibleTooHighTemp", "ShiftToPark", "SteeringLockFault", "SuspensionFault",
    "SuspensionFaultLimitSpeed", "SuspensionFaultRepaireVehicle", "TireUnderInflationDetectionSystemFault",
    "TooManyRoofOperation", "TrailerConnectionFault", "TrunkOrHoodOpen", "TrunkOrHoodOpenLowSpeed",
    "WaterInTheDieselFuelFilter",
)

# The values of the keys the table types as an enum, copied from the schemas it names. A
# data trigger's operands must be among them (exactly, case included); ingestion does not
# check them: the reference tells clients its enums may grow ("lenient deserialization").
DATA_KEY_ENUMS: dict[str, tuple[str, ...]] = {
    "vehicle.alert": ALERTS,
    # PowertrainBase.status
    "vehicle.powertrain.status": ("NotRunning", "Starting", "Running", "Stopping", "Stopped"),
    # ChargingStatusEnum
    "vehicle.energy.charging.status": ("Disconnected", "InProgress", "Failure", "Stopped", "Finished"),
    # EnergyCharging.type
    "vehicle.energy.charging.type": ("Partial", "Full"),
    # TripStateEnum
    "vehicle.trip.state": ("Nominal", "Unstarted", "DataLacking", "Unfinished"),
    # BeltStatus.belt
    "vehicle.safety.beltWarning": ("Normal", "Omission"),
    # PrivacyBase.state
    "privacy.state": ("None", "Geolocation", "Full"),
    # DrivingBehaviorBase.mode
    "vehicle.drivingBehavior.mode": (
        "Normal", "Sport", "Comfort", "Eco", "Sand", "Mud", "Snow", "ZEV", "Hybrid", "ZEVEco", "HybridEco",
        "EcoPlus", "eAWD", "4AWD", "ReinforcedLoad",
    ),
    # CollisionDetails.side
    "vehicle.collision.side": ("Front", "Rear", "Lateral"),
    # CollisionDetails.severity
    "vehicle.collision.severity": ("Minimal", "Minor", "Major"),
    # BaseSafety.autoECallTriggering
    "vehicle.safety.autoECallTriggering": ("NotDetected", "Detected", "ShockDetectionUnabled"),
    # BaseAlarmTrigger.type
    "vehicle.alarm.trigger.type": (
        "NoBreakIn", "FrontRightDoorBreakIn", "FrontLeftDoorBreakIn", "RearRightFrontDoorBreakIn",
        "RearLeftFrontDoorBreakIn", "HoodDoorBreakIn", "TrunkDoorBreakIn", "BackliteDoorBreakIn",
        "RoofBreakIn", "VolumetricBreakIn", "VehicleLifting", "ElectricalsystemBreakIn", "KeyLearning",
        "UnauthenticatedStartup",
    ),
    # BaseAlarmStatus.activation
    "vehicle.alarm.status.activation": ("Inactive", "Active"),
}

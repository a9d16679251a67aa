"""Alerts, as the reference serves them, derived from the `vehicle.alert` data key (pure).

A point's `vehicle.alert` lists the alert types active at its eventDate (AlertMsgEnum codes,
or objects naming one in `type`, optionally with a `severity`). An alert of a type starts at
the first point listing it and ends at the first later point that carries `vehicle.alert`
without it; points without the key say nothing about alerts (a partial point), as everywhere
else in the vehicle state. Items that name no AlertMsgEnum type are not the reference's
alerts and are left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fleetmon_project.isodates import format_rfc3339

if TYPE_CHECKING:
    from telemetry.state import KeyRecord

ALERT_KEY = "vehicle.alert"
ALERT_TYPES: frozenset[str] = frozenset(
    ["AbsBrakingSystemFault", "ActiveSpoilerFault", "AdBlueFault", "AdBlueFaultStartingImpossible", "AdBlueFaultStartingImpossibleSoon", "AddWasherFluid", "AirbagOrSeatBeltPretensionerOrActiveHoodFailure", "AssistanceButtonFault", "AutomaticBrakingDeactivated", "AutomaticHeadlightAdjustmentFault", "BatteryChargeOrElectricalCircuitSystemFailure", "BrakingSystemFailure", "ChargingFailure", "CheckTheCenterBrakeLamp", "CollisionDetectionSystemFault", "CollisionMitigationSystemFault", "CoolantLevellow", "DrivingAssistanceSensorBlind", "ElectricTractionSystemFailureLimitSpeed", "ElectricTractionSystemFailureStopVehicle", "ElectricTractionSystemFault", "ElectronicImmobiliserFault", "EmissionSystemOrAdBlueQualityFailueStartingImpossible", "EmissionSystemOrAdBlueQualityFailueStartingImpossibleSoon", "EmissionSystemOrAdBlueQualityFailure", "EngineFailure", "EngineFault", "EngineMisfiringFuel", "EngineOilPressureFailure", "EngineTemperatureFailure", "EspAsrSystemFault", "FrontLeftFlashingIndicatorFault", "FrontLeftFogLampsFault", "FrontLeftParkingLampsFault", "FrontRightFlashingIndicatorFault", "FrontRightFogLampsFault", "FrontRightParkingLampsFault", "FuelLevelLow", "GearboxFault", "HeadlightsFault", "InstalledSpareWheelFault", "InterVehicleTimeMeasurementFault", "LaneChangeAssistanceFault", "LaneDepartureWarningSystemFault", "LeftBrakeLampFault", "LeftFrontDoorOpen", "LeftFrontDoorOpenLowSpeed", "LeftFrontTirePressurSensorFault", "LeftFrontTirePuncture", "LeftFrontTireUnderInflated", "LeftRearDoorOpen", "LeftRearDoorOpenLowSpeed", "LeftRearTirePressurSensorFault", "LeftRearTirePuncture", "LeftRearTireUnderInflated", "LeftReverseLampFault", "OilLevelLow", "ParkAssistSystemFault", "ParkingBrakeOrHillStartSystemFailure", "ParticleFilterAdditiveLevelTooLow", "ParticleFilterFull", "ParticleFilterRegenerating", "PowerSteeringFailure", "PowerSteeringFault", "PreheatingPreventilationDeactivatedBatteryLow", "PreheatingPreventilationDeactivatedClockUnset", "PreheatingPreventilationDeactivatedFuelLevelLow", "RearLeftFlashingIndicatorFault", "RearLeftFogLampsFault", "RearLeftParkingLampsFault", "RearRightFlashingIndicatorFault", "RearRightFogLampsFault", "RearRightParkingLampsFault", "RearWindowOpen", "RearWindowOpenLowSpeed", "ReplaceBrakePads", "ReplaceTheRemoteControlBattery", "RetractableRoofMechanismFault", "RightBrakeLampFault", "RightFrontDoorOpenLowSpeed", "RightFrontDoorOpen", "RightFrontTirePressurSensorFault", "RightFrontTirePuncture", "RightFrontTireUnderInflated", "RightRearDoorOpen", "RightRearDoorOpenLowSpeed", "RightRearTirePressurSensorFault", "RightRearTirePuncture", "RightRearTireUnderInflated", "RightReverseLampFault", "RiskOfIce", "RoofOperationNotPossibleSpeedUnknown", "RoofOperationNotPossibleTooHighTemp", "ShiftToPark", "SteeringLockFault", "SuspensionFault", "SuspensionFaultLimitSpeed", "SuspensionFaultRepaireVehicle", "TireUnderInflationDetectionSystemFault", "TooManyRoofOperation", "TrailerConnectionFault", "TrunkOrHoodOpen", "TrunkOrHoodOpenLowSpeed", "WaterInTheDieselFuelFilter"]
)
SEVERITIES = ("Information", "Warning", "Critical")
_DIGEST_LENGTH = 40


@dataclass(frozen=True)
class Fix:
    """Where the vehicle was, as the point that started or ended an alert reported it."""

    latitude: float
    longitude: float
    at: datetime
    extras: Any = None  # the point's Position extras (heading, fixStatus, ...), as stored


@dataclass(frozen=True)
class AlertPoint:
    """A stored point's share in alerts: its eventDate, `vehicle.alert` and position."""

    event_date: datetime
    value: Any
    latitude: float | None = None
    longitude: float | None = None
    position_extras: Any = None

    @property
    def fix(self) -> Fix | None:
        if self.latitude is None or self.longitude is None:
            return None
        return Fix(self.latitude, self.longitude, self.event_date, self.position_extras)


@dataclass(frozen=True)
class Alert:
    id: str
    vehicle_id: str
    type: str
    started_at: datetime
    updated_at: datetime  # the last point that listed it, or the one that ended it
    ended_at: datetime | None = None
    severity: str | None = None
    start_fix: Fix | None = None
    end_fix: Fix | None = None

    @property
    def active(self) -> bool:
        return self.ended_at is None


def listed_types(value: Any) -> dict[str, str | None]:
    """The AlertMsgEnum types a `vehicle.alert` value lists, in its order, with the severity an
    object gives (None when it gives none, or none of the reference's)."""
    listed: dict[str, str | None] = {}
    for item in value if isinstance(value, list) else []:
        code = item.get("type") if isinstance(item, dict) else item
        if isinstance(code, str) and code in ALERT_TYPES:
            severity = item.get("severity") if isinstance(item, dict) else None
            listed[code] = severity if severity in SEVERITIES else listed.get(code)
    return listed


def alert_id(*, vehicle_id: str, type: str, started_at: datetime) -> str:
    """Stable and opaque; it ends with a digest of what identifies the alert and begins with
    its vehicle's id, so that a fleet-wide lookup reads only that vehicle's points."""
    identity = f"{vehicle_id}|{type}|{started_at.astimezone(UTC).isoformat()}"
    return vehicle_id + hashlib.sha256(identity.encode()).hexdigest()[:_DIGEST_LENGTH]


def alert_vehicle_id(alert_id: str) -> str | None:
    """The vehicle id an alert id begins with; None for an id this server cannot have issued."""
    if len(alert_id) <= _DIGEST_LENGTH:
        return None
    return alert_id[:-_DIGEST_LENGTH]


def alert_starts(previous: Mapping[str, datetime], value: Any, at: datetime) -> dict[str, datetime]:
    """When each type `value` lists started, given those of the value it replaces at `at`:
    a type listed before keeps its start, a new one starts now, an absent one has ended."""
    return {code: previous.get(code, at) for code in listed_types(value)}


@dataclass
class _Ongoing:
    type: str
    started_at: datetime
    last_at: datetime
    severity: str | None
    start_fix: Fix | None

    def alert(self, vehicle_id: str, *, end: AlertPoint | None = None) -> Alert:
        return Alert(
            id=alert_id(vehicle_id=vehicle_id, type=self.type, started_at=self.started_at),
            vehicle_id=vehicle_id,
            type=self.type,
            started_at=self.started_at,
            updated_at=self.last_at if end is None else end.event_date,
            ended_at=None if end is None else end.event_date,
            severity=self.severity,
            start_fix=self.start_fix,
            end_fix=None if end is None else end.fix,
        )


def _newest_first(alerts: list[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda alert: (alert.started_at, alert.type), reverse=True)


def derive_alerts(*, vehicle_id: str, points: Iterable[AlertPoint]) -> list[Alert]:
    """Every alert the points (in eventDate order; those without `vehicle.alert` may be left
    out, they change nothing) show, newest start first."""
    ongoing: dict[str, _Ongoing] = {}
    alerts: list[Alert] = []
    for point in points:
        listed = listed_types(point.value)
        for code in [code for code in ongoing if code not in listed]:
            alerts.append(ongoing.pop(code).alert(vehicle_id, end=point))
        for code, severity in listed.items():
            current = ongoing.get(code)
            if current is None:
                ongoing[code] = _Ongoing(code, point.event_date, point.event_date, severity, point.fix)
            else:
                current.last_at, current.severity = point.event_date, severity or current.severity
    return _newest_first(alerts + [current.alert(vehicle_id) for current in ongoing.values()])


def active_alerts(*, vehicle_id: str, record: KeyRecord) -> list[Alert]:
    """The alerts active in a vehicle's latest `vehicle.alert`, newest start first. A record
    stored before the state kept starts dates them from the record itself."""
    started = record.started or {}
    return _newest_first(
        [
            _Ongoing(code, started.get(code, record.at), record.at, severity, None).alert(vehicle_id)
            for code, severity in listed_types(record.value).items()
        ]
    )


def alert_body(*, vin: str, alert: Alert) -> dict[str, Any]:
    """The reference's `Alert` without `_links` (webhook extensions carry none)."""
    body: dict[str, Any] = {
        "id": alert.id,
        "vin": vin,
        "active": alert.active,
        "type": alert.type,
        "startedAt": format_rfc3339(alert.started_at),
        "createdAt": format_rfc3339(alert.started_at),
        "updatedAt": format_rfc3339(alert.updated_at),
    }
    if alert.severity is not None:
        body["severity"] = alert.severity
    if alert.ended_at is not None:
        body["endAt"] = format_rfc3339(alert.ended_at)
    return body

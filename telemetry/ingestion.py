"""Validation of telemetry batches: all-or-nothing, one error per problem, paths like `[3].eventDate`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fleetmon_project.api import unknown_field_message
from fleetmon_project.isodates import parse_rfc3339
from fleetmon_project.jsonvalues import finite_float
from telemetry import reference
from telemetry.datakeys import (
    DATA_KEYS,
    EXTENSION_TYPES,
    TELEMETRY_PREFIX,
    describe_kind,
    is_extension_data_key,
    value_matches_kind,
)
from telemetry.models import VIN_PATTERN

MAX_POINTS = 1000
# A point dated in the future would shadow every later real point of its keys.
MAX_CLOCK_SKEW = timedelta(minutes=5)
_POINT_FIELDS = ("vin", "eventDate", "position", "data", "status", "alerts", "trip")
_POSITION_FIELDS = ("latitude", "longitude")
# Extension types whose data now comes from the reference's objects in the point's own fields.
_MOVED_KEYS = {
    "vehicle.status": "send a reference Status as the point's 'status'",
    "vehicle.position": "send the position as the point's 'position'",
    "vehicle.doorsState": "send it inside the point's 'status', or as vehicle.doorsState.lockedState/opening",
}
_KNOWN_KEYS = sorted(DATA_KEYS) + [key for key in EXTENSION_TYPES if key not in _MOVED_KEYS]
_SECTION_KEYS = sorted(reference.SECTIONS_BY_KEY)


_VIN = re.compile(VIN_PATTERN)


def normalize_vin(vin: str) -> str:
    return vin.strip().upper()


def is_vin(vin: str) -> bool:
    return bool(_VIN.match(normalize_vin(vin)))


@dataclass(frozen=True)
class ValidPoint:
    vehicle_id: str
    event_date: datetime
    latitude: float | None
    longitude: float | None
    data: dict[str, Any]


@dataclass
class BatchValidation:
    points: list[ValidPoint] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        self.errors.append({"field": path, "message": message})


def _coordinate(raw: Any, path: str, limit: float, result: BatchValidation) -> float | None:
    number = finite_float(raw)
    if number is None:
        result.error(path, "must be a number")
        return None
    if not -limit <= number <= limit:
        result.error(path, f"must be between -{limit:g} and {limit:g} (got {number:g})")
        return None
    return number


def _data(raw: Any, path: str, result: BatchValidation) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        result.error(path, "must be an object mapping data keys to values")
        return None
    errors_before = len(result.errors)
    for key, value in raw.items():
        key_path = f"{path}.{key}"
        kind = DATA_KEYS.get(key)
        if kind is not None:
            if not value_matches_kind(value, kind):
                result.error(key_path, f"must be {describe_kind(kind)} (got {type(value).__name__})")
        elif key in _MOVED_KEYS:
            result.error(key_path, f"is no data key: {_MOVED_KEYS[key]}")
        elif key.startswith(TELEMETRY_PREFIX):
            if key not in reference.SECTIONS_BY_KEY:
                message = unknown_field_message(key, _SECTION_KEYS).replace("field", "telemetry section", 1)
                result.error(key_path, message)
            else:
                reference.section_problems(key, value, key_path, result.error)
        elif not is_extension_data_key(key):
            message = unknown_field_message(key, _KNOWN_KEYS).replace("field", "data key", 1)
            result.error(key_path, message)
        elif value is None:
            result.error(key_path, "must not be null")
    return raw if len(result.errors) == errors_before else None


def validate_batch(
    body: Any,
    *,
    resolve_vin: Callable[[str], str | None],
    now: datetime,
) -> BatchValidation:
    """`resolve_vin` maps a VIN to the caller's vehicle id, or None when it is not theirs."""
    result = BatchValidation()
    if isinstance(body, dict):
        items, indexed = [body], False
    elif isinstance(body, list):
        items, indexed = body, True
        if not items:
            result.error("", "must contain at least one point")
        if len(items) > MAX_POINTS:
            result.error("", f"must contain at most {MAX_POINTS} points (got {len(items)})")
            return result
    else:
        result.error("", "must be a point object or an array of points")
        return result

    for index, item in enumerate(items):
        base = f"[{index}]" if indexed else ""
        point = _validate_point(item, base, resolve_vin, now, result)
        if point is not None:
            result.points.append(point)
    return result


def _join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name


def _validate_point(
    item: Any,
    base: str,
    resolve_vin: Callable[[str], str | None],
    now: datetime,
    result: BatchValidation,
) -> ValidPoint | None:
    if not isinstance(item, Mapping):
        result.error(base, "must be an object")
        return None
    errors_before = len(result.errors)
    for name in item:
        if name not in _POINT_FIELDS:
            result.error(_join(base, name), unknown_field_message(name, _POINT_FIELDS))

    vehicle_id = None
    vin = item.get("vin")
    if vin is None:
        result.error(_join(base, "vin"), "is required")
    elif not isinstance(vin, str):
        result.error(_join(base, "vin"), "must be a string")
    elif not is_vin(vin):
        result.error(_join(base, "vin"), "is not a VIN: 17 characters, digits and letters except I, O and Q")
    else:
        vehicle_id = resolve_vin(normalize_vin(vin))
        if vehicle_id is None:
            # Same answer for unknown VINs and other owners' VINs: existence is not disclosed.
            result.error(_join(base, "vin"), f"no vehicle with VIN '{vin}' in your fleets")

    status = item.get("status")
    if status is not None:
        _reference_object(status, _join(base, "status"), vin, reference.status_problems, result)
    raw_date = item.get("eventDate")
    date_path = _join(base, "eventDate")
    if raw_date is None and isinstance(status, dict) and status.get("createdAt") is not None:
        # A Status forwarded as it came is dated by itself.
        raw_date, date_path = status["createdAt"], _join(base, "status.createdAt")
    event_date = _event_date(raw_date, date_path, now, result)

    latitude, longitude, extras = _position(item.get("position"), status, base, vin, result)

    alerts = item.get("alerts")
    if alerts is not None:
        reference.alerts_problems(alerts, _join(base, "alerts"), result.error)
        for index, alert in enumerate(alerts if isinstance(alerts, list) else ()):
            if isinstance(alert, dict):
                _vin_matches(alert.get("vin"), _join(base, f"alerts[{index}].vin"), vin, result)
    trip = item.get("trip")
    if trip is not None:
        _reference_object(trip, _join(base, "trip"), vin, reference.trip_problems, result)

    data: dict[str, Any] | None = {}
    if "data" in item and item["data"] is not None:
        data = _data(item["data"], _join(base, "data"), result)

    if len(result.errors) > errors_before or vehicle_id is None or event_date is None or data is None:
        return None
    # Most specific last: keys sent as such win over those read from the reference objects.
    stored: dict[str, Any] = reference.derive_data(status) if status is not None else {}
    if extras:
        stored[reference.POSITION_KEY] = extras
    if alerts is not None:
        stored.update(reference.derive_alerts(alerts))
    if trip is not None:
        stored.update(reference.derive_trip(trip))
    stored.update(reference.derive_section_keys(data))
    stored.update(data)
    return ValidPoint(vehicle_id=vehicle_id, event_date=event_date, latitude=latitude, longitude=longitude, data=stored)


def _event_date(raw: Any, path: str, now: datetime, result: BatchValidation) -> datetime | None:
    if raw is None:
        result.error(path, "is required (or a status with its createdAt)")
        return None
    try:
        event_date = parse_rfc3339(raw)
    except ValueError as exc:
        result.error(path, str(exc))
        return None
    if event_date > now + MAX_CLOCK_SKEW:
        result.error(path, f"'{raw}' is in the future")
        return None
    return event_date


def _position(
    position: Any, status: Any, base: str, vin: Any, result: BatchValidation
) -> tuple[float | None, float | None, dict[str, Any]]:
    """(latitude, longitude, Position extras) of the point's position, else of its status'."""
    position_path = _join(base, "position")
    if position is None and isinstance(status, dict):
        position, position_path = status.get("lastPosition"), _join(base, "status.lastPosition")
    if position is None:
        return None, None, {}
    if not isinstance(position, dict):
        result.error(position_path, "must be an object: a reference Position (GeoJSON Feature) or {latitude, longitude}")
        return None, None, {}
    if "latitude" in position or "longitude" in position:
        return (*_lat_lon(position, position_path, result), {})
    properties = position.get("properties")
    if isinstance(properties, dict):
        _vin_matches(properties.get("vin"), f"{position_path}.properties.vin", vin, result)
    coordinates = reference.feature_coordinates(position, position_path, result.error)
    if coordinates is None:
        return None, None, {}
    return (*coordinates, reference.position_extras(position))


def _lat_lon(position: Mapping[str, Any], path: str, result: BatchValidation) -> tuple[float | None, float | None]:
    for name in position:
        if name not in _POSITION_FIELDS:
            result.error(f"{path}.{name}", unknown_field_message(name, _POSITION_FIELDS))
    for name in _POSITION_FIELDS:
        if name not in position:
            result.error(f"{path}.{name}", "is required")
    latitude = longitude = None
    if "latitude" in position:
        latitude = _coordinate(position["latitude"], f"{path}.latitude", 90, result)
    if "longitude" in position:
        longitude = _coordinate(position["longitude"], f"{path}.longitude", 180, result)
    return latitude, longitude


def _vin_matches(found: Any, path: str, vin: Any, result: BatchValidation) -> None:
    if found is None or not isinstance(vin, str):
        return
    if not isinstance(found, str) or normalize_vin(found) != normalize_vin(vin):
        result.error(path, f"must be the point's VIN '{vin}' (got '{found}')")


def _reference_object(
    value: Any,
    path: str,
    vin: Any,
    problems: Callable[[Any, str, Callable[[str, str], None]], None],
    result: BatchValidation,
) -> None:
    problems(value, path, result.error)
    if isinstance(value, dict):
        _vin_matches(value.get("vin"), f"{path}.vin", vin, result)

"""Validation of telemetry batches: all-or-nothing, one error per problem, paths like `[3].eventDate`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from fleetmon_project.api import unknown_field_message
from fleetmon_project.isodates import parse_rfc3339
from fleetmon_project.jsonvalues import finite_float
from telemetry.models import VIN_PATTERN
from telemetry.datakeys import DATA_KEYS, EXTENSION_TYPES, describe_kind, is_extension_data_key, value_matches_kind

MAX_POINTS = 1000
# A point dated in the future would shadow every later real point of its keys.
MAX_CLOCK_SKEW = timedelta(minutes=5)
_POINT_FIELDS = ("vin", "eventDate", "position", "data")
_POSITION_FIELDS = ("latitude", "longitude")
_KNOWN_KEYS = sorted(DATA_KEYS) + list(EXTENSION_TYPES)


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
    valid = True
    for key, value in raw.items():
        key_path = f"{path}.{key}"
        kind = DATA_KEYS.get(key)
        if kind is not None:
            if not value_matches_kind(value, kind):
                result.error(key_path, f"must be {describe_kind(kind)} (got {type(value).__name__})")
                valid = False
        elif not is_extension_data_key(key):
            message = unknown_field_message(key, _KNOWN_KEYS).replace("field", "data key", 1)
            result.error(key_path, message)
            valid = False
        elif value is None:
            result.error(key_path, "must not be null")
            valid = False
    return raw if valid else None


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

    event_date = None
    raw_date = item.get("eventDate")
    if raw_date is None:
        result.error(_join(base, "eventDate"), "is required")
    else:
        try:
            event_date = parse_rfc3339(raw_date)
        except ValueError as exc:
            result.error(_join(base, "eventDate"), str(exc))
        else:
            if event_date > now + MAX_CLOCK_SKEW:
                result.error(_join(base, "eventDate"), f"'{raw_date}' is in the future")
                event_date = None

    latitude = longitude = None
    position = item.get("position")
    if position is not None:
        position_path = _join(base, "position")
        if not isinstance(position, Mapping):
            result.error(position_path, "must be an object with latitude and longitude")
        else:
            for name in position:
                if name not in _POSITION_FIELDS:
                    result.error(f"{position_path}.{name}", unknown_field_message(name, _POSITION_FIELDS))
            for name in _POSITION_FIELDS:
                if name not in position:
                    result.error(f"{position_path}.{name}", "is required")
            if "latitude" in position:
                latitude = _coordinate(position["latitude"], f"{position_path}.latitude", 90, result)
            if "longitude" in position:
                longitude = _coordinate(position["longitude"], f"{position_path}.longitude", 180, result)

    data: dict[str, Any] | None = {}
    if "data" in item and item["data"] is not None:
        data = _data(item["data"], _join(base, "data"), result)

    if len(result.errors) > errors_before or vehicle_id is None or event_date is None or data is None:
        return None
    return ValidPoint(
        vehicle_id=vehicle_id, event_date=event_date, latitude=latitude, longitude=longitude, data=dict(data)
    )

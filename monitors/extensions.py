"""`extendedEventParam`: the extra vehicle data attached to an event, in the webhook
template's `extensions` shape (`[{"type", "body": {<field>: ...}}]`), taken from the vehicle's
latest known state at the event's date. Unknown data is omitted rather than invented."""

from __future__ import annotations

from typing import Any, Sequence

from fleetmon_project.isodates import format_rfc3339
from telemetry.datakeys import DATA_KEYS, TELEMETRY_PREFIX
from telemetry.state import KeyRecord, LatestState

_BODY_FIELD = {
    "vehicle.doorsState": "doorState",
    "vehicle.status": "status",
    "vehicle.maintenance": "maintenance",
    "vehicle.collisions": "collisions",
    "vehicle.trip": "trip",
    "vehicle.stolen": "stolen",
    "vehicle.alerts": "alerts",
}


def _stamped(record: KeyRecord) -> dict[str, Any]:
    return {"value": record.value, "createdAt": format_rfc3339(record.at)}


def _alerts(record: KeyRecord) -> list[dict[str, Any]]:
    # The template wants alert objects; `vehicle.alert` reports bare codes, which become
    # `{"value", "createdAt"}` like every other stamped value.
    items = record.value if isinstance(record.value, list) else [record.value]
    return [item if isinstance(item, dict) else {"value": item, "createdAt": format_rfc3339(record.at)} for item in items]


def _extension(param: str, state: LatestState) -> dict[str, Any] | None:
    if param == "vehicle.position":
        if state.position_at is None:
            return None
        position = {"latitude": state.latitude, "longitude": state.longitude, "createdAt": format_rfc3339(state.position_at)}
        return {"type": "vehicle.position", "body": {"position": position}}
    record = state.data.get(param)
    if param == "vehicle.alerts":
        record = record or state.data.get("vehicle.alert")
        return {"type": param, "body": {"alerts": _alerts(record)}} if record else None
    if record is None:
        return None
    return {"type": param, "body": {_BODY_FIELD[param]: record.value}}


def _telemetry(param: str, state: LatestState) -> dict[str, Any]:
    """The telemetry entries `param` asks for: every `vehicle.telemetry.*` key, one of them,
    or a data key (the template has no extension type for a single data key; telemetry is
    the closest)."""
    if param == "vehicle.telemetry":
        keys = [key for key in state.data if key.startswith(TELEMETRY_PREFIX)]
    else:
        keys = [param] if param in state.data else []
    return {key.removeprefix(TELEMETRY_PREFIX): _stamped(state.data[key]) for key in keys}


def build_extensions(params: Sequence[str], state: LatestState) -> list[dict[str, Any]]:
    """One extension per requested type; all telemetry requests share one `vehicle.telemetry`
    extension (their union), placed where the first of them was asked for."""
    extensions: list[dict[str, Any]] = []
    telemetry: dict[str, Any] = {}
    telemetry_at: int | None = None
    for param in params:
        if param == "vehicle.position" or param in _BODY_FIELD:
            extension = _extension(param, state)
            if extension is not None:
                extensions.append(extension)
        elif param == "vehicle.telemetry" or param.startswith(TELEMETRY_PREFIX) or param in DATA_KEYS:
            telemetry.update(_telemetry(param, state))
            telemetry_at = len(extensions) if telemetry_at is None else telemetry_at
    if telemetry:
        extensions.insert(telemetry_at, {"type": "vehicle.telemetry", "body": {"telemetry": telemetry}})
    return extensions

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


def _extension(param: str, state: LatestState) -> dict[str, Any] | None:
    if param == "vehicle.position":
        if state.position_at is None:
            return None
        position = {"latitude": state.latitude, "longitude": state.longitude, "createdAt": format_rfc3339(state.position_at)}
        return {"type": "vehicle.position", "body": {"position": position}}
    if param in _BODY_FIELD:
        record = state.data.get(param)
        if record is None and param == "vehicle.alerts":
            record = state.data.get("vehicle.alert")
        if record is None:
            return None
        return {"type": param, "body": {_BODY_FIELD[param]: record.value}}
    if param == "vehicle.telemetry" or param.startswith(TELEMETRY_PREFIX):
        wanted = (lambda key: key.startswith(TELEMETRY_PREFIX)) if param == "vehicle.telemetry" else param.__eq__
        telemetry = {
            key[len(TELEMETRY_PREFIX):]: _stamped(record) for key, record in state.data.items() if wanted(key)
        }
        return {"type": "vehicle.telemetry", "body": {"telemetry": telemetry}} if telemetry else None
    if param in DATA_KEYS:
        record = state.data.get(param)
        if record is None:
            return None
        # The template has no extension type for a single data key; telemetry is the closest.
        return {"type": "vehicle.telemetry", "body": {"telemetry": {param: _stamped(record)}}}
    return None


def build_extensions(params: Sequence[str], state: LatestState) -> list[dict[str, Any]]:
    extensions = (_extension(param, state) for param in params)
    return [extension for extension in extensions if extension is not None]

"""`extendedEventParam`: the extra vehicle data attached to an event, in the webhook
template's `extensions` shape (`[{"type", "body": {<field>: ...}}]`), taken from the vehicle's
latest known state at the event's date. Unknown data is omitted rather than invented."""

from __future__ import annotations

from typing import Any, Sequence

from fleetmon_project.isodates import format_rfc3339
from telemetry.alerts import ALERT_KEY, active_alerts, alert_body
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


def _alerts(state: LatestState, *, vin: str, vehicle_id: str) -> list[dict[str, Any]] | None:
    """The alerts active at the event, as the reference's Alert without `_links` (the
    template's extension bodies carry none), dated from when the state saw each start. A
    vehicle that never reported `vehicle.alert` may have sent whole `vehicle.alerts`: as sent."""
    record = state.data.get(ALERT_KEY)
    if record is not None:
        return [alert_body(vin=vin, alert=alert) for alert in active_alerts(vehicle_id=vehicle_id, record=record)]
    verbatim = state.data.get("vehicle.alerts")
    return None if verbatim is None else verbatim.value


def _extension(param: str, state: LatestState, *, vin: str, vehicle_id: str) -> dict[str, Any] | None:
    if param == "vehicle.position":
        if state.position_at is None:
            return None
        position = {"latitude": state.latitude, "longitude": state.longitude, "createdAt": format_rfc3339(state.position_at)}
        return {"type": "vehicle.position", "body": {"position": position}}
    if param == "vehicle.alerts":
        alerts = _alerts(state, vin=vin, vehicle_id=vehicle_id)
        return None if alerts is None else {"type": param, "body": {"alerts": alerts}}
    record = state.data.get(param)
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


def build_extensions(params: Sequence[str], state: LatestState, *, vin: str, vehicle_id: str) -> list[dict[str, Any]]:
    """One extension per requested type, for the vehicle `vehicle_id` (`vin`); all telemetry
    requests share one `vehicle.telemetry` extension (their union), placed where the first of
    them was asked for."""
    extensions: list[dict[str, Any]] = []
    telemetry: dict[str, Any] = {}
    telemetry_at: int | None = None
    for param in params:
        if param == "vehicle.position" or param in _BODY_FIELD:
            extension = _extension(param, state, vin=vin, vehicle_id=vehicle_id)
            if extension is not None:
                extensions.append(extension)
        elif param == "vehicle.telemetry" or param.startswith(TELEMETRY_PREFIX) or param in DATA_KEYS:
            telemetry.update(_telemetry(param, state))
            telemetry_at = len(extensions) if telemetry_at is None else telemetry_at
    if telemetry:
        extensions.insert(telemetry_at, {"type": "vehicle.telemetry", "body": {"telemetry": telemetry}})
    return extensions

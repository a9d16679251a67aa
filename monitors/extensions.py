"""`extendedEventParam`: the extra vehicle data attached to an event, in the webhook
template's `extensions` shape (`[{"type", "body": {<field>: ...}}]`), taken from the vehicle's
latest known state at the event's date. Each body is the reference API's model for its type,
"without HAL links" as the template says (telemetry/reference.py builds them). Unknown data is
omitted rather than invented."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telemetry.alerts import ALERT_KEY, active_alerts, alert_body
from telemetry.datakeys import DATA_KEYS, EXTENSION_TYPES, TELEMETRY_PREFIX
from telemetry.reference import (
    latest_telemetry_body,
    position_feature,
    status_body,
    telemetry_type_of,
    trip_body,
    without_links,
)
from telemetry.state import LatestState

# Types whose body is the latest object reported as such under the data key of the same name.
_STORED_FIELD = {
    "vehicle.maintenance": "maintenance",
    "vehicle.collisions": "collisions",
    "vehicle.stolen": "stolen",
}


def _alerts(state: LatestState, *, vin: str, vehicle_id: str) -> list[dict[str, Any]] | None:
    """The alerts active at the event, as the reference's Alert (links are dropped with every
    extension's), dated from when the state saw each start. A vehicle that never reported
    `vehicle.alert` may have sent whole `vehicle.alerts`: as sent."""
    record = state.data.get(ALERT_KEY)
    if record is not None:
        return [alert_body(vin=vin, alert=alert) for alert in active_alerts(vehicle_id=vehicle_id, record=record)]
    verbatim = state.data.get("vehicle.alerts")
    return None if verbatim is None else verbatim.value


def _body(param: str, state: LatestState, *, vin: str, vehicle_id: str) -> dict[str, Any] | None:
    """The extension's body for `param`, or None when nothing of it is known."""
    if param == "vehicle.position":
        position = position_feature(vin=vin, state=state)
        return {"position": position} if position else None
    if param in ("vehicle.status", "vehicle.doorsState"):
        if state.last_seen_at is None:
            return None
        status = status_body(vin=vin, state=state)
        if param == "vehicle.status":
            return {"status": status}
        return {"doorState": status["doorsState"]} if "doorsState" in status else None
    if param == "vehicle.trip":
        trip = trip_body(vin=vin, state=state)
        return {"trip": trip} if trip else None
    if param == "vehicle.alerts":
        alerts = _alerts(state, vin=vin, vehicle_id=vehicle_id)
        return None if alerts is None else {"alerts": alerts}
    record = state.data.get(param)
    return {_STORED_FIELD[param]: record.value} if record else None


def _telemetry_types(params: Sequence[str]) -> list[str] | None:
    """The TelemetryEnum types the telemetry requests ask for (None: all of them). A data key
    asks for the section it is shown in; the template has no extension for a single key."""
    if "vehicle.telemetry" in params:
        return None
    types = [param.removeprefix(TELEMETRY_PREFIX) for param in params if param.startswith(TELEMETRY_PREFIX)]
    types += [kind for param in params if param in DATA_KEYS and (kind := telemetry_type_of(param))]
    return types


def _is_telemetry(param: str) -> bool:
    # `vehicle.trip` is both a data key (the trip id) and an extension type: the Trip wins.
    if param in EXTENSION_TYPES:
        return param == "vehicle.telemetry"
    return param.startswith(TELEMETRY_PREFIX) or param in DATA_KEYS


def build_extensions(params: Sequence[str], state: LatestState, *, vin: str, vehicle_id: str) -> list[dict[str, Any]]:
    """One extension per requested type, for the vehicle `vehicle_id` (`vin`); all telemetry
    requests share one `vehicle.telemetry` extension (a Telemetry item holding their union),
    placed where the first of them was asked for."""
    extensions: list[dict[str, Any]] = []
    telemetry_at: int | None = None
    for param in params:
        if _is_telemetry(param):
            telemetry_at = len(extensions) if telemetry_at is None else telemetry_at
            continue
        body = _body(param, state, vin=vin, vehicle_id=vehicle_id)
        if body is not None:
            extensions.append({"type": param, "body": without_links(body)})
    if telemetry_at is not None:
        types = _telemetry_types([param for param in params if _is_telemetry(param)])
        telemetry = latest_telemetry_body(state=state, types=types) if types is None or types else None
        if telemetry is not None:
            extensions.insert(telemetry_at, {"type": "vehicle.telemetry", "body": {"telemetry": telemetry}})
    return extensions

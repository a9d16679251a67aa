"""OpenAPI components of the monitor contract (Stellantis B2B API `MonitorParameter` and friends).

Validation itself lives in `monitors.definition`; these schemas document the canonical form
that GET returns and POST/PUT accept (aliases from the user's documentation — flat
`callback`, `maxRetryNumber`, `zone.circle`, `occurrence` — are accepted too), plus FleetMon's
one extension of the contract: `zone.polygon`.
"""

from __future__ import annotations

from typing import Any

from monitors.definition import (
    MAX_BATCH_SIZE,
    MAX_INTERVAL,
    MAX_RADIUS_KM,
    MAX_RETRY_NUMBER,
    MIN_BATCH_TIME_WINDOW,
    MIN_REFRESH_EVENT,
    OPS,
)
from monitors.zones import MAX_LONGITUDE_SPAN, MAX_POLYGON_VERTICES
from telemetry.datakeys import DATA_KEY_ENUMS, DATA_KEY_OPS, DATA_KEYS, EXTENSION_TYPES

_STRING = {"type": "string"}
_LINK = {"type": "object", "properties": {"href": _STRING}, "required": ["href"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


def _ops_by_key() -> str:
    """'equalsTo/onChange: stolen.state, …; onChange: …', keys grouped by their ops."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for key in sorted(DATA_KEY_OPS):
        groups.setdefault(DATA_KEY_OPS[key], []).append(key)
    return "; ".join(f"{'/'.join(ops)}: {', '.join(keys)}" for ops, keys in groups.items())


_POSITION = {
    "type": "array",
    "minItems": 2,
    "maxItems": 3,
    "items": {"type": "number"},
    "description": "[longitude, latitude] or [longitude, latitude, altitude] (altitude ignored); "
    "longitude -180 … 180, latitude -90 … 90",
}
_POLYGON_RINGS = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "array", "minItems": 4, "items": _POSITION},
    "description": "The outer ring, then its holes; each ring ends with its first position",
}

COMPONENTS: dict[str, dict[str, Any]] = {
    "Attribute": _object(
        {
            "type": {"type": "string", "enum": ["Header", "Body", "Query"]},
            "key": {"type": "string", "minLength": 1},
            "value": {
                "type": "string",
                "description": "Literal, or using $vin, $vid, $monitorID, $fleetID (substituted per event). "
                "A Header value is printable ASCII, spaces and tabs only.",
            },
        },
        ["type", "key", "value"],
    ),
    "Webhook": _object(
        {
            "target": {"type": "string", "format": "uri", "description": "Absolute http(s) URL"},
            "name": {"type": "string", "minLength": 1},
            "attributes": {"type": "array", "items": _ref("Attribute")},
        },
        ["target", "name"],
    ),
    "MonitorCallbackSubscribe": _object(
        {
            "refreshEvent": {
                "type": "integer",
                "minimum": MIN_REFRESH_EVENT,
                "maximum": MAX_INTERVAL,
                "description": "Seconds between refresh events",
            },
            "retryPolicy": _object(
                {
                    "policy": {"type": "string", "enum": ["None", "Bounded", "Always"]},
                    "retryNumber": {"type": "integer", "minimum": 1, "maximum": MAX_RETRY_NUMBER, "default": 3},
                    "retryDelay": {"type": "integer", "minimum": 1, "maximum": MAX_INTERVAL, "default": 10},
                },
                ["policy"],
            ),
            "batchNotify": _object(
                {
                    "size": {"type": "integer", "minimum": 1, "maximum": MAX_BATCH_SIZE},
                    "timeWindow": {
                        "type": "integer",
                        "minimum": MIN_BATCH_TIME_WINDOW,
                        "maximum": MAX_INTERVAL,
                        "default": 60,
                    },
                },
                ["size"],
            ),
            "callback": _object({"webhook": _ref("Webhook")}, ["webhook"]),
        },
        ["callback"],
    ),
    "ZoneTrigger": _object(
        {
            "transition": {"type": "string", "enum": ["In", "Out"]},
            "place": _object(
                {
                    "radius": {
                        "type": "number",
                        "exclusiveMinimum": True,
                        "minimum": 0,
                        "maximum": MAX_RADIUS_KM,
                        "description": "km",
                    },
                    "center": _object(
                        {
                            "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                            "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                        },
                        ["latitude", "longitude"],
                    ),
                },
                ["radius", "center"],
                description="A circle: the Stellantis contract's only zone shape (alias `circle`).",
            ),
            "polygon": _ref("ZonePolygon"),
        },
        ["transition"],
        description="Exactly one of place (or its alias circle) or polygon. A point on the zone's boundary "
        "is inside it.",
    ),
    "ZonePolygon": {
        "oneOf": [_ref("GeoJSONPolygon"), _ref("GeoJSONMultiPolygon")],
        "description": "A FleetMon extension: a GeoJSON (RFC 7946) Polygon or MultiPolygon, returned as given. "
        "Edges are straight lines in longitude/latitude and never cross the antimeridian (a part spans at most "
        f"{MAX_LONGITUDE_SPAN:g}° of longitude: split one that crosses it); rings are closed, holes lie inside "
        f"their outer ring, nothing crosses itself; at most {MAX_POLYGON_VERTICES:,} positions in all.",
    },
    "GeoJSONPolygon": _object(
        {"type": {"type": "string", "enum": ["Polygon"]}, "coordinates": _POLYGON_RINGS},
        ["type", "coordinates"],
    ),
    "GeoJSONMultiPolygon": _object(
        {
            "type": {"type": "string", "enum": ["MultiPolygon"]},
            "coordinates": {"type": "array", "minItems": 1, "items": _POLYGON_RINGS},
        },
        ["type", "coordinates"],
    ),
    "TimeTriggerEntry": _object(
        {
            "recurrence": {"type": "string", "enum": ["Daily", "None"], "default": "Daily"},
            "start": {
                "type": "string",
                "description": "Daily: ISO-8601 time of day as a duration (PT14H30M); None: RFC 3339 date-time "
                "from 1970-01-01T00:00:00Z to 9000-01-01T00:00:00Z",
            },
            "duration": {
                "type": "string",
                "description": "ISO-8601 duration (PT4H30M); Daily: at most P7D; None: the window ends by "
                "9000-01-01T00:00:00Z",
            },
            "occurence": _object(
                {
                    "day": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 7,
                        "items": {"type": "string", "enum": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]},
                    },
                    "week": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "pattern": "^[wW][0-9]{1,2}(-[wW][0-9]{1,2})?$"},
                    },
                }
            ),
        },
        ["start"],
    ),
    "TimeTrigger": _object(
        {
            "times": {"type": "array", "minItems": 1, "items": _ref("TimeTriggerEntry")},
            "timeZone": {"type": "string", "default": "Europe/Paris", "description": "IANA time zone"},
        },
        ["times"],
    ),
    "DataTrigger": _object(
        {
            "data": {"type": "string", "enum": sorted(DATA_KEYS)},
            "op": {
                "type": "string",
                "enum": list(OPS),
                "description": "Only the ops the reference's table lists for the data key: " + _ops_by_key(),
            },
            "value": {
                "type": "array",
                "items": {"type": "string"},
                "description": "For an enum-typed data key, values of the reference's enum, spelt exactly ("
                + ", ".join(sorted(DATA_KEY_ENUMS))
                + ")",
            },
        },
        ["data", "op"],
    ),
    "MonitorTrigger": _object(
        {
            "name": {"type": "string", "pattern": "^[a-zA-Z]+[._]?[0-9]*$"},
            "zone": _ref("ZoneTrigger"),
            "time": _ref("TimeTrigger"),
            "data": _ref("DataTrigger"),
            "minDuration": {
                "type": "string",
                "description": "FleetMon extension (dwell): the trigger is satisfied only once its condition has "
                "held continuously this long, by eventDate; ISO-8601 duration from PT1S to P1D (PT10M). Not with "
                "op onChange. Returned as given.",
                "example": "PT10M",
            },
        },
        ["name"],
        description="Exactly one of zone, time or data; optionally a minDuration.",
    ),
    "MonitorParameter": _object(
        {
            "label": {"type": "string", "minLength": 1, "maxLength": 255},
            "subscribeParam": _ref("MonitorCallbackSubscribe"),
            "extendedEventParam": {
                "type": "array",
                "items": {
                    "type": "string",
                    "description": "One of "
                    + ", ".join(EXTENSION_TYPES)
                    + ", vehicle.telemetry.<TelemetryEnum>, or a DataTrigger data key",
                },
            },
            "triggerParam": _object(
                {
                    "triggers": {"type": "array", "minItems": 1, "maxItems": 5, "items": _ref("MonitorTrigger")},
                    "boolExp": {
                        "type": "string",
                        "description": "Trigger names combined with &, |, ! and parentheses",
                    },
                },
                ["triggers", "boolExp"],
            ),
        },
        ["label", "subscribeParam", "triggerParam"],
    ),
    "MonitorRef": {
        "type": "object",
        "properties": {
            "monitorId": _STRING,
            "status": {"type": "string", "enum": ["Running", "Paused", "Failed"]},
            "createdAt": {"type": "string", "format": "date-time"},
            "updatedAt": {"type": "string", "format": "date-time"},
            "_links": {"type": "object", "properties": {"fleet": _LINK, "monitor": _LINK}},
        },
        "required": ["monitorId", "status", "createdAt", "updatedAt", "_links"],
    },
    "Monitor": {
        "type": "object",
        "properties": {
            "monitorId": _STRING,
            "monitor": {"$ref": "#/components/schemas/MonitorParameter"},
            "status": {"type": "string", "enum": ["Running", "Paused", "Failed"]},
            "statusReason": {
                "type": "string",
                "nullable": True,
                "description": "FleetMon: why the monitor is Failed (its webhook failing, or disabled); null otherwise",
            },
            "createdAt": {"type": "string", "format": "date-time"},
            "updatedAt": {"type": "string", "format": "date-time"},
            "_links": {
                "type": "object",
                "properties": {"self": _LINK, "fleet": _LINK, "events": _LINK, "deliveries": _LINK},
                "required": ["self"],
            },
        },
        "required": ["monitorId", "monitor", "status", "createdAt", "updatedAt", "_links"],
    },
}

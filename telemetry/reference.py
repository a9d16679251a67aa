"""The Stellantis reference's shapes and FleetMon's flat data keys: one table, both ways (pure).

`ROWS` places every DataTrigger key FleetMon derives from a reference `Status` (or a `Telemetry`
item, which nests the same sections under `vehicle`) at its path in that Status, e.g.
`vehicle.energy.electric.level` at `energies[type=Electric].level`. `derive_data` reads the
table one way (a received Status → the keys of a stored point), `status_body`,
`telemetry_body` and `position_feature` the other way (stored keys → reference bodies).
`DERIVED` lists the keys computed from several values, which have no place of their own.

Storage rule, for everything the table has no key for (battery, ignition, transmission, adas,
lighting, the rest of an energy or an engine, ...): each top-level section of a received
Status is also stored verbatim, under the data key `vehicle.telemetry.<its Telemetry path>`
(`vehicle.telemetry.vehicle.battery`, `vehicle.telemetry.environment`, ...; Status-only
sections under their Status name: `vehicle.telemetry.stolen`, `.preconditioning`; the alarm as
its two TelemetryEnum parts `vehicle.alarm.status` and `vehicle.alarm.trigger`). These keys are
the ones a point could already carry in `data`, so both ways of sending a section agree.
Like every key, a section keeps its newest copy. When rendering, a section is its newest
verbatim copy with every table key of that section written over it: a key is stored from the
same point as the copy, or from a later one, so it is never older than what it replaces.

Dates: every stored value is dated by its point's `eventDate`; the `createdAt`/`updatedAt`
inside a received section are not kept. In a rendered Status each sub-object the reference
gives a `createdAt` (a section, an energy, `environment.air`, `alarm.status`, ...) gets the date
of the newest value it holds. Sections whose schema requires fields no data key carries
(`alarm.trigger`: `startAt`; `stolen`: `id`, `startedAt`, `_links`) are rendered only when
they were received whole. A value of the wrong JSON type for its place (a flat
`vehicle.doorsState.lockedState` sent as a string where the reference has an array) is not
rendered: it still drives monitors.

A point's Position extras (`heading`, `signalQuality`, `type`, `fixStatus`) are stored under
the data key `position`, its Trip under `trip`: names a point cannot use in `data`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleetmon_project.isodates import format_rfc3339
from fleetmon_project.jsonvalues import finite_float
from telemetry.datakeys import DATA_KEYS, TELEMETRY_PREFIX, describe_kind, value_matches_kind
from telemetry.state import LatestState

Path = tuple[str, ...]
Report = Callable[[str, str], None]  # (JSON path, problem)
Records = Mapping[str, tuple[Any, datetime]]  # data key → (value, date reported)

POSITION_KEY = "position"
TRIP_KEY = "trip"
POSITION_EXTRAS = ("heading", "signalQuality", "type", "fixStatus")
_STAMP_FIELDS = ("createdAt", "updatedAt")


@dataclass(frozen=True, eq=False)  # identity: sections are constants, and hashed on the hot path
class Section:
    status: Path | None  # where it sits in a Status (None: not in a Status)
    telemetry: str | None  # its dotted path in a Telemetry item, a TelemetryEnum value where one exists
    stamps: tuple[Path, ...] = ((),)  # the sub-objects the Status schema gives a `createdAt`
    typed_items: bool = False  # an array of objects told apart by `type` (energies, engines)
    needs_whole: bool = False  # rendered only when received whole (required fields no key carries)
    telemetry_stamped: bool = False  # the Telemetry schema requires its `createdAt` too

    @property
    def key(self) -> str:
        return TELEMETRY_PREFIX + (self.telemetry or ".".join(self.status or ()))

    @property
    def telemetry_path(self) -> Path | None:
        return tuple(self.telemetry.split(".")) if self.telemetry else None


_BATTERY = ("extension", "electric", "battery")
ENERGIES = Section(
    ("energies",), "vehicle.energies", ((), (*_BATTERY, "load"), (*_BATTERY, "health")), typed_items=True
)
ENGINES = Section(("engines",), "vehicle.engines", typed_items=True)
ODOMETER = Section(("odometer",), "vehicle.odometer")
KINETIC = Section(("kinetic",), "vehicle.kinetic")
POWERTRAIN = Section(("powertrain",), "vehicle.powertrain")
DOORS_STATE = Section(("doorsState",), "vehicle.doorsState")
SAFETY = Section(("safety",), "vehicle.safety")
DRIVING_BEHAVIOR = Section(("drivingBehavior",), "vehicle.drivingBehavior")
ALARM_STATUS = Section(("alarm", "status"), "vehicle.alarm.status")
ALARM_TRIGGER = Section(("alarm", "trigger"), "vehicle.alarm.trigger", needs_whole=True)
ENVIRONMENT = Section(("environment",), "environment", (("air",), ("luminosity",)))
PRIVACY = Section(("privacy",), "privacy")
PRECONDITIONING = Section(("preconditioning",), None, (("airConditioning",),))
STOLEN = Section(("stolen",), None, needs_whole=True)

SECTIONS: tuple[Section, ...] = (
    ENERGIES,
    ENGINES,
    Section(("transmission",), "vehicle.transmission", ()),
    POWERTRAIN,
    Section(("adas",), "vehicle.adas", ()),
    Section(None, "vehicle.lighting", ()),
    Section(("lightingSystem",), "vehicle.lightingSystem"),
    Section(("ignition",), "vehicle.ignition", telemetry_stamped=True),
    DOORS_STATE,
    Section(("battery",), "vehicle.battery"),
    SAFETY,
    Section(("wipingBlades",), "vehicle.wipingBlades", telemetry_stamped=True),
    ODOMETER,
    ALARM_STATUS,
    ALARM_TRIGGER,
    KINETIC,
    DRIVING_BEHAVIOR,
    ENVIRONMENT,
    PRIVACY,
    PRECONDITIONING,
    STOLEN,
)
SECTIONS_BY_KEY: dict[str, Section] = {section.key: section for section in SECTIONS}


@dataclass(frozen=True)
class Row:
    key: str
    section: Section
    path: Path  # inside the section, or inside its item of type `item_type`
    item_type: str | None = None
    container: type | None = None  # the JSON type of a value the DataTrigger table types "N/A"
    integer: bool = False  # the reference types it `integer`


_CHARGING = ("extension", "electric", "charging")
ROWS: tuple[Row, ...] = (
    Row("vehicle.energy.electric.level", ENERGIES, ("level",), "Electric"),
    Row("vehicle.energy.electric.autonomy", ENERGIES, ("autonomy",), "Electric", integer=True),
    Row("vehicle.energy.fuel.level", ENERGIES, ("level",), "Fuel"),
    Row("vehicle.energy.fuel.autonomy", ENERGIES, ("autonomy",), "Fuel", integer=True),
    Row("vehicle.energy.charging.status", ENERGIES, (*_CHARGING, "status"), "Electric"),
    Row("vehicle.energy.charging.plugged", ENERGIES, (*_CHARGING, "plugged"), "Electric"),
    Row("vehicle.energy.charging.type", ENERGIES, (*_CHARGING, "type"), "Electric"),
    Row("vehicle.engines.thermic.oil.temp", ENGINES, ("extension", "thermic", "oil", "temp"), "Thermic"),
    Row("vehicle.odometer", ODOMETER, ("mileage",)),
    Row("vehicle.kinetic.moving", KINETIC, ("moving",)),
    Row("vehicle.kinetic.speed", KINETIC, ("speed",)),
    Row("vehicle.powertrain.status", POWERTRAIN, ("status",)),
    Row("vehicle.doorsState.lockedState", DOORS_STATE, ("lockedStates",), container=list),
    Row("vehicle.doorsState.opening", DOORS_STATE, ("opening",), container=list),
    Row("environment.air.temp", ENVIRONMENT, ("air", "temp")),
    Row("privacy.state", PRIVACY, ("state",)),
    Row("vehicle.drivingBehavior.mode", DRIVING_BEHAVIOR, ("mode",)),
    Row("vehicle.safety.autoECallTriggering", SAFETY, ("autoECallTriggering",)),
    Row("vehicle.preconditioning.airConditioning", PRECONDITIONING, ("airConditioning",), container=dict),
    Row("vehicle.alarm.status.activation", ALARM_STATUS, ("activation",)),
    Row("vehicle.alarm.trigger.type", ALARM_TRIGGER, ("type",)),
    Row("stolen.state", STOLEN, ("state",)),
)
ROWS_BY_KEY: dict[str, Row] = {row.key: row for row in ROWS}
_ROWS_BY_SECTION: dict[Section, tuple[Row, ...]] = {
    section: tuple(row for row in ROWS if row.section == section) for section in SECTIONS
}
# Which energy a Fuel/Electric key means when a vehicle lists several of a type (a hydrogen
# Fuel beside the fossil one): the reference's default subtype, or none.
_DEFAULT_SUBTYPE = {"Fuel": "FossilEnergy", "Electric": "ElectricEnergy"}


def _autonomy(sections: Mapping[Section, Any]) -> int | None:
    # The reference's "global" autonomy, undefined there: the distance the vehicle can still
    # cover using all its energies, so a plug-in hybrid's is its fuel plus its electric range.
    autonomies = [
        item["autonomy"]
        for item in _items(sections.get(ENERGIES))
        if value_matches_kind(item.get("autonomy"), DATA_KEYS["vehicle.autonomy"])
    ]
    return sum(autonomies) if autonomies else None


def _belt_warning(sections: Mapping[Section, Any]) -> str | None:
    safety = sections.get(SAFETY)
    belts = safety.get("beltStatus") if isinstance(safety, dict) else None
    states = [belt.get("belt") for belt in belts or () if isinstance(belt, dict)]
    if not states:
        return None
    return "Omission" if "Omission" in states else "Normal"


DERIVED: dict[str, tuple[str, Callable[[Mapping[Section, Any]], Any]]] = {
    "vehicle.autonomy": ("sum of `energies[].autonomy`", _autonomy),
    "vehicle.safety.beltWarning": (
        "`Omission` if any `safety.beltStatus[].belt` is `Omission`, else `Normal`",
        _belt_warning,
    ),
}


# --- small JSON helpers ---------------------------------------------------------------


def _get(obj: Any, path: Path) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def _put(obj: dict[str, Any], path: Path, value: Any) -> None:
    for name in path[:-1]:
        child = obj.get(name)
        if not isinstance(child, dict):
            child = obj[name] = {}
        obj = child
    obj[path[-1]] = value


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _item_index(items: Sequence[Mapping[str, Any]], item_type: str) -> int | None:
    # Engines' `type` defaults to Thermic in the reference.
    matching = [i for i, item in enumerate(items) if item.get("type", "Thermic") == item_type]
    default = _DEFAULT_SUBTYPE.get(item_type)
    preferred = [i for i in matching if items[i].get("subType") in (None, default)]
    return next(iter(preferred or matching), None)


def _path_text(base: str, path: Sequence[str | int]) -> str:
    text = base
    for part in path:
        text = f"{text}[{part}]" if isinstance(part, int) else (f"{text}.{part}" if text else part)
    return text


def _stored(row: Row, value: Any) -> Any:
    if isinstance(value, dict) and row.container is dict:
        # Its own dates would make every poll an onChange.
        return {name: item for name, item in value.items() if name not in _STAMP_FIELDS}
    return value


def _rendered(row: Row, value: Any) -> Any:
    if row.container is not None and not isinstance(value, row.container):
        return None
    if row.integer and isinstance(value, float):
        return round(value)
    return copy.deepcopy(value)  # rendering stamps dates into it: never into the stored value


def without_links(value: Any) -> Any:
    """`value` without HAL `_links`, at any depth (webhook extensions carry none)."""
    if isinstance(value, dict):
        return {name: without_links(item) for name, item in value.items() if name != "_links"}
    if isinstance(value, list):
        return [without_links(item) for item in value]
    return value


# --- reference → data keys -----------------------------------------------------------


def _is_telemetry(body: Mapping[str, Any]) -> bool:
    return isinstance(body.get("vehicle"), dict)


def _received_sections(body: Mapping[str, Any]) -> dict[Section, Any]:
    telemetry = _is_telemetry(body)
    found: dict[Section, Any] = {}
    for section in SECTIONS:
        path = section.telemetry_path if telemetry else section.status
        value = _get(body, path) if path else None
        if value is not None:
            found[section] = value
    return found


def _derive(sections: Mapping[Section, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for row in ROWS:
        holder = sections.get(row.section)
        if holder is None:
            continue
        if row.item_type is not None:
            items = _items(holder)
            index = _item_index(items, row.item_type)
            holder = items[index] if index is not None else None
        value = _get(holder, row.path)
        if value is not None:
            data[row.key] = _stored(row, value)
    for key, (_, derive) in DERIVED.items():
        value = derive(sections)
        if value is not None:
            data[key] = value
    return data


def derive_data(status: Mapping[str, Any]) -> dict[str, Any]:
    """The data keys of a reference Status or Telemetry item (checked by `status_problems`):
    each section verbatim (module docstring), every table key present and the derived keys."""
    sections = _received_sections(status)
    return {**{section.key: value for section, value in sections.items()}, **_derive(sections)}


def derive_section_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    """The table and derived keys given by the sections a point sent as `vehicle.telemetry.<section>`
    data keys (checked by `section_problems`), so both ways of sending a section agree."""
    sections = {SECTIONS_BY_KEY[key]: value for key, value in data.items() if key in SECTIONS_BY_KEY}
    return _derive(sections) if sections else {}


def status_problems(status: Any, base: str, report: Report) -> None:
    """Report what makes `status` (a reference Status or Telemetry item) unusable: wrong
    types on the way to a table key or of the key's value. Unknown properties are tolerated,
    as the reference asks of its clients."""
    if not isinstance(status, dict):
        report(base, "must be an object (a reference Status)")
        return
    report = _once(report)
    telemetry = _is_telemetry(status)
    for section in SECTIONS:
        path = section.telemetry_path if telemetry else section.status
        value = _checked_path(status, path, base, report) if path else None
        if value is not None:
            _check_section(section, value, _path_text(base, path or ()), report)


def section_problems(key: str, value: Any, path: str, report: Report) -> None:
    """Report what makes `value` unusable as the section stored under data key `key`."""
    _check_section(SECTIONS_BY_KEY[key], value, path, _once(report))


def _once(report: Report) -> Report:
    reported: set[str] = set()

    def report_once(path: str, message: str) -> None:  # several keys can share a wrong parent
        if path not in reported:
            reported.add(path)
            report(path, message)

    return report_once


def _check_section(section: Section, value: Any, section_text: str, report: Report) -> None:
    holders: list[tuple[tuple[int, ...], Mapping[str, Any]]] = []
    if not section.typed_items:
        if not isinstance(value, dict):
            report(section_text, "must be an object")
            return
        holders.append(((), value))
    elif not isinstance(value, list):
        report(section_text, "must be an array of objects")
        return
    else:
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                report(_path_text(section_text, [index]), "must be an object")
            elif section is ENERGIES and not isinstance(item.get("type"), str):
                report(_path_text(section_text, [index, "type"]), "is required: Fuel or Electric")
            else:
                holders.append(((index,), item))
    for row in _ROWS_BY_SECTION[section]:
        for prefix, holder in holders:
            if row.item_type is not None and holder.get("type", "Thermic") != row.item_type:
                continue
            found = _checked_path(holder, row.path, _path_text(section_text, prefix), report)
            if found is not None:
                _check_value(row, found, _path_text(section_text, [*prefix, *row.path]), report)


def _checked_path(obj: Any, path: Path, base: str, report: Report) -> Any:
    for depth, name in enumerate(path):
        if not isinstance(obj, dict):
            report(_path_text(base, path[:depth]), "must be an object")
            return None
        obj = obj.get(name)
        if obj is None:
            return None
    return obj


def _check_value(row: Row, value: Any, path: str, report: Report) -> None:
    if row.container is not None:
        if not isinstance(value, row.container):
            report(path, "must be an " + ("array" if row.container is list else "object"))
        return
    kind = DATA_KEYS[row.key]
    if not value_matches_kind(value, kind):
        report(path, f"must be {describe_kind(kind)} (got {type(value).__name__})")


def feature_coordinates(feature: Mapping[str, Any], base: str, report: Report) -> tuple[float, float] | None:
    """(latitude, longitude) of a reference Position Feature, or None after reporting why not."""
    geometry = feature.get("geometry")
    coordinates = _get(geometry, ("coordinates",))
    if feature.get("type", "Feature") != "Feature":
        report(_path_text(base, ["type"]), "must be 'Feature'")
    properties = feature.get("properties")
    if properties is not None and not isinstance(properties, dict):
        report(_path_text(base, ["properties"]), "must be an object")
    elif properties:
        _position_properties(properties, _path_text(base, ["properties"]), report)
    if not isinstance(geometry, dict):
        report(_path_text(base, ["geometry"]), "is required: a GeoJSON Point")
        return None
    path = _path_text(base, ["geometry", "coordinates"])
    if not isinstance(coordinates, list) or len(coordinates) < 2:
        report(path, "must be [longitude, latitude]")
        return None
    longitude, latitude = finite_float(coordinates[0]), finite_float(coordinates[1])
    if longitude is None or not -180 <= longitude <= 180:
        report(_path_text(path, [0]), "must be a longitude, a number between -180 and 180")
    if latitude is None or not -90 <= latitude <= 90:
        report(_path_text(path, [1]), "must be a latitude, a number between -90 and 90")
    if longitude is None or latitude is None or not (-180 <= longitude <= 180 and -90 <= latitude <= 90):
        return None
    return latitude, longitude


_PROPERTY_ENUMS = {"type": ("Estimated", "Acquire"), "fixStatus": ("2D", "3D")}


def _position_properties(properties: Mapping[str, Any], base: str, report: Report) -> None:
    for name in ("heading", "signalQuality"):
        value = properties.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            report(_path_text(base, [name]), "must be an integer")
    heading = properties.get("heading")
    if isinstance(heading, int) and not 0 <= heading <= 360:
        report(_path_text(base, ["heading"]), f"must be between 0 and 360 (got {heading})")
    for name, allowed in _PROPERTY_ENUMS.items():
        value = properties.get(name)
        if value is not None and value not in allowed:
            report(_path_text(base, [name]), f"must be one of {', '.join(allowed)}")


def position_extras(feature: Mapping[str, Any]) -> dict[str, Any]:
    """What a Position Feature says beyond its coordinates and dates, to store under `position`."""
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        return {}
    return {name: properties[name] for name in POSITION_EXTRAS if properties.get(name) is not None}


def alerts_problems(alerts: Any, base: str, report: Report) -> None:
    if not isinstance(alerts, list):
        report(base, "must be an array of reference Alert objects")
        return
    for index, alert in enumerate(alerts):
        path = _path_text(base, [index])
        if not isinstance(alert, dict):
            report(path, "must be an object (a reference Alert)")
            continue
        if not isinstance(alert.get("type"), str):
            report(_path_text(path, ["type"]), "is required: the alert code (AlertMsgEnum)")
        if not isinstance(alert.get("active"), bool):
            report(_path_text(path, ["active"]), "is required: a boolean")


def derive_alerts(alerts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`vehicle.alert`: the codes of the active alerts (an empty list when none is)."""
    return {"vehicle.alert": [alert["type"] for alert in alerts if alert["active"]]}


def trip_problems(trip: Any, base: str, report: Report) -> None:
    if not isinstance(trip, dict):
        report(base, "must be an object (a reference Trip)")
        return
    if not isinstance(trip.get("id"), str) or not trip["id"]:
        report(_path_text(base, ["id"]), "is required: the trip's identifier")
    for name, kind in (("duration", "vehicle.trip.duration"), ("distance", "vehicle.trip.distance")):
        value = trip.get(name)
        if value is not None and not value_matches_kind(value, DATA_KEYS[kind]):
            report(_path_text(base, [name]), "must be a number")
    if trip.get("done") is not None and not isinstance(trip["done"], bool):
        report(_path_text(base, ["done"]), "must be a boolean")
    faults = trip.get("faults")
    if faults is not None and not (
        isinstance(faults, list) and all(isinstance(f, dict) and isinstance(f.get("fault"), str) for f in faults)
    ):
        report(_path_text(base, ["faults"]), "must be an array of {fault, cause} objects")


def derive_trip(trip: Mapping[str, Any]) -> dict[str, Any]:
    """The Trip itself (under `trip`, without its links) and the `vehicle.trip.*` keys it gives."""
    data: dict[str, Any] = {
        TRIP_KEY: {name: value for name, value in trip.items() if name != "_links"},
        "vehicle.trip": trip["id"],
        "vehicle.trip.start": trip["id"],
        "vehicle.trip.state": [fault["fault"] for fault in trip.get("faults") or ()] or ["Nominal"],
    }
    if trip.get("done"):
        data["vehicle.trip.stop"] = trip["id"]
    for name in ("duration", "distance"):
        if trip.get(name) is not None:
            data[f"vehicle.trip.{name}"] = trip[name]
    return data


# --- data keys → reference -----------------------------------------------------------


def _records(state: LatestState) -> dict[str, tuple[Any, datetime]]:
    return {key: (record.value, record.at) for key, record in state.data.items()}


def _stamp(
    obj: dict[str, Any],
    marks: list[tuple[Path, datetime]],
    clear: tuple[Path, ...],
    stamps: tuple[Path, ...],
) -> None:
    for path in clear:
        target = _get(obj, path)
        if isinstance(target, dict):
            for name in _STAMP_FIELDS:
                target.pop(name, None)
    for path in stamps:
        target = _get(obj, path)
        dates = [at for mark, at in marks if mark[: len(path)] == path]
        if isinstance(target, dict) and dates:
            target["createdAt"] = format_rfc3339(max(dates))


def _fill(
    obj: dict[str, Any],
    received_at: datetime | None,
    keys: list[tuple[Row, Any, datetime]],
    clear: tuple[Path, ...],
    stamps: tuple[Path, ...],
) -> list[tuple[Path, datetime]]:
    marks: list[tuple[Path, datetime]] = []
    if received_at is not None:
        present = [path for path in clear if path and isinstance(_get(obj, path), dict)]
        marks = [((), received_at), *((path, received_at) for path in present)]
    for row, value, at in keys:
        rendered = _rendered(row, value)
        if rendered is not None:
            _put(obj, row.path, rendered)
            marks.append((row.path, at))
    _stamp(obj, marks, clear, stamps)
    return marks


def _render(section: Section, records: Records, *, stamps: tuple[Path, ...]) -> tuple[Any, datetime] | None:
    """The section from its verbatim copy and its keys, with the date of its newest value."""
    received = records.get(section.key)
    expected = list if section.typed_items else dict
    if received is not None and not isinstance(received[0], expected):
        received = None  # written before sections were checked: not a shape we can show
    keys = [(row, *records[row.key]) for row in _ROWS_BY_SECTION[section] if row.key in records]
    if received is None and (section.needs_whole or not keys):
        return None
    received_at = received[1] if received else None
    if not section.typed_items:
        obj = copy.deepcopy(dict(received[0])) if received else {}
        marks = _fill(obj, received_at, keys, section.stamps, stamps)
        return (obj, max(at for _, at in marks)) if marks else None
    items = [copy.deepcopy(dict(item)) for item in _items(received[0])] if received else []
    from_received = len(items)
    per_item: dict[int, list[tuple[Row, Any, datetime]]] = {}
    for row, value, at in keys:
        assert row.item_type is not None
        index = _item_index(items, row.item_type)
        if index is None:
            items.append({"type": row.item_type})
            index = len(items) - 1
        per_item.setdefault(index, []).append((row, value, at))
    kept, dates = [], []
    for index, item in enumerate(items):
        from_copy = index < from_received
        marks = _fill(item, received_at if from_copy else None, per_item.get(index, []), section.stamps, stamps)
        if marks or from_copy:
            kept.append(item)
            dates += [at for _, at in marks]
    return (kept, max(dates)) if dates else None


def position_feature(*, vin: str, state: LatestState) -> dict[str, Any] | None:
    """The reference Position (a GeoJSON Feature) of the latest known position, or None."""
    if state.position_at is None or state.latitude is None or state.longitude is None:
        return None
    properties: dict[str, Any] = {"vin": vin, "createdAt": format_rfc3339(state.position_at)}
    extras = state.data.get(POSITION_KEY)
    if extras is not None and extras.at == state.position_at and isinstance(extras.value, dict):
        # Extras belong to the fix they came with, not to a later one reported without them.
        properties.update({name: extras.value[name] for name in POSITION_EXTRAS if name in extras.value})
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [state.longitude, state.latitude]},
        "properties": properties,
    }


def status_body(*, vin: str, state: LatestState) -> dict[str, Any]:
    """The reference Status from the latest known values, without `_links` (the caller's).
    `createdAt` is when the vehicle was last seen; sections never reported are left out."""
    body: dict[str, Any] = {"vin": vin}
    if state.last_seen_at is not None:
        body["createdAt"] = format_rfc3339(state.last_seen_at)
    position = position_feature(vin=vin, state=state)
    if position is not None:
        body["lastPosition"] = position
    records = _records(state)
    for section in SECTIONS:
        if section.status is None:
            continue
        rendered = _render(section, records, stamps=section.stamps)
        if rendered is not None:
            _put(body, section.status, rendered[0])
    return body


def _selected(section: Section, types: Collection[str] | None) -> bool:
    path = section.telemetry
    if path is None:
        return False
    return types is None or any(path == kind or path.startswith(kind + ".") for kind in types)


def _telemetry(records: Records, types: Collection[str] | None) -> tuple[dict[str, Any], datetime] | None:
    body: dict[str, Any] = {}
    newest: datetime | None = None
    for section in SECTIONS:
        if not _selected(section, types):
            continue
        rendered = _render(section, records, stamps=((),) if section.telemetry_stamped else ())
        if rendered is None:
            continue
        value, at = rendered
        _put(body, section.telemetry_path or (), value)
        newest = at if newest is None else max(newest, at)
    if newest is None:
        return None
    return {"createdAt": format_rfc3339(newest), **body}, newest


def telemetry_body(
    *, event_date: datetime, data: Mapping[str, Any], types: Collection[str] | None = None
) -> dict[str, Any] | None:
    """One stored point as a reference Telemetry item without `_links`, restricted to the
    TelemetryEnum `types` (all when None); None when the point holds nothing of them."""
    rendered = _telemetry({key: (value, event_date) for key, value in data.items()}, types)
    return rendered[0] if rendered else None


def latest_telemetry_body(*, state: LatestState, types: Collection[str] | None = None) -> dict[str, Any] | None:
    """The latest known values as one Telemetry item (`createdAt`: its newest value), or None."""
    rendered = _telemetry(_records(state), types)
    return rendered[0] if rendered else None


def trip_body(*, vin: str, state: LatestState) -> dict[str, Any] | None:
    """The latest Trip received, as the reference's Trip without `_links`, or None."""
    record = state.data.get(TRIP_KEY)
    if record is None or not isinstance(record.value, dict):
        return None
    trip = dict(record.value)
    trip["vin"] = vin
    trip.setdefault("createdAt", format_rfc3339(record.at))
    return trip


def telemetry_type_of(key: str) -> str | None:
    """The Telemetry section a data key is shown in (for `extendedEventParam` data keys)."""
    row = ROWS_BY_KEY.get(key)
    return row.section.telemetry if row is not None else None

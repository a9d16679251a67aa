"""Validation and canonicalisation of a monitor definition (the `MonitorParameter` body).

`parse_monitor_definition` takes the JSON body of POST/PUT `/fleets/{fid}/monitors` as
decoded by a JSON parser and either returns a `MonitorDefinition` holding the canonical
form (what GET returns) and the compiled `boolExp`, or raises `DefinitionError` listing
*every* problem found, each with the JSON path of the offending field.

The module is pure: no Django, no I/O beyond loading time-zone data.

Quirks of the user's documentation are accepted and canonicalised away:

* `callback` given flat (`{target, name, attributes}`) instead of `{"webhook": {...}}`;
* `maxRetryNumber` for `retryNumber`, `zone.circle` for `zone.place`,
  `occurrence` for the reference's own spelling `occurence`;
* data-trigger values written as JSON numbers or booleans (`50`, `true`) instead of strings.

Round trip: ``parse_monitor_definition(d.canonical).canonical == d.canonical``.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from monitors.boolexp import BoolExpError, CompiledExpression, compile_expression, referenced_names
from fleetmon_project.isodates import format_rfc3339, parse_iso_duration, parse_rfc3339
from fleetmon_project.jsonvalues import finite_float, unstorable_text
from monitors.dwell import MAX_DURATION as MAX_DWELL
from monitors.dwell import MIN_DURATION as MIN_DWELL
from monitors.spec import TRIGGER_KINDS, WEBHOOK_VARIABLES, MonitorSpec
from monitors.timewindows import EARLIEST_INSTANT, LATEST_INSTANT, MAX_DAILY_DURATION
from monitors.zones import MAX_POLYGON_VERTICES, geojson_polygons, polygon_problems
from telemetry.datakeys import (
    DATA_KEY_ENUMS,
    DATA_KEY_OPS,
    DATA_KEYS,
    EXTENSION_TYPES,
    TELEMETRY_PREFIX,
    TELEMETRY_TYPES,
    ValueKind,
)

__all__ = [
    "DefinitionError",
    "FieldError",
    "MonitorDefinition",
    "parse_monitor_definition",
]

LABEL_MAX_LENGTH = 255
MIN_TRIGGERS = 1
MAX_TRIGGERS = 5
# The reference's pattern is written "\"[a-zA-Z]+[._]?[0-9]*\"": the quotes are a typo.
TRIGGER_NAME = re.compile(r"[a-zA-Z]+[._]?[0-9]*")
TRIGGER_NAME_RULE = "letters, then an optional '.' or '_', then optional digits (e.g. 'zone', 'zone_1')"

TRANSITIONS = ("In", "Out")
RECURRENCES = ("Daily", "None")
DEFAULT_RECURRENCE = "Daily"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_WEEK, MAX_WEEK = 1, 53
DEFAULT_TIME_ZONE = "Europe/Paris"

OPS = ("equalsTo", "greaterThan", "lowerThan", "includedIn", "onChange")
ENUM_LISTED_IN_FULL = 20  # values; beyond, an error message shows only the closest ones

RETRY_POLICIES = ("None", "Bounded", "Always")
# When `retryPolicy` is absent we store the reference's own defaults: `retryNumber` 3 and
# `retryDelay` 10 are the schema defaults, and `Bounded` is the policy those two defaults
# describe ("retryNumber: to be used with a retryPolicy set to Bounded"). `None` would drop
# an event on the first network hiccup and `Always` would retry a dead endpoint forever, so
# neither is a sensible implicit choice. Storing the defaults explicitly makes GET show
# what the notifier will actually do.
DEFAULT_RETRY_NUMBER = 3
DEFAULT_RETRY_DELAY = 10
DEFAULT_RETRY_POLICY: Mapping[str, Any] = {
    "policy": "Bounded",
    "retryNumber": DEFAULT_RETRY_NUMBER,
    "retryDelay": DEFAULT_RETRY_DELAY,
}
MIN_REFRESH_EVENT = 60
MIN_BATCH_TIME_WINDOW = 5
DEFAULT_BATCH_TIME_WINDOW = 60
# Every interval in seconds (refreshEvent, retryDelay, timeWindow) is added to "now", and
# an unbounded one overflows datetime (past year 9999) in the engine or the notifier. 30
# days is ten times the default FLEETMON_EVENT_RETENTION: a retry or a batch flush later
# than the retention finds its events expired, and a reminder rarer than monthly reminds
# nobody. The bound is fixed rather than read from the retention setting so that a stored
# definition stays valid whatever the deployment's configuration.
MAX_INTERVAL = 30 * 24 * 3600
MAX_INTERVAL_UNIT = " s, i.e. 30 days"
# A thousand retries at the shortest delay already outlast a receiver's hiccup; an
# endpoint that needs more is what policy 'Always' is for.
MAX_RETRY_NUMBER = 1000
# A thousand events make a request body of the order of a megabyte, about what receivers
# accept; more would be refused by the receiver rather than delivered.
MAX_BATCH_SIZE = 1000
# No two points of the WGS-84 ellipsoid are farther apart than half the equator
# (pi x 6378.137 km), so every larger circle covers the whole planet.
MAX_RADIUS_KM = 20037.5
POLYGON_TYPES = ("Polygon", "MultiPolygon")
MIN_RING_POSITIONS = 4  # RFC 7946: a closed LinearRing, a triangle at the least
# Beyond this many errors in one polygon's coordinates the rest are counted, not listed.
MAX_POLYGON_ERRORS = 20
_RINGS_SHAPE = "rings (the outer one, then its holes), each an array of [longitude, latitude] positions"
_COORDINATES_SHAPE = {
    "Polygon": f"an array of {_RINGS_SHAPE}",
    "MultiPolygon": f"an array of polygons, each an array of {_RINGS_SHAPE}",
}
_NESTING = {"Polygon": 3, "MultiPolygon": 4}  # arrays around each number of a position

ATTRIBUTE_TYPES = ("Header", "Query", "Body")
MAX_URL_LENGTH = 2000
FLAT_WEBHOOK_FIELDS = ("target", "name", "attributes")

_MISSING: Any = object()
_T = TypeVar("_T")
# RFC 7230 token: 1*tchar.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 field-value without obs-text: visible ASCII, space and tab. Python's http.client
# sends header values as Latin-1 only, and receivers decode bytes above 0x7F as they please.
_HEADER_VALUE_FORBIDDEN = re.compile(r"[^\t\x20-\x7e]")
# These frame or route the request; the HTTP client sets them, and a value of the user's
# could cut the body short, smuggle a second request or send this one through a proxy.
_FRAMING_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade"}
)
# FleetMon signs every request with these (notifications.signing); a receiver must be
# able to trust them.
_SIGNING_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})
_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_KNOWN_VARIABLES = frozenset(name.lower() for name in WEBHOOK_VARIABLES)
_VARIABLES_LISTED = ", ".join(f"${name}" for name in WEBHOOK_VARIABLES[:-1]) + f" or ${WEBHOOK_VARIABLES[-1]}"
# ASCII: \d would also take other scripts' digits, which int() reads ('w١' as week 1).
_WEEK = re.compile(r"\s*[wW](\d{1,2})\s*(?:-\s*[wW](\d{1,2})\s*)?", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_HOST_ZONE_FILES = frozenset({"localtime", "posixrules", "Factory"})
_NAME_CHARS = "A-Za-z0-9_."  # what boolexp scans as one word


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class FieldError:
    """One problem: `field` is the JSON path (`triggerParam.triggers[2].data.op`), "" for the root."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class DefinitionError(ValueError):
    """An invalid monitor definition; `errors` lists every problem found, in document order."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        super().__init__("; ".join(str(error) for error in self.errors) or "invalid monitor definition")

    def by_field(self) -> dict[str, list[str]]:
        """The errors grouped by path, e.g. for a 400 response body."""
        grouped: dict[str, list[str]] = {}
        for error in self.errors:
            grouped.setdefault(error.field, []).append(error.message)
        return grouped


@dataclass(frozen=True)
class MonitorDefinition:
    """A valid monitor definition.

    `canonical` is the reference form returned by GET and stored (JSON-serialisable; treat
    it as read-only), `spec` its typed reading, `expression` the compiled `boolExp` whose
    `names` are the trigger names in definition order.
    """

    canonical: dict[str, Any]
    expression: CompiledExpression

    @functools.cached_property
    def spec(self) -> MonitorSpec:
        return MonitorSpec(self.canonical)


def parse_monitor_definition(raw: object, *, require_https: bool = False) -> MonitorDefinition:
    """Validate a decoded `MonitorParameter` body and return its canonical form.

    Raises `DefinitionError` with every problem found. With `require_https`, webhook
    targets must use https.
    """
    errors = _Errors()
    if not isinstance(raw, dict):
        raise DefinitionError([FieldError("", "must be an object")])
    # Alone and first: other messages quote the user's text, and a message quoting a lone
    # surrogate cannot be sent. The API checks this already; the admin form does not.
    unstorable = unstorable_text(raw)
    if unstorable:
        raise DefinitionError(FieldError(path, message) for path, message in unstorable)
    root = _Object(errors, raw, "", ("label", "subscribeParam", "extendedEventParam", "triggerParam"))

    label = _label(errors, root)
    subscribe = (
        _subscribe_param(errors, root.get("subscribeParam"), root.path_of("subscribeParam"), require_https)
        if _required(errors, root, "subscribeParam")
        else None
    )
    extended = (
        _extended_event_param(errors, root.get("extendedEventParam"), root.path_of("extendedEventParam"))
        if root.has("extendedEventParam")
        else []
    )
    trigger_param: dict[str, Any] | None = None
    expression: CompiledExpression | None = None
    if _required(errors, root, "triggerParam"):
        trigger_param, expression = _trigger_param(
            errors, root.get("triggerParam"), root.path_of("triggerParam")
        )

    if errors.items or expression is None:
        raise DefinitionError(errors.items or [FieldError("triggerParam.boolExp", "is invalid")])
    canonical = {
        "label": label,
        "subscribeParam": subscribe,
        "extendedEventParam": extended,
        "triggerParam": trigger_param,
    }
    return MonitorDefinition(canonical=canonical, expression=expression)


# --------------------------------------------------------------------------- plumbing


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(FieldError(path, message))

    def count(self) -> int:
        return len(self.items)


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _index_path(path: str, index: int) -> str:
    return f"{path}[{index}]"


def _suggestion(word: str, candidates: Iterable[str]) -> str:
    matches = difflib.get_close_matches(word, list(candidates), n=1)
    return f"; did you mean '{matches[0]}'?" if matches else ""


def _quoted_list(choices: Sequence[str]) -> str:
    return ", ".join(f"'{choice}'" for choice in choices)


class _Object:
    """A JSON object being read: unknown fields are reported (with a suggestion) and
    aliases resolved to their canonical name; paths keep the key the user wrote."""

    def __init__(
        self,
        errors: _Errors,
        value: Mapping[Any, Any],
        path: str,
        known: Sequence[str],
        aliases: Mapping[str, str] | None = None,
        also_suggest: Sequence[str] = (),
    ) -> None:
        aliases = aliases or {}
        self.path = path
        self._value = value
        self._written: dict[str, Any] = {}  # canonical name -> key as written
        candidates = [*known, *aliases, *also_suggest]
        for key in value:
            canonical = key if key in known else aliases.get(key) if isinstance(key, str) else None
            if canonical is None:
                message = f"unknown field '{key}'" + _suggestion(str(key), candidates)
                errors.add(_key_path(path, str(key)), message)
                continue
            if canonical in self._written:
                alias = key if key != canonical else self._written[canonical]
                errors.add(
                    _key_path(path, alias),
                    f"both '{canonical}' and its alias '{alias}' are given; give only '{canonical}'",
                )
                self._written[canonical] = canonical
                continue
            self._written[canonical] = key

    def has(self, name: str) -> bool:
        return name in self._written

    def get(self, name: str) -> Any:
        return self._value[self._written[name]] if name in self._written else _MISSING

    def path_of(self, name: str) -> str:
        return _key_path(self.path, self._written.get(name, name))


def _object(
    errors: _Errors,
    value: object,
    path: str,
    known: Sequence[str],
    aliases: Mapping[str, str] | None = None,
    also_suggest: Sequence[str] = (),
) -> _Object | None:
    if not isinstance(value, dict):
        errors.add(path, "must be an object")
        return None
    return _Object(errors, value, path, known, aliases, also_suggest)


def _required(errors: _Errors, obj: _Object, name: str, message: str = "is required") -> bool:
    if obj.has(name):
        return True
    errors.add(obj.path_of(name), message)
    return False


def _field(errors: _Errors, obj: _Object, name: str, check: Callable[[object, str], _T]) -> _T | None:
    """`check(value, path)` of a required field; None (and "is required") when it is absent."""
    if not _required(errors, obj, name):
        return None
    return check(obj.get(name), obj.path_of(name))


def _array(errors: _Errors, value: object, path: str) -> list[Any] | None:
    if not isinstance(value, list):
        errors.add(path, "must be an array")
        return None
    return value


def _string(errors: _Errors, value: object, path: str, *, non_empty: bool = False) -> str | None:
    if not isinstance(value, str):
        errors.add(path, "must be a string")
        return None
    if non_empty and not value.strip():
        errors.add(path, "must not be empty")
        return None
    return value


def _enum(errors: _Errors, value: object, path: str, choices: Sequence[str]) -> str | None:
    if not isinstance(value, str):
        errors.add(path, "must be a string")
        return None
    if value not in choices:
        errors.add(path, f"must be one of {_quoted_list(choices)} (got '{value}')")
        return None
    return value


def _integer(errors: _Errors, value: object, path: str, minimum: int, maximum: int, unit: str = "") -> int | None:
    """An integer in [minimum, maximum] (an integral float such as 60.0 is stored as 60);
    `unit` follows the maximum in the message."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.add(path, "must be an integer")
        return None
    if isinstance(value, float):
        if not value.is_integer():
            errors.add(path, "must be an integer")
            return None
        value = int(value)
    if value < minimum:
        errors.add(path, f"must be at least {minimum} (got {_shown(value)})")
        return None
    if value > maximum:
        errors.add(path, f"must be at most {maximum}{unit} (got {_shown(value)})")
        return None
    return value


def _number(errors: _Errors, value: object, path: str) -> int | float | None:
    """A JSON number that a float holds exactly enough to compute with: the engine computes
    distances in floats, and `1` followed by 400 zeros has no float value at all."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.add(path, "must be a number")
        return None
    if finite_float(value) is None:
        errors.add(path, "must be a finite number" if isinstance(value, float) else "is too large for a number")
        return None
    return value


def _shown(number: int | float) -> str:
    # A 400-digit integer echoed back digit by digit helps nobody.
    digits = len(str(abs(number))) if isinstance(number, int) else 0
    return f"a {digits}-digit number" if digits > 21 else str(number)


def _optional_integer(
    errors: _Errors,
    obj: _Object,
    name: str,
    minimum: int,
    maximum: int,
    default: int | None,
    unit: str = "",
) -> int | None:
    if not obj.has(name):
        return default
    return _integer(errors, obj.get(name), obj.path_of(name), minimum, maximum, unit)


# --------------------------------------------------------------------------- root fields


def _label(errors: _Errors, root: _Object) -> str | None:
    if not _required(errors, root, "label"):
        return None
    path = root.path_of("label")
    label = _string(errors, root.get("label"), path, non_empty=True)
    if label is not None and len(label) > LABEL_MAX_LENGTH:
        errors.add(path, f"must be at most {LABEL_MAX_LENGTH} characters (got {len(label)})")
    return label


def _extension_candidates() -> list[str]:
    return [*EXTENSION_TYPES, *(TELEMETRY_PREFIX + kind for kind in TELEMETRY_TYPES), *DATA_KEYS]


def _is_extension(item: str) -> bool:
    if item in EXTENSION_TYPES or item in DATA_KEYS:
        return True
    return item.startswith(TELEMETRY_PREFIX) and item[len(TELEMETRY_PREFIX) :] in TELEMETRY_TYPES


def _extended_event_param(errors: _Errors, value: object, path: str) -> list[str]:
    items = _array(errors, value, path)
    result: list[str] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items or []):
        item_path = _index_path(path, index)
        if not isinstance(item, str):
            errors.add(item_path, "must be a string")
            continue
        if not _is_extension(item):
            hint = _suggestion(item, _extension_candidates()) or (
                f"; use one of {', '.join(EXTENSION_TYPES)}, {TELEMETRY_PREFIX}<type> or a data key"
            )
            errors.add(item_path, f"unknown extension '{item}'{hint}")
            continue
        if item in seen:
            errors.add(item_path, f"duplicate item '{item}' (already at index {seen[item]})")
            continue
        seen[item] = index
        result.append(item)
    return result


# --------------------------------------------------------------------------- subscribeParam


def _subscribe_param(errors: _Errors, value: object, path: str, require_https: bool) -> dict[str, Any]:
    obj = _object(errors, value, path, ("refreshEvent", "retryPolicy", "batchNotify", "callback"))
    if obj is None:
        return {}
    result: dict[str, Any] = {}
    if obj.has("refreshEvent"):
        result["refreshEvent"] = _optional_integer(
            errors, obj, "refreshEvent", MIN_REFRESH_EVENT, MAX_INTERVAL, None, MAX_INTERVAL_UNIT
        )
    if obj.has("retryPolicy"):
        result["retryPolicy"] = _retry_policy(errors, obj.get("retryPolicy"), obj.path_of("retryPolicy"))
    else:
        result["retryPolicy"] = dict(DEFAULT_RETRY_POLICY)
    if obj.has("batchNotify"):
        result["batchNotify"] = _batch_notify(errors, obj.get("batchNotify"), obj.path_of("batchNotify"))
    if _required(errors, obj, "callback"):
        result["callback"] = _callback(errors, obj.get("callback"), obj.path_of("callback"), require_https)
    return result


def _retry_policy(errors: _Errors, value: object, path: str) -> dict[str, Any]:
    known = ("policy", "retryNumber", "retryDelay")
    obj = _object(errors, value, path, known, aliases={"maxRetryNumber": "retryNumber"})
    if obj is None:
        return {}
    return {
        "policy": _field(errors, obj, "policy", lambda v, p: _enum(errors, v, p, RETRY_POLICIES)),
        "retryNumber": _optional_integer(errors, obj, "retryNumber", 1, MAX_RETRY_NUMBER, DEFAULT_RETRY_NUMBER),
        "retryDelay": _optional_integer(
            errors, obj, "retryDelay", 1, MAX_INTERVAL, DEFAULT_RETRY_DELAY, MAX_INTERVAL_UNIT
        ),
    }


def _batch_notify(errors: _Errors, value: object, path: str) -> dict[str, Any]:
    obj = _object(errors, value, path, ("size", "timeWindow"))
    if obj is None:
        return {}
    return {
        "size": _field(errors, obj, "size", lambda v, p: _integer(errors, v, p, 1, MAX_BATCH_SIZE)),
        "timeWindow": _optional_integer(
            errors,
            obj,
            "timeWindow",
            MIN_BATCH_TIME_WINDOW,
            MAX_INTERVAL,
            DEFAULT_BATCH_TIME_WINDOW,
            MAX_INTERVAL_UNIT,
        ),
    }


def _callback(errors: _Errors, value: object, path: str, require_https: bool) -> dict[str, Any]:
    if not isinstance(value, dict):
        errors.add(path, "must be an object")
        return {}
    flat = [key for key in FLAT_WEBHOOK_FIELDS if key in value]
    if "webhook" in value:
        if flat:
            errors.add(
                path,
                f"both 'webhook' and flat webhook fields ({_quoted_list(flat)}) are given; "
                "nest target, name and attributes under 'webhook' or give them flat, not both",
            )
        rest = {key: item for key, item in value.items() if key not in FLAT_WEBHOOK_FIELDS}
        obj = _Object(errors, rest, path, ("webhook",))
        return {"webhook": _webhook(errors, obj.get("webhook"), obj.path_of("webhook"), require_https)}
    if not flat:
        # Neither form: report stray fields against both forms, then the missing webhook.
        _Object(errors, value, path, ("webhook",), also_suggest=FLAT_WEBHOOK_FIELDS)
        errors.add(_key_path(path, "webhook"), "is required")
        return {}
    # The user's documentation writes the webhook fields directly under `callback`.
    return {"webhook": _webhook(errors, value, path, require_https, also_suggest=("webhook",))}


def _webhook(
    errors: _Errors, value: object, path: str, require_https: bool, also_suggest: Sequence[str] = ()
) -> dict[str, Any]:
    obj = _object(errors, value, path, FLAT_WEBHOOK_FIELDS, also_suggest=also_suggest)
    if obj is None:
        return {}
    target = _field(errors, obj, "target", lambda v, p: _url(errors, v, p, require_https))
    name = _field(errors, obj, "name", lambda v, p: _string(errors, v, p, non_empty=True))
    attributes: list[dict[str, str]] = []
    if obj.has("attributes"):
        items = _array(errors, obj.get("attributes"), obj.path_of("attributes"))
        for index, item in enumerate(items or []):
            attribute = _attribute(errors, item, _index_path(obj.path_of("attributes"), index))
            if attribute is not None:
                attributes.append(attribute)
    return {"target": target, "name": name, "attributes": attributes}


def _url(errors: _Errors, value: object, path: str, require_https: bool) -> str | None:
    url = _string(errors, value, path, non_empty=True)
    if url is None:
        return None
    if len(url) > MAX_URL_LENGTH:
        errors.add(path, f"must be at most {MAX_URL_LENGTH} characters (got {len(url)})")
        return None
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        errors.add(path, "must not contain spaces or control characters")
        return None
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        errors.add(path, f"'{url}' is not a valid URL")
        return None
    if scheme not in ("http", "https"):
        errors.add(path, "must be an absolute http(s) URL such as 'https://example.com/events'")
        return None
    if not host:
        errors.add(path, "must have a host, as in 'https://example.com/events'")
        return None
    if require_https and scheme != "https":
        errors.add(path, "must use https (FLEETMON_REQUIRE_HTTPS_WEBHOOKS is on)")
        return None
    return url


def _attribute(errors: _Errors, value: object, path: str) -> dict[str, str] | None:
    obj = _object(errors, value, path, ("type", "key", "value"))
    if obj is None:
        return None
    kind = _field(errors, obj, "type", lambda v, p: _enum(errors, v, p, ATTRIBUTE_TYPES))
    key = _field(errors, obj, "key", lambda v, p: _string(errors, v, p, non_empty=True))
    if key is not None and kind == "Header":
        _header_name(errors, key, obj.path_of("key"))
    text = _field(errors, obj, "value", lambda v, p: _string(errors, v, p))
    if text is not None:
        forbidden = _HEADER_VALUE_FORBIDDEN.search(text) if kind == "Header" else None
        if forbidden is not None:
            char = forbidden.group()
            shown = f"'{char}' (U+{ord(char):04X})" if char.isprintable() else f"U+{ord(char):04X}"
            errors.add(
                obj.path_of("value"),
                "a header value may only contain printable ASCII characters, spaces and tabs "
                f"(RFC 9110): {shown} at position {forbidden.start()} is not one",
            )
        reported: set[str] = set()
        for match in _VARIABLE.finditer(text):
            variable = match.group(1)
            if variable.lower() not in _KNOWN_VARIABLES and variable not in reported:
                reported.add(variable)
                errors.add(
                    obj.path_of("value"),
                    f"unknown variable '${variable}'; use {_VARIABLES_LISTED}",
                )
    return {"type": kind, "key": key, "value": text}  # type: ignore[dict-item]


def _header_name(errors: _Errors, key: str, path: str) -> None:
    name = key.lower()
    if not _HEADER_NAME.fullmatch(key):
        errors.add(path, f"'{key}' is not a valid header name: use letters, digits and !#$%&'*+-.^_`|~ only")
    elif name in _FRAMING_HEADERS or name.startswith("proxy-"):
        errors.add(
            path,
            f"'{key}' cannot be set by an attribute: it frames or routes the request, "
            "which FleetMon's HTTP client does",
        )
    elif name in _SIGNING_HEADERS:
        errors.add(path, f"'{key}' cannot be set by an attribute: FleetMon signs every request with it")


# --------------------------------------------------------------------------- triggerParam


def _trigger_param(
    errors: _Errors, value: object, path: str
) -> tuple[dict[str, Any], CompiledExpression | None]:
    obj = _object(errors, value, path, ("triggers", "boolExp"))
    if obj is None:
        return {}, None
    triggers: list[dict[str, Any]] = []
    names = _TriggerNames()
    if _required(errors, obj, "triggers"):
        triggers, names = _triggers(errors, obj.get("triggers"), obj.path_of("triggers"))
    expression = None
    source = None
    if _required(errors, obj, "boolExp"):
        source = _string(errors, obj.get("boolExp"), obj.path_of("boolExp"))
        if source is not None:
            expression = _compile(errors, source, obj.path_of("boolExp"), names)
    return {"triggers": triggers, "boolExp": source}, expression


@dataclass
class _TriggerNames:
    """What the triggers say about the names the boolExp may use."""

    valid: list[str] | None = None  # unique valid names; None: the triggers array is unusable
    invalid: list[str] | None = None  # names given but malformed
    # Some trigger has no usable name (missing, not a string, or a duplicate): a name
    # the boolExp uses but no trigger declares may be that trigger's intended name.
    uncertain: bool = False


def _triggers(errors: _Errors, value: object, path: str) -> tuple[list[dict[str, Any]], _TriggerNames]:
    names = _TriggerNames()
    items = _array(errors, value, path)
    if items is None:
        return [], names
    if len(items) < MIN_TRIGGERS:
        errors.add(path, f"must contain at least {MIN_TRIGGERS} trigger")
        return [], names
    too_many = len(items) > MAX_TRIGGERS
    if too_many:
        errors.add(path, f"must contain at most {MAX_TRIGGERS} triggers (got {len(items)})")
    valid: dict[str, int] = {}
    invalid: list[str] = []
    triggers: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        item_path = _index_path(path, index)
        obj = _object(errors, item, item_path, ("name", *TRIGGER_KINDS, "minDuration"))
        if obj is None:
            names.uncertain = True
            continue
        name = None
        if not obj.has("name"):
            errors.add(obj.path_of("name"), "is required")
            names.uncertain = True
        elif not isinstance(obj.get("name"), str):
            errors.add(obj.path_of("name"), "must be a string")
            names.uncertain = True
        else:
            name = obj.get("name")
            if not TRIGGER_NAME.fullmatch(name):
                errors.add(
                    obj.path_of("name"), f"invalid trigger name '{name}': a name is {TRIGGER_NAME_RULE}"
                )
                invalid.append(name)
            elif name in valid:
                errors.add(
                    obj.path_of("name"),
                    f"duplicate trigger name '{name}' (already used by triggers[{valid[name]}])",
                )
                names.uncertain = True
            else:
                valid[name] = index
        described = f"trigger '{name}'" if name else "this trigger"
        kinds = [kind for kind in TRIGGER_KINDS if obj.has(kind)]
        if not kinds:
            errors.add(item_path, f"{described} defines neither zone, time nor data")
        elif len(kinds) > 1:
            given = " and ".join(kinds) if len(kinds) == 2 else "zone, time and data"
            both = "both " if len(kinds) == 2 else ""
            errors.add(
                item_path,
                f"{described} defines {both}{given}; a trigger defines exactly one of zone, time or data",
            )
        trigger: dict[str, Any] = {"name": name}
        for kind in kinds:
            trigger[kind] = _TRIGGER_PARSERS[kind](errors, obj.get(kind), obj.path_of(kind))
        if obj.has("minDuration"):
            trigger["minDuration"] = _min_duration(errors, obj.get("minDuration"), obj.path_of("minDuration"), trigger)
        triggers.append(trigger)
    # More than MAX_TRIGGERS names cannot be compiled: only the syntax is checked then.
    names.valid = None if too_many else list(valid)
    names.invalid = invalid
    return triggers, names


def _min_duration(errors: _Errors, value: object, path: str, trigger: Mapping[str, Any]) -> str | None:
    """A FleetMon extension: the trigger is satisfied once its condition has held this long
    (ISO 8601, PT1S to P1D), kept as written. An onChange is an instant, not a condition that
    holds: it has no duration."""
    text = _string(errors, value, path)
    if text is None:
        return None
    try:
        duration = parse_iso_duration(text)
    except ValueError as exc:
        errors.add(path, str(exc))
        return None
    if not MIN_DWELL <= duration <= MAX_DWELL:
        errors.add(path, f"must be between 'PT1S' and 'P1D' (got '{text}')")
        return None
    if (trigger.get("data") or {}).get("op") == "onChange":
        errors.add(
            path,
            "an onChange trigger fires at the instant a value changes and holds for no duration; "
            "use equalsTo or includedIn on the new value to require it for a while",
        )
        return None
    return text


def _compile(errors: _Errors, source: str, path: str, names: _TriggerNames) -> CompiledExpression | None:
    """Compile the boolExp, reporting only problems of the expression itself.

    Malformed trigger names (already reported on the trigger) are replaced in the source
    by same-length placeholders, so they cause neither "invalid name" nor "unknown trigger"
    errors and columns stay right. When a trigger has no usable name (missing, duplicated,
    or malformed and absent from the expression), "unknown trigger" is not reported: the
    unknown name may be the one that trigger was meant to have. When the triggers array
    is unusable (not an array, empty, too long), only the syntax is checked.
    """
    declared = list(names.valid) if names.valid is not None else []
    source_for_check, placeholders = _substitute_invalid_names(source, names.invalid or [], declared)
    # A malformed name the expression does not use is as good as a missing one.
    uncertain = names.uncertain or bool(set(names.invalid or []) - set(placeholders.values()))
    try:
        if names.valid is None:
            referenced_names(source_for_check)
            return None
        return compile_expression(source_for_check, [*declared, *placeholders])
    except BoolExpError as exc:
        if uncertain and _has_unknown_name(source_for_check, [*declared, *placeholders]):
            return None
        message = exc.message
        if exc.column is not None and "column" not in message:
            message = f"{message} (column {exc.column})"
        for placeholder, original in placeholders.items():
            bounded = re.compile(rf"(?<![{_NAME_CHARS}]){placeholder}(?![{_NAME_CHARS}])")
            message = bounded.sub(lambda _match, name=original: name, message)
        errors.add(path, message)
        return None


def _has_unknown_name(source: str, declared: Sequence[str]) -> bool:
    try:
        return any(name not in declared for name in referenced_names(source))
    except BoolExpError:
        return False


def _substitute_invalid_names(
    source: str, invalid: Sequence[str], declared: Sequence[str]
) -> tuple[str, dict[str, str]]:
    placeholders: dict[str, str] = {}
    taken = set(declared)
    for name in dict.fromkeys(invalid):
        if not name.strip() or any(char in name for char in "&|!()"):
            continue
        pattern = re.compile(rf"(?<![{_NAME_CHARS}]){re.escape(name)}(?![{_NAME_CHARS}])")
        if not pattern.search(source):
            continue
        placeholder = next(
            (
                candidate
                for candidate in map("".join, itertools.product("QZXJqzxj", repeat=len(name)))
                if candidate not in taken and candidate not in source
            ),
            None,
        )
        if placeholder is None:
            continue
        taken.add(placeholder)
        source = pattern.sub(placeholder, source)
        placeholders[placeholder] = name
    return source, placeholders


# --------------------------------------------------------------------------- zone


def _zone(errors: _Errors, value: object, path: str) -> dict[str, Any]:
    obj = _object(errors, value, path, ("transition", "place", "polygon"), aliases={"circle": "place"})
    if obj is None:
        return {}
    zone = {"transition": _field(errors, obj, "transition", lambda v, p: _enum(errors, v, p, TRANSITIONS))}
    circle = obj.path_of("place").rsplit(".", 1)[-1]  # 'place' or its alias, as written
    if obj.has("place") and obj.has("polygon"):
        errors.add(path, f"both '{circle}' and 'polygon' are given; a zone is either a circle or a polygon")
    if obj.has("polygon"):
        zone["polygon"] = _polygon(errors, obj.get("polygon"), obj.path_of("polygon"))
    if obj.has("place") or not obj.has("polygon"):
        zone["place"] = (
            _place(errors, obj.get("place"), obj.path_of("place"))
            if _required(errors, obj, "place", "is required: a circle as 'place' (or 'circle'), or a 'polygon'")
            else None
        )
    return zone


def _place(errors: _Errors, value: object, path: str) -> dict[str, Any]:
    obj = _object(errors, value, path, ("radius", "center"))
    if obj is None:
        return {}
    radius = None
    if _required(errors, obj, "radius"):
        radius = _number(errors, obj.get("radius"), obj.path_of("radius"))
        if radius is not None and radius <= 0:
            errors.add(obj.path_of("radius"), f"must be greater than 0 km (got {_shown(radius)})")
        elif radius is not None and radius > MAX_RADIUS_KM:
            errors.add(
                obj.path_of("radius"),
                f"must be at most {MAX_RADIUS_KM} km, half the Earth's circumference: "
                f"a larger circle covers the whole planet (got {_shown(radius)})",
            )
    center: dict[str, Any] = {}
    if _required(errors, obj, "center"):
        center_obj = _object(errors, obj.get("center"), obj.path_of("center"), ("latitude", "longitude"))
        if center_obj is not None:
            for name, limit in (("latitude", 90), ("longitude", 180)):
                if not _required(errors, center_obj, name):
                    continue
                number = _number(errors, center_obj.get(name), center_obj.path_of(name))
                if number is not None and not -limit <= number <= limit:
                    errors.add(
                        center_obj.path_of(name), f"must be between -{limit} and {limit} (got {_shown(number)})"
                    )
                center[name] = number
    return {"radius": radius, "center": center}


def _polygon(errors: _Errors, value: object, path: str) -> dict[str, Any]:
    """A GeoJSON Polygon or MultiPolygon (RFC 7946), kept as written (altitudes included)."""
    obj = _object(errors, value, path, ("type", "coordinates"))
    if obj is None:
        return {}
    kind = _field(errors, obj, "type", lambda v, p: _enum(errors, v, p, POLYGON_TYPES))
    if not _required(errors, obj, "coordinates") or kind is None:
        return {"type": kind}  # without the type, the nesting of the coordinates is unknown
    path = obj.path_of("coordinates")
    raw = obj.get("coordinates")
    nesting = _nesting(raw)
    if nesting is not None and nesting != _NESTING[kind]:
        other = next((other for other, expected in _NESTING.items() if expected == nesting), None)
        hint = f"; or is its type '{other}'?" if other else ""
        errors.add(
            path,
            f"nests its numbers {nesting} arrays deep where a {kind} nests them {_NESTING[kind]} deep: "
            f"its coordinates are {_COORDINATES_SHAPE[kind]}{hint}",
        )
        return {"type": kind}
    count = _position_count(raw, _NESTING[kind] - 1)
    if count > MAX_POLYGON_VERTICES:
        errors.add(
            path,
            f"has {count:,} positions; a zone has at most {MAX_POLYGON_VERTICES:,} positions "
            "in all its rings and parts together",
        )
        return {"type": kind}
    found = _Errors()
    if kind == "MultiPolygon":
        parts = _array(found, raw, path)
        if parts is not None and not parts:
            found.add(path, "must contain at least one polygon")
        coordinates = [_rings(found, part, _index_path(path, index)) for index, part in enumerate(parts or [])]
    else:
        coordinates = _rings(found, raw, path)
    # A polygon as long as the limit, every position wrong, would list ten thousand errors.
    errors.items += found.items[:MAX_POLYGON_ERRORS]
    if found.count() > MAX_POLYGON_ERRORS:
        errors.add(path, f"{found.count() - MAX_POLYGON_ERRORS:,} more errors in these coordinates are not listed")
    polygon = {"type": kind, "coordinates": coordinates}
    if not found.items:
        for where, message in polygon_problems(geojson_polygons(polygon)):
            # A Polygon is the one part of its problems' (part, ring) locations.
            steps = where[1:] if kind == "Polygon" else where
            errors.add(path + "".join(f"[{step}]" for step in steps), message)
    return polygon


def _nesting(value: object) -> int | None:
    """How deep the first number lies in nested arrays; None when there is none to find."""
    depth = 0
    while isinstance(value, list) and value:
        value, depth = value[0], depth + 1
    return depth if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _position_count(value: object, depth: int) -> int:
    """How many items arrays nested `depth` deep hold: positions, at the depth of rings."""
    if not isinstance(value, list):
        return 0
    return len(value) if depth == 1 else sum(_position_count(item, depth - 1) for item in value)


def _rings(errors: _Errors, value: object, path: str) -> list[list[list[int | float]]]:
    """A polygon's rings: the outer one, then its holes."""
    rings = _array(errors, value, path)
    if rings is not None and not rings:
        errors.add(path, "must contain at least one ring, the outer one (holes follow it)")
    return [_ring(errors, ring, _index_path(path, index)) for index, ring in enumerate(rings or [])]


def _ring(errors: _Errors, value: object, path: str) -> list[list[int | float]]:
    positions = _array(errors, value, path)
    if positions is None:
        return []
    if len(positions) < MIN_RING_POSITIONS:
        errors.add(
            path,
            f"a ring needs at least {MIN_RING_POSITIONS} positions, the last one repeating the first "
            f"(got {len(positions)})",
        )
    ring = [_position(errors, position, _index_path(path, index)) for index, position in enumerate(positions)]
    first, last = ring[0] if ring else None, ring[-1] if ring else None
    if len(ring) >= MIN_RING_POSITIONS and first and last and first[:2] != last[:2]:
        errors.add(
            _index_path(path, len(ring) - 1),
            f"must repeat the first position {_shown_position(first)} to close the ring "
            f"(got {_shown_position(last)})",
        )
    return ring


def _position(errors: _Errors, value: object, path: str) -> list[int | float]:
    """[longitude, latitude] or [longitude, latitude, altitude]; [] when invalid."""
    if not isinstance(value, list) or not 2 <= len(value) <= 3:
        got = f" (got {len(value)} items)" if isinstance(value, list) else ""
        errors.add(path, f"must be a position [longitude, latitude] or [longitude, latitude, altitude]{got}")
        return []
    before = errors.count()
    numbers = [_number(errors, item, _index_path(path, index)) for index, item in enumerate(value)]
    for index, (name, limit) in enumerate((("longitude", 180), ("latitude", 90))):
        number = numbers[index]
        if number is not None and not -limit <= number <= limit:
            swapped = index == 1 and numbers[0] is not None and -90 <= numbers[0] <= 90
            hint = "; GeoJSON positions are [longitude, latitude], longitude first" if swapped else ""
            errors.add(
                _index_path(path, index),
                f"a {name} must be between -{limit} and {limit} (got {_shown(number)}){hint}",
            )
    return list(value) if errors.count() == before else []


def _shown_position(position: Sequence[int | float]) -> str:
    return "[" + ", ".join(_shown(number) for number in position) + "]"


# --------------------------------------------------------------------------- time


def _time(errors: _Errors, value: object, path: str) -> dict[str, Any]:
    obj = _object(errors, value, path, ("times", "timeZone"))
    if obj is None:
        return {}
    times: list[dict[str, Any]] = []
    if _required(errors, obj, "times"):
        items = _array(errors, obj.get("times"), obj.path_of("times"))
        if items is not None and not items:
            errors.add(obj.path_of("times"), "must contain at least one entry")
        for index, item in enumerate(items or []):
            times.append(_time_entry(errors, item, _index_path(obj.path_of("times"), index)))
    time_zone = (
        _time_zone(errors, obj.get("timeZone"), obj.path_of("timeZone"))
        if obj.has("timeZone")
        else DEFAULT_TIME_ZONE
    )
    return {"times": times, "timeZone": time_zone}


def _time_entry(errors: _Errors, value: object, path: str) -> dict[str, Any]:
    known = ("recurrence", "start", "duration", "occurence")
    obj = _object(errors, value, path, known, aliases={"occurrence": "occurence"})
    if obj is None:
        return {}
    recurrence = (
        _enum(errors, obj.get("recurrence"), obj.path_of("recurrence"), RECURRENCES)
        if obj.has("recurrence")
        else DEFAULT_RECURRENCE
    )
    start = _field(errors, obj, "start", lambda v, p: _string(errors, v, p))
    entry: dict[str, Any] = {"recurrence": recurrence, "start": start}
    duration = _MISSING
    length: timedelta | None = None
    if obj.has("duration"):
        duration = _string(errors, obj.get("duration"), obj.path_of("duration"))
        if duration is not None:
            length = _positive_duration(errors, duration, obj.path_of("duration"))
        entry["duration"] = duration

    if recurrence == "Daily":
        if length is not None and length > MAX_DAILY_DURATION:
            errors.add(
                obj.path_of("duration"),
                f"a Daily window lasts at most 7 days ('P7D'), got '{duration}'; "
                "for a longer stretch, repeat it over a range of weeks such as 'w10-w12'",
            )
        if start is not None:
            try:
                offset = parse_iso_duration(start)
            except ValueError as exc:
                errors.add(obj.path_of("start"), str(exc))
            else:
                if offset.total_seconds() >= 24 * 3600:
                    errors.add(
                        obj.path_of("start"),
                        f"'{start}' is not a time of day: a Daily start must be below 24 hours, "
                        "such as 'PT14H30M'",
                    )
        if duration is _MISSING:
            errors.add(obj.path_of("duration"), "is required with recurrence Daily")
        if obj.has("occurence"):
            entry["occurence"] = _occurence(errors, obj.get("occurence"), obj.path_of("occurence"))
    elif recurrence == "None":
        if start is not None:
            _absolute_window(errors, obj, start, length)
        if obj.has("occurence"):
            errors.add(obj.path_of("occurence"), "occurence is only allowed with recurrence Daily")
    return entry


def _positive_duration(errors: _Errors, text: str, path: str) -> timedelta | None:
    try:
        duration = parse_iso_duration(text)
    except ValueError as exc:
        errors.add(path, str(exc))
        return None
    if duration.total_seconds() <= 0:
        errors.add(path, f"must be longer than zero (got '{text}')")
        return None
    return duration


def _absolute_window(errors: _Errors, obj: _Object, start: str, length: timedelta | None) -> None:
    """[start, start + length) must lie within [EARLIEST_INSTANT, LATEST_INSTANT]."""
    try:
        opens = parse_rfc3339(start)
    except ValueError as exc:
        errors.add(obj.path_of("start"), str(exc))
        return
    earliest, latest = format_rfc3339(EARLIEST_INSTANT), format_rfc3339(LATEST_INSTANT)
    if not EARLIEST_INSTANT <= opens <= LATEST_INSTANT:
        errors.add(obj.path_of("start"), f"must be between {earliest} and {latest} (got '{start}')")
    # Compared rather than added: start + duration may lie beyond datetime's year 9999.
    elif length is not None and length > LATEST_INSTANT - opens:
        errors.add(
            obj.path_of("duration"),
            f"an absolute window must end by {latest}; '{start}' + '{obj.get('duration')}' ends later",
        )


def _occurence(errors: _Errors, value: object, path: str) -> dict[str, Any]:
    obj = _object(errors, value, path, ("day", "week"))
    if obj is None:
        return {}
    result: dict[str, Any] = {}
    if obj.has("day"):
        result["day"] = _days(errors, obj.get("day"), obj.path_of("day"))
    if obj.has("week"):
        result["week"] = _weeks(errors, obj.get("week"), obj.path_of("week"))
    return result


def _days(errors: _Errors, value: object, path: str) -> list[str]:
    items = _array(errors, value, path)
    if items is None:
        return []
    if not items:
        errors.add(path, "must contain at least one day")
    days: list[str] = []
    for index, item in enumerate(items):
        item_path = _index_path(path, index)
        if not isinstance(item, str):
            errors.add(item_path, "must be a string")
        elif item not in DAYS:
            errors.add(item_path, f"'{item}' is not a day; use one of {', '.join(DAYS)}")
        elif item in days:
            errors.add(item_path, f"duplicate day '{item}'")
        else:
            days.append(item)
    return days


def _weeks(errors: _Errors, value: object, path: str) -> list[str]:
    """Week-of-year items `wN` or `wA-wB` (1..53, A <= B), stored as lower-case `w5`, `w1-w25`."""
    items = _array(errors, value, path)
    if items is None:
        return []
    if not items:
        errors.add(path, "must contain at least one week")
    weeks: list[str] = []
    for index, item in enumerate(items):
        item_path = _index_path(path, index)
        if not isinstance(item, str):
            errors.add(item_path, "must be a string")
            continue
        match = _WEEK.fullmatch(item)
        if not match:
            errors.add(
                item_path, f"'{item}' is not a week; use 'wN' or a range 'wA-wB', such as 'w1' or 'w10-w20'"
            )
            continue
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if not (MIN_WEEK <= first <= MAX_WEEK and MIN_WEEK <= last <= MAX_WEEK):
            errors.add(item_path, f"'{item}': weeks go from w{MIN_WEEK} to w{MAX_WEEK}")
            continue
        if last < first:
            errors.add(item_path, f"'{item}': a week range must be ascending (w{last}-w{first}?)")
            continue
        weeks.append(f"w{first}" if match.group(2) is None else f"w{first}-w{last}")
    return weeks


@functools.lru_cache(maxsize=1)
def _available_time_zones() -> frozenset[str]:
    # The list is read from the host's zoneinfo directory too, which also holds files that
    # are no IANA zone: 'localtime' is whatever the host is set to, 'posixrules' a template
    # for POSIX TZ strings, 'Factory' a placeholder whose abbreviation is "-00".
    return frozenset(zoneinfo.available_timezones()) - _HOST_ZONE_FILES


def _time_zone(errors: _Errors, value: object, path: str) -> str | None:
    name = _string(errors, value, path, non_empty=True)
    if name is None:
        return None
    # Membership only: a name the user wrote never reaches the file system.
    if name not in _available_time_zones():
        errors.add(
            path,
            f"unknown time zone '{name}'" + _suggestion(name, _available_time_zones())
            + "; use an IANA time zone name such as 'Europe/Paris'",
        )
        return None
    return name


# --------------------------------------------------------------------------- data


def _data(errors: _Errors, value: object, path: str) -> dict[str, Any]:
    obj = _object(errors, value, path, ("data", "op", "value"))
    if obj is None:
        return {}
    key = None
    if _required(errors, obj, "data"):
        key = _string(errors, obj.get("data"), obj.path_of("data"))
        if key is not None and key not in DATA_KEYS:
            errors.add(obj.path_of("data"), f"unknown data key '{key}'" + _suggestion(key, DATA_KEYS))
            key = None
    op = _field(errors, obj, "op", lambda v, p: _enum(errors, v, p, OPS))
    if key is not None and op is not None and op not in DATA_KEY_OPS[key]:
        errors.add(obj.path_of("op"), f"'{key}' only supports op {_either(DATA_KEY_OPS[key])} (got '{op}')")
        op = None  # the value's arity and type would only follow from the wrong op

    value_path = obj.path_of("value")
    values: list[str | None] = []
    if obj.has("value"):
        items = _array(errors, obj.get("value"), value_path)
        values = [
            _value_item(errors, item, _index_path(value_path, index))
            for index, item in enumerate(items or [])
        ]
        if items is None:
            op = None  # arity would only repeat the type error
    if op == "onChange":
        if values:
            errors.add(value_path, f"must be empty or absent with op 'onChange' (got {len(values)} items)")
    elif op == "includedIn":
        if not obj.has("value"):
            errors.add(value_path, "is required with op 'includedIn'")
        elif not values:
            errors.add(value_path, "must contain at least one item with op 'includedIn'")
    elif op is not None:
        if not obj.has("value"):
            errors.add(value_path, f"is required with op '{op}'")
        elif len(values) != 1:
            errors.add(value_path, f"must contain exactly one item with op '{op}' (got {len(values)})")

    if key is not None and op is not None:
        kind = DATA_KEYS[key]
        enum = DATA_KEY_ENUMS.get(key)
        if op != "onChange" and kind is ValueKind.NUMBER:
            for index, item in enumerate(values):
                if item is not None and not _is_number(item):
                    errors.add(_index_path(value_path, index), f"'{item}' is not a number")
        elif op != "onChange" and kind is ValueKind.BOOLEAN:
            for index, item in enumerate(values):
                if item is None:
                    continue
                if item.lower() not in ("true", "false"):
                    errors.add(
                        _index_path(value_path, index), f"'{item}' is not a boolean; use 'true' or 'false'"
                    )
                else:
                    values[index] = item.lower()
        elif enum is not None:
            for index, item in enumerate(values):
                if item is not None and item not in enum:
                    errors.add(_index_path(value_path, index), _not_in_enum(key, item, enum))
    return {"data": key, "op": op, "value": values}


def _either(choices: Sequence[str]) -> str:
    """The choices quoted: "'a'", "'a' or 'b'", "'a', 'b' or 'c'"."""
    quoted = [f"'{choice}'" for choice in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _not_in_enum(key: str, item: str, enum: Sequence[str]) -> str:
    """A short enum is listed in full; a long one (the 104 alerts) would bury the message, so
    only its closest values are shown. Matching is exact: a value differing only in case is
    suggested first."""
    short = len(enum) <= ENUM_LISTED_IN_FULL
    listed = _quoted_list(enum) if short else f"the {len(enum)} values the reference lists for '{key}'"
    close = [value for value in enum if value.casefold() == item.casefold()]
    close = close or difflib.get_close_matches(item, enum, n=1 if short else 3)
    hint = f"; did you mean {_either(close)}?" if close else ""
    return f"must be one of {listed} (got '{item}')" + hint


def _value_item(errors: _Errors, item: object, path: str) -> str | None:
    """A data-trigger value as a string: JSON numbers and booleans are accepted too."""
    if isinstance(item, str):
        return item
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (int, float)):
        if finite_float(item) is None:
            errors.add(path, "must be a finite number")
            return None
        return str(item) if isinstance(item, int) else repr(item)
    errors.add(path, "must be a string")
    return None


def _is_number(text: str) -> bool:
    return bool(_NUMBER.fullmatch(text)) and math.isfinite(float(text))


_TRIGGER_PARSERS = {"zone": _zone, "time": _time, "data": _data}

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
from typing import Any
from urllib.parse import urlsplit

from fleetmon_project.isodates import format_rfc3339, parse_iso_duration, parse_rfc3339
from fleetmon_project.jsonvalues import finite_float, unstorable_text
from monitors.boolexp import BoolExpError, CompiledExpression, compile_expression, referenced_names
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
    if not isinstance(raw, dict):
        raise DefinitionError([FieldError("", "must be an object")])
    # Alone and first: other messages quote the user's text, and a message quoting a lone
    # surrogate cannot be sent. The API checks this already; the admin form does not.
    unstorable = unstorable_text(raw)
    if unstorable:
        raise DefinitionError(FieldError(path, message) for path, message in unstorable)
    errors: list[FieldError] = []
    root = _Object(_Node(raw, "", errors), ("label", "subscribeParam", "extendedEventParam", "triggerParam"))

    label = _label(root.required("label"))
    subscribe = _subscribe_param(root.required("subscribeParam"), require_https)
    extended = _extended_event_param(root.field("extendedEventParam"))
    trigger_param, expression = _trigger_param(root.required("triggerParam"))

    if errors or expression is None:
        raise DefinitionError(errors or [FieldError("triggerParam.boolExp", "is invalid")])
    canonical = {
        "label": label,
        "subscribeParam": subscribe,
        "extendedEventParam": extended,
        "triggerParam": trigger_param,
    }
    return MonitorDefinition(canonical=canonical, expression=expression)


# --------------------------------------------------------------------------- the validator


class _Node:
    """A value of the document being validated, at its JSON path; problems found are added,
    with their path, to the error list the whole document shares.

    A field left out is a node too, `present` false: its checks return None (or the given
    default) without reporting anything, since whether it may be left out is its object's
    call (`_Object.required`).
    """

    __slots__ = ("value", "path", "errors")

    def __init__(self, value: object, path: str, errors: list[FieldError]) -> None:
        self.value = value
        self.path = path
        self.errors = errors

    @property
    def present(self) -> bool:
        return self.value is not _MISSING

    def error(self, message: str) -> None:
        self.errors.append(FieldError(self.path, message))

    def key(self, key: str, value: object = _MISSING) -> _Node:
        return _Node(value, f"{self.path}.{key}" if self.path else key, self.errors)

    def index(self, index: int, value: object = _MISSING) -> _Node:
        return _Node(value, f"{self.path}[{index}]", self.errors)

    def object(
        self, known: Sequence[str], aliases: Mapping[str, str] | None = None, also_suggest: Sequence[str] = ()
    ) -> _Object | None:
        if not self.present:
            return None
        if not isinstance(self.value, dict):
            self.error("must be an object")
            return None
        return _Object(self, known, aliases, also_suggest)

    def items(self) -> list[_Node] | None:
        """An array's items, each a node."""
        if not self.present:
            return None
        if not isinstance(self.value, list):
            self.error("must be an array")
            return None
        return [self.index(index, item) for index, item in enumerate(self.value)]

    def string(self, *, non_empty: bool = False) -> str | None:
        if not self.present:
            return None
        if not isinstance(self.value, str):
            self.error("must be a string")
            return None
        if non_empty and not self.value.strip():
            self.error("must not be empty")
            return None
        return self.value

    def enum(self, choices: Sequence[str]) -> str | None:
        value = self.string()
        if value is not None and value not in choices:
            self.error(f"must be one of {_quoted_list(choices)} (got '{value}')")
            return None
        return value

    def integer(self, minimum: int, maximum: int, unit: str = "", *, default: int | None = None) -> int | None:
        """An integer in [minimum, maximum] (an integral float such as 60.0 is stored as 60);
        `unit` follows the maximum in the message, `default` stands for a value left out."""
        if not self.present:
            return default
        value = self.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error("must be an integer")
            return None
        if isinstance(value, float):
            if not value.is_integer():
                self.error("must be an integer")
                return None
            value = int(value)
        if value < minimum:
            self.error(f"must be at least {minimum} (got {_shown(value)})")
            return None
        if value > maximum:
            self.error(f"must be at most {maximum}{unit} (got {_shown(value)})")
            return None
        return value

    def number(self) -> int | float | None:
        """A JSON number that a float holds exactly enough to compute with: the engine computes
        distances in floats, and `1` followed by 400 zeros has no float value at all."""
        if not self.present:
            return None
        value = self.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error("must be a number")
            return None
        if finite_float(value) is None:
            self.error("must be a finite number" if isinstance(value, float) else "is too large for a number")
            return None
        return value


class _Object:
    """A JSON object being read: unknown fields are reported (with a suggestion) and
    aliases resolved to their canonical name; paths keep the key the user wrote."""

    def __init__(
        self,
        node: _Node,
        known: Sequence[str],
        aliases: Mapping[str, str] | None = None,
        also_suggest: Sequence[str] = (),
    ) -> None:
        aliases = aliases or {}
        self.node = node
        self._written: dict[str, Any] = {}  # canonical name -> key as written
        candidates = [*known, *aliases, *also_suggest]
        for key in node.value:  # type: ignore[attr-defined]
            canonical = key if key in known else aliases.get(key) if isinstance(key, str) else None
            if canonical is None:
                node.key(str(key)).error(f"unknown field '{key}'" + _suggestion(str(key), candidates))
                continue
            if canonical in self._written:
                alias = key if key != canonical else self._written[canonical]
                node.key(alias).error(f"both '{canonical}' and its alias '{alias}' are given; give only '{canonical}'")
                self._written[canonical] = canonical
                continue
            self._written[canonical] = key

    def has(self, name: str) -> bool:
        return name in self._written

    def field(self, name: str) -> _Node:
        """The field's node, at the key as written; left out (not `present`) when absent."""
        if name not in self._written:
            return self.node.key(name)
        written = self._written[name]
        return self.node.key(written, self.node.value[written])  # type: ignore[index]

    def required(self, name: str, message: str = "is required") -> _Node:
        """The field's node; `message` is reported when it is left out."""
        field = self.field(name)
        if not field.present:
            field.error(message)
        return field


def _suggestion(word: str, candidates: Iterable[str]) -> str:
    matches = difflib.get_close_matches(word, list(candidates), n=1)
    return f"; did you mean '{matches[0]}'?" if matches else ""


def _quoted_list(choices: Sequence[str]) -> str:
    return ", ".join(f"'{choice}'" for choice in choices)


def _shown(number: int | float) -> str:
    # A 400-digit integer echoed back digit by digit helps nobody.
    digits = len(str(abs(number))) if isinstance(number, int) else 0
    return f"a {digits}-digit number" if digits > 21 else str(number)


# --------------------------------------------------------------------------- root fields


def _label(node: _Node) -> str | None:
    label = node.string(non_empty=True)
    if label is not None and len(label) > LABEL_MAX_LENGTH:
        node.error(f"must be at most {LABEL_MAX_LENGTH} characters (got {len(label)})")
    return label


def _extension_candidates() -> list[str]:
    return [*EXTENSION_TYPES, *(TELEMETRY_PREFIX + kind for kind in TELEMETRY_TYPES), *DATA_KEYS]


def _is_extension(item: str) -> bool:
    if item in EXTENSION_TYPES or item in DATA_KEYS:
        return True
    return item.startswith(TELEMETRY_PREFIX) and item[len(TELEMETRY_PREFIX) :] in TELEMETRY_TYPES


def _extended_event_param(node: _Node) -> list[str]:
    result: list[str] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(node.items() or []):
        value = item.value
        if not isinstance(value, str):
            item.error("must be a string")
            continue
        if not _is_extension(value):
            hint = _suggestion(value, _extension_candidates()) or (
                f"; use one of {', '.join(EXTENSION_TYPES)}, {TELEMETRY_PREFIX}<type> or a data key"
            )
            item.error(f"unknown extension '{value}'{hint}")
            continue
        if value in seen:
            item.error(f"duplicate item '{value}' (already at index {seen[value]})")
            continue
        seen[value] = index
        result.append(value)
    return result


# --------------------------------------------------------------------------- subscribeParam


def _subscribe_param(node: _Node, require_https: bool) -> dict[str, Any]:
    obj = node.object(("refreshEvent", "retryPolicy", "batchNotify", "callback"))
    if obj is None:
        return {}
    result: dict[str, Any] = {}
    if obj.has("refreshEvent"):
        result["refreshEvent"] = obj.field("refreshEvent").integer(MIN_REFRESH_EVENT, MAX_INTERVAL, MAX_INTERVAL_UNIT)
    if obj.has("retryPolicy"):
        result["retryPolicy"] = _retry_policy(obj.field("retryPolicy"))
    else:
        result["retryPolicy"] = dict(DEFAULT_RETRY_POLICY)
    if obj.has("batchNotify"):
        result["batchNotify"] = _batch_notify(obj.field("batchNotify"))
    callback = obj.required("callback")
    if callback.present:
        result["callback"] = _callback(callback, require_https)
    return result


def _retry_policy(node: _Node) -> dict[str, Any]:
    obj = node.object(("policy", "retryNumber", "retryDelay"), aliases={"maxRetryNumber": "retryNumber"})
    if obj is None:
        return {}
    return {
        "policy": obj.required("policy").enum(RETRY_POLICIES),
        "retryNumber": obj.field("retryNumber").integer(1, MAX_RETRY_NUMBER, default=DEFAULT_RETRY_NUMBER),
        "retryDelay": obj.field("retryDelay").integer(
            1, MAX_INTERVAL, MAX_INTERVAL_UNIT, default=DEFAULT_RETRY_DELAY
        ),
    }


def _batch_notify(node: _Node) -> dict[str, Any]:
    obj = node.object(("size", "timeWindow"))
    if obj is None:
        return {}
    return {
        "size": obj.required("size").integer(1, MAX_BATCH_SIZE),
        "timeWindow": obj.field("timeWindow").integer(
            MIN_BATCH_TIME_WINDOW, MAX_INTERVAL, MAX_INTERVAL_UNIT, default=DEFAULT_BATCH_TIME_WINDOW
        ),
    }


def _callback(node: _Node, require_https: bool) -> dict[str, Any]:
    value = node.value
    if not isinstance(value, dict):
        node.error("must be an object")
        return {}
    flat = [key for key in FLAT_WEBHOOK_FIELDS if key in value]
    if "webhook" in value:
        if flat:
            node.error(
                f"both 'webhook' and flat webhook fields ({_quoted_list(flat)}) are given; "
                "nest target, name and attributes under 'webhook' or give them flat, not both"
            )
        rest = {key: item for key, item in value.items() if key not in FLAT_WEBHOOK_FIELDS}
        obj = _Object(_Node(rest, node.path, node.errors), ("webhook",))
        return {"webhook": _webhook(obj.field("webhook"), require_https)}
    if not flat:
        # Neither form: report stray fields against both forms, then the missing webhook.
        _Object(node, ("webhook",), also_suggest=FLAT_WEBHOOK_FIELDS)
        node.key("webhook").error("is required")
        return {}
    # The user's documentation writes the webhook fields directly under `callback`.
    return {"webhook": _webhook(node, require_https, also_suggest=("webhook",))}


def _webhook(node: _Node, require_https: bool, also_suggest: Sequence[str] = ()) -> dict[str, Any]:
    obj = node.object(FLAT_WEBHOOK_FIELDS, also_suggest=also_suggest)
    if obj is None:
        return {}
    target = _url(obj.required("target"), require_https)
    name = obj.required("name").string(non_empty=True)
    attributes: list[dict[str, str]] = []
    for item in obj.field("attributes").items() or []:
        attribute = _attribute(item)
        if attribute is not None:
            attributes.append(attribute)
    return {"target": target, "name": name, "attributes": attributes}


def _url(node: _Node, require_https: bool) -> str | None:
    url = node.string(non_empty=True)
    if url is None:
        return None
    if len(url) > MAX_URL_LENGTH:
        node.error(f"must be at most {MAX_URL_LENGTH} characters (got {len(url)})")
        return None
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        node.error("must not contain spaces or control characters")
        return None
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        node.error(f"'{url}' is not a valid URL")
        return None
    if scheme not in ("http", "https"):
        node.error("must be an absolute http(s) URL such as 'https://example.com/events'")
        return None
    if not host:
        node.error("must have a host, as in 'https://example.com/events'")
        return None
    if require_https and scheme != "https":
        node.error("must use https (FLEETMON_REQUIRE_HTTPS_WEBHOOKS is on)")
        return None
    return url


def _attribute(node: _Node) -> dict[str, str] | None:
    obj = node.object(("type", "key", "value"))
    if obj is None:
        return None
    kind = obj.required("type").enum(ATTRIBUTE_TYPES)
    key_node = obj.required("key")
    key = key_node.string(non_empty=True)
    if key is not None and kind == "Header":
        _header_name(key_node, key)
    value_node = obj.required("value")
    text = value_node.string()
    if text is not None:
        forbidden = _HEADER_VALUE_FORBIDDEN.search(text) if kind == "Header" else None
        if forbidden is not None:
            char = forbidden.group()
            shown = f"'{char}' (U+{ord(char):04X})" if char.isprintable() else f"U+{ord(char):04X}"
            value_node.error(
                "a header value may only contain printable ASCII characters, spaces and tabs "
                f"(RFC 9110): {shown} at position {forbidden.start()} is not one"
            )
        reported: set[str] = set()
        for match in _VARIABLE.finditer(text):
            variable = match.group(1)
            if variable.lower() not in _KNOWN_VARIABLES and variable not in reported:
                reported.add(variable)
                value_node.error(f"unknown variable '${variable}'; use {_VARIABLES_LISTED}")
    return {"type": kind, "key": key, "value": text}  # type: ignore[dict-item]


def _header_name(node: _Node, key: str) -> None:
    name = key.lower()
    if not _HEADER_NAME.fullmatch(key):
        node.error(f"'{key}' is not a valid header name: use letters, digits and !#$%&'*+-.^_`|~ only")
    elif name in _FRAMING_HEADERS or name.startswith("proxy-"):
        node.error(
            f"'{key}' cannot be set by an attribute: it frames or routes the request, "
            "which FleetMon's HTTP client does"
        )
    elif name in _SIGNING_HEADERS:
        node.error(f"'{key}' cannot be set by an attribute: FleetMon signs every request with it")


# --------------------------------------------------------------------------- triggerParam


def _trigger_param(node: _Node) -> tuple[dict[str, Any], CompiledExpression | None]:
    obj = node.object(("triggers", "boolExp"))
    if obj is None:
        return {}, None
    triggers, names = _triggers(obj.required("triggers"))
    bool_exp = obj.required("boolExp")
    source = bool_exp.string()
    expression = _compile(bool_exp, source, names) if source is not None else None
    return {"triggers": triggers, "boolExp": source}, expression


@dataclass
class _TriggerNames:
    """What the triggers say about the names the boolExp may use."""

    valid: list[str] | None = None  # unique valid names; None: the triggers array is unusable
    invalid: list[str] | None = None  # names given but malformed
    # Some trigger has no usable name (missing, not a string, or a duplicate): a name
    # the boolExp uses but no trigger declares may be that trigger's intended name.
    uncertain: bool = False


def _triggers(node: _Node) -> tuple[list[dict[str, Any]], _TriggerNames]:
    names = _TriggerNames()
    items = node.items()
    if items is None:
        return [], names
    if len(items) < MIN_TRIGGERS:
        node.error(f"must contain at least {MIN_TRIGGERS} trigger")
        return [], names
    too_many = len(items) > MAX_TRIGGERS
    if too_many:
        node.error(f"must contain at most {MAX_TRIGGERS} triggers (got {len(items)})")
    valid: dict[str, int] = {}
    invalid: list[str] = []
    triggers: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        obj = item.object(("name", *TRIGGER_KINDS, "minDuration"))
        if obj is None:
            names.uncertain = True
            continue
        name = None
        name_node = obj.field("name")
        if not name_node.present:
            name_node.error("is required")
            names.uncertain = True
        elif not isinstance(name_node.value, str):
            name_node.error("must be a string")
            names.uncertain = True
        else:
            name = name_node.value
            if not TRIGGER_NAME.fullmatch(name):
                name_node.error(f"invalid trigger name '{name}': a name is {TRIGGER_NAME_RULE}")
                invalid.append(name)
            elif name in valid:
                name_node.error(f"duplicate trigger name '{name}' (already used by triggers[{valid[name]}])")
                names.uncertain = True
            else:
                valid[name] = index
        described = f"trigger '{name}'" if name else "this trigger"
        kinds = [kind for kind in TRIGGER_KINDS if obj.has(kind)]
        if not kinds:
            item.error(f"{described} defines neither zone, time nor data")
        elif len(kinds) > 1:
            given = " and ".join(kinds) if len(kinds) == 2 else "zone, time and data"
            both = "both " if len(kinds) == 2 else ""
            item.error(f"{described} defines {both}{given}; a trigger defines exactly one of zone, time or data")
        trigger: dict[str, Any] = {"name": name}
        for kind in kinds:
            trigger[kind] = _TRIGGER_PARSERS[kind](obj.field(kind))
        if obj.has("minDuration"):
            trigger["minDuration"] = _min_duration(obj.field("minDuration"), trigger)
        triggers.append(trigger)
    # More than MAX_TRIGGERS names cannot be compiled: only the syntax is checked then.
    names.valid = None if too_many else list(valid)
    names.invalid = invalid
    return triggers, names


def _min_duration(node: _Node, trigger: Mapping[str, Any]) -> str | None:
    """A FleetMon extension: the trigger is satisfied once its condition has held this long
    (ISO 8601, PT1S to P1D), kept as written. An onChange is an instant, not a condition that
    holds: it has no duration."""
    text = node.string()
    if text is None:
        return None
    try:
        duration = parse_iso_duration(text)
    except ValueError as exc:
        node.error(str(exc))
        return None
    if not MIN_DWELL <= duration <= MAX_DWELL:
        node.error(f"must be between 'PT1S' and 'P1D' (got '{text}')")
        return None
    if (trigger.get("data") or {}).get("op") == "onChange":
        node.error(
            "an onChange trigger fires at the instant a value changes and holds for no duration; "
            "use equalsTo or includedIn on the new value to require it for a while"
        )
        return None
    return text


def _literally(text: str) -> Callable[[re.Match[str]], str]:
    """A re.sub replacement inserting `text` as is (a replacement string would expand escapes)."""
    return lambda _match: text


def _compile(node: _Node, source: str, names: _TriggerNames) -> CompiledExpression | None:
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
            message = bounded.sub(_literally(original), message)
        node.error(message)
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


def _zone(node: _Node) -> dict[str, Any]:
    obj = node.object(("transition", "place", "polygon"), aliases={"circle": "place"})
    if obj is None:
        return {}
    zone: dict[str, Any] = {"transition": obj.required("transition").enum(TRANSITIONS)}
    circle = obj.field("place").path.rsplit(".", 1)[-1]  # 'place' or its alias, as written
    if obj.has("place") and obj.has("polygon"):
        node.error(f"both '{circle}' and 'polygon' are given; a zone is either a circle or a polygon")
    if obj.has("polygon"):
        zone["polygon"] = _polygon(obj.field("polygon"))
    if obj.has("place") or not obj.has("polygon"):
        zone["place"] = _place(
            obj.required("place", "is required: a circle as 'place' (or 'circle'), or a 'polygon'")
        )
    return zone


def _place(node: _Node) -> dict[str, Any]:
    obj = node.object(("radius", "center"))
    if obj is None:
        return {}
    radius_node = obj.required("radius")
    radius = radius_node.number()
    if radius is not None and radius <= 0:
        radius_node.error(f"must be greater than 0 km (got {_shown(radius)})")
    elif radius is not None and radius > MAX_RADIUS_KM:
        radius_node.error(
            f"must be at most {MAX_RADIUS_KM} km, half the Earth's circumference: "
            f"a larger circle covers the whole planet (got {_shown(radius)})"
        )
    center: dict[str, Any] = {}
    center_obj = obj.required("center").object(("latitude", "longitude"))
    if center_obj is not None:
        for name, limit in (("latitude", 90), ("longitude", 180)):
            coordinate = center_obj.required(name)
            if not coordinate.present:
                continue
            number = coordinate.number()
            if number is not None and not -limit <= number <= limit:
                coordinate.error(f"must be between -{limit} and {limit} (got {_shown(number)})")
            center[name] = number
    return {"radius": radius, "center": center}


def _polygon(node: _Node) -> dict[str, Any]:
    """A GeoJSON Polygon or MultiPolygon (RFC 7946), kept as written (altitudes included)."""
    obj = node.object(("type", "coordinates"))
    if obj is None:
        return {}
    kind = obj.required("type").enum(POLYGON_TYPES)
    coordinates = obj.required("coordinates")
    if not coordinates.present or kind is None:
        return {"type": kind}  # without the type, the nesting of the coordinates is unknown
    nesting = _nesting(coordinates.value)
    if nesting is not None and nesting != _NESTING[kind]:
        other = next((other for other, expected in _NESTING.items() if expected == nesting), None)
        hint = f"; or is its type '{other}'?" if other else ""
        coordinates.error(
            f"nests its numbers {nesting} arrays deep where a {kind} nests them {_NESTING[kind]} deep: "
            f"its coordinates are {_COORDINATES_SHAPE[kind]}{hint}"
        )
        return {"type": kind}
    count = _position_count(coordinates.value, _NESTING[kind] - 1)
    if count > MAX_POLYGON_VERTICES:
        coordinates.error(
            f"has {count:,} positions; a zone has at most {MAX_POLYGON_VERTICES:,} positions "
            "in all its rings and parts together"
        )
        return {"type": kind}
    # Read against an error list of their own: a polygon as long as the limit, every
    # position wrong, would list ten thousand errors.
    found: list[FieldError] = []
    positions = _Node(coordinates.value, coordinates.path, found)
    if kind == "MultiPolygon":
        parts = positions.items()
        if parts is not None and not parts:
            positions.error("must contain at least one polygon")
        rings: list[Any] = [_rings(part) for part in parts or []]
    else:
        rings = _rings(positions)
    coordinates.errors.extend(found[:MAX_POLYGON_ERRORS])
    if len(found) > MAX_POLYGON_ERRORS:
        coordinates.error(f"{len(found) - MAX_POLYGON_ERRORS:,} more errors in these coordinates are not listed")
    polygon = {"type": kind, "coordinates": rings}
    if not found:
        for where, message in polygon_problems(geojson_polygons(polygon)):
            # A Polygon is the one part of its problems' (part, ring) locations.
            located = coordinates
            for step in where[1:] if kind == "Polygon" else where:
                located = located.index(step)
            located.error(message)
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


def _rings(node: _Node) -> list[list[list[int | float]]]:
    """A polygon's rings: the outer one, then its holes."""
    rings = node.items()
    if rings is not None and not rings:
        node.error("must contain at least one ring, the outer one (holes follow it)")
    return [_ring(ring) for ring in rings or []]


def _ring(node: _Node) -> list[list[int | float]]:
    positions = node.items()
    if positions is None:
        return []
    if len(positions) < MIN_RING_POSITIONS:
        node.error(
            f"a ring needs at least {MIN_RING_POSITIONS} positions, the last one repeating the first "
            f"(got {len(positions)})"
        )
    ring = [_position(position) for position in positions]
    first, last = ring[0] if ring else None, ring[-1] if ring else None
    if len(ring) >= MIN_RING_POSITIONS and first and last and first[:2] != last[:2]:
        positions[-1].error(
            f"must repeat the first position {_shown_position(first)} to close the ring "
            f"(got {_shown_position(last)})"
        )
    return ring


def _position(node: _Node) -> list[int | float]:
    """[longitude, latitude] or [longitude, latitude, altitude]; [] when invalid."""
    value = node.value
    if not isinstance(value, list) or not 2 <= len(value) <= 3:
        got = f" (got {len(value)} items)" if isinstance(value, list) else ""
        node.error(f"must be a position [longitude, latitude] or [longitude, latitude, altitude]{got}")
        return []
    before = len(node.errors)
    items = node.items() or []
    numbers = [item.number() for item in items]
    for index, (name, limit) in enumerate((("longitude", 180), ("latitude", 90))):
        number = numbers[index]
        if number is not None and not -limit <= number <= limit:
            swapped = index == 1 and numbers[0] is not None and -90 <= numbers[0] <= 90
            hint = "; GeoJSON positions are [longitude, latitude], longitude first" if swapped else ""
            items[index].error(f"a {name} must be between -{limit} and {limit} (got {_shown(number)}){hint}")
    return list(value) if len(node.errors) == before else []


def _shown_position(position: Sequence[int | float]) -> str:
    return "[" + ", ".join(_shown(number) for number in position) + "]"


# --------------------------------------------------------------------------- time


def _time(node: _Node) -> dict[str, Any]:
    obj = node.object(("times", "timeZone"))
    if obj is None:
        return {}
    entries = obj.required("times")
    items = entries.items()
    if items is not None and not items:
        entries.error("must contain at least one entry")
    times = [_time_entry(item) for item in items or []]
    time_zone = _time_zone(obj.field("timeZone")) if obj.has("timeZone") else DEFAULT_TIME_ZONE
    return {"times": times, "timeZone": time_zone}


def _time_entry(node: _Node) -> dict[str, Any]:
    known = ("recurrence", "start", "duration", "occurence")
    obj = node.object(known, aliases={"occurrence": "occurence"})
    if obj is None:
        return {}
    recurrence = obj.field("recurrence").enum(RECURRENCES) if obj.has("recurrence") else DEFAULT_RECURRENCE
    start_node = obj.required("start")
    start = start_node.string()
    entry: dict[str, Any] = {"recurrence": recurrence, "start": start}
    duration_node = obj.field("duration")
    duration = duration_node.string()
    length = _positive_duration(duration_node, duration) if duration is not None else None
    if duration_node.present:
        entry["duration"] = duration

    if recurrence == "Daily":
        if length is not None and length > MAX_DAILY_DURATION:
            duration_node.error(
                f"a Daily window lasts at most 7 days ('P7D'), got '{duration}'; "
                "for a longer stretch, repeat it over a range of weeks such as 'w10-w12'"
            )
        if start is not None:
            try:
                offset = parse_iso_duration(start)
            except ValueError as exc:
                start_node.error(str(exc))
            else:
                if offset.total_seconds() >= 24 * 3600:
                    start_node.error(
                        f"'{start}' is not a time of day: a Daily start must be below 24 hours, "
                        "such as 'PT14H30M'"
                    )
        if not duration_node.present:
            duration_node.error("is required with recurrence Daily")
        if obj.has("occurence"):
            entry["occurence"] = _occurence(obj.field("occurence"))
    elif recurrence == "None":
        if start is not None:
            _absolute_window(start_node, duration_node, start, length)
        if obj.has("occurence"):
            obj.field("occurence").error("occurence is only allowed with recurrence Daily")
    return entry


def _positive_duration(node: _Node, text: str) -> timedelta | None:
    try:
        duration = parse_iso_duration(text)
    except ValueError as exc:
        node.error(str(exc))
        return None
    if duration.total_seconds() <= 0:
        node.error(f"must be longer than zero (got '{text}')")
        return None
    return duration


def _absolute_window(start_node: _Node, duration_node: _Node, start: str, length: timedelta | None) -> None:
    """[start, start + length) must lie within [EARLIEST_INSTANT, LATEST_INSTANT]."""
    try:
        opens = parse_rfc3339(start)
    except ValueError as exc:
        start_node.error(str(exc))
        return
    earliest, latest = format_rfc3339(EARLIEST_INSTANT), format_rfc3339(LATEST_INSTANT)
    if not EARLIEST_INSTANT <= opens <= LATEST_INSTANT:
        start_node.error(f"must be between {earliest} and {latest} (got '{start}')")
    # Compared rather than added: start + duration may lie beyond datetime's year 9999.
    elif length is not None and length > LATEST_INSTANT - opens:
        duration_node.error(
            f"an absolute window must end by {latest}; '{start}' + '{duration_node.value}' ends later"
        )


def _occurence(node: _Node) -> dict[str, Any]:
    obj = node.object(("day", "week"))
    if obj is None:
        return {}
    result: dict[str, Any] = {}
    if obj.has("day"):
        result["day"] = _days(obj.field("day"))
    if obj.has("week"):
        result["week"] = _weeks(obj.field("week"))
    return result


def _days(node: _Node) -> list[str]:
    items = node.items()
    if items is None:
        return []
    if not items:
        node.error("must contain at least one day")
    days: list[str] = []
    for item in items:
        day = item.value
        if not isinstance(day, str):
            item.error("must be a string")
        elif day not in DAYS:
            item.error(f"'{day}' is not a day; use one of {', '.join(DAYS)}")
        elif day in days:
            item.error(f"duplicate day '{day}'")
        else:
            days.append(day)
    return days


def _weeks(node: _Node) -> list[str]:
    """Week-of-year items `wN` or `wA-wB` (1..53, A <= B), stored as lower-case `w5`, `w1-w25`."""
    items = node.items()
    if items is None:
        return []
    if not items:
        node.error("must contain at least one week")
    weeks: list[str] = []
    for item in items:
        text = item.value
        if not isinstance(text, str):
            item.error("must be a string")
            continue
        match = _WEEK.fullmatch(text)
        if not match:
            item.error(f"'{text}' is not a week; use 'wN' or a range 'wA-wB', such as 'w1' or 'w10-w20'")
            continue
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if not (MIN_WEEK <= first <= MAX_WEEK and MIN_WEEK <= last <= MAX_WEEK):
            item.error(f"'{text}': weeks go from w{MIN_WEEK} to w{MAX_WEEK}")
            continue
        if last < first:
            item.error(f"'{text}': a week range must be ascending (w{last}-w{first}?)")
            continue
        weeks.append(f"w{first}" if match.group(2) is None else f"w{first}-w{last}")
    return weeks


@functools.lru_cache(maxsize=1)
def _available_time_zones() -> frozenset[str]:
    # The list is read from the host's zoneinfo directory too, which also holds files that
    # are no IANA zone: 'localtime' is whatever the host is set to, 'posixrules' a template
    # for POSIX TZ strings, 'Factory' a placeholder whose abbreviation is "-00".
    return frozenset(zoneinfo.available_timezones()) - _HOST_ZONE_FILES


def _time_zone(node: _Node) -> str | None:
    name = node.string(non_empty=True)
    if name is None:
        return None
    # Membership only: a name the user wrote never reaches the file system.
    if name not in _available_time_zones():
        node.error(
            f"unknown time zone '{name}'" + _suggestion(name, _available_time_zones())
            + "; use an IANA time zone name such as 'Europe/Paris'"
        )
        return None
    return name


# --------------------------------------------------------------------------- data


def _data(node: _Node) -> dict[str, Any]:
    obj = node.object(("data", "op", "value"))
    if obj is None:
        return {}
    key_node = obj.required("data")
    key = key_node.string()
    if key is not None and key not in DATA_KEYS:
        key_node.error(f"unknown data key '{key}'" + _suggestion(key, DATA_KEYS))
        key = None
    op_node = obj.required("op")
    op = op_node.enum(OPS)
    if key is not None and op is not None and op not in DATA_KEY_OPS[key]:
        op_node.error(f"'{key}' only supports op {_either(DATA_KEY_OPS[key])} (got '{op}')")
        op = None  # the value's arity and type would only follow from the wrong op

    value_node = obj.field("value")
    items = value_node.items()
    values = [_value_item(item) for item in items or []]
    if value_node.present and items is None:
        op = None  # arity would only repeat the type error
    if op == "onChange":
        if values:
            value_node.error(f"must be empty or absent with op 'onChange' (got {len(values)} items)")
    elif op == "includedIn":
        if not value_node.present:
            value_node.error("is required with op 'includedIn'")
        elif not values:
            value_node.error("must contain at least one item with op 'includedIn'")
    elif op is not None:
        if not value_node.present:
            value_node.error(f"is required with op '{op}'")
        elif len(values) != 1:
            value_node.error(f"must contain exactly one item with op '{op}' (got {len(values)})")

    if key is not None and op is not None:
        kind = DATA_KEYS[key]
        enum = DATA_KEY_ENUMS.get(key)
        if op != "onChange" and kind is ValueKind.NUMBER:
            for index, item in enumerate(values):
                if item is not None and not _is_number(item):
                    value_node.index(index).error(f"'{item}' is not a number")
        elif op != "onChange" and kind is ValueKind.BOOLEAN:
            for index, item in enumerate(values):
                if item is None:
                    continue
                if item.lower() not in ("true", "false"):
                    value_node.index(index).error(f"'{item}' is not a boolean; use 'true' or 'false'")
                else:
                    values[index] = item.lower()
        elif enum is not None:
            for index, item in enumerate(values):
                if item is not None and item not in enum:
                    value_node.index(index).error(_not_in_enum(key, item, enum))
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


def _value_item(node: _Node) -> str | None:
    """A data-trigger value as a string: JSON numbers and booleans are accepted too."""
    item = node.value
    if isinstance(item, str):
        return item
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (int, float)):
        if finite_float(item) is None:
            node.error("must be a finite number")
            return None
        return str(item) if isinstance(item, int) else repr(item)
    node.error("must be a string")
    return None


def _is_number(text: str) -> bool:
    return bool(_NUMBER.fullmatch(text)) and math.isfinite(float(text))


_TRIGGER_PARSERS = {"zone": _zone, "time": _time, "data": _data}

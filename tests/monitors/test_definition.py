"""Tests of monitors.definition: validation and canonicalisation of a monitor definition.

Pure tests (no database). Most are table-driven: a valid base definition is mutated at a
JSON path and the result must be accepted (with a given canonical value) or rejected with
exactly the expected error path and a message fragment.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitors.definition import (
    DefinitionError,
    FieldError,
    MonitorDefinition,
    parse_monitor_definition,
)
from monitors.spec import RetryPolicy
from telemetry.datakeys import DATA_KEY_ENUMS, DATA_KEY_OPS, DATA_KEYS, ValueKind
from tests.monitors.factories import FULL_DEFINITION, load_seed

DELETE: Any = object()  # mutation value: remove the key / item



Z = "triggerParam.triggers[0]"
T = "triggerParam.triggers[1]"
D = "triggerParam.triggers[2]"
CHARGING = "vehicle.energy.charging.status"
SUB = "subscribeParam"
WH = "subscribeParam.callback.webhook"
ENTRY = f"{T}.time.times[0]"
ABS = f"{T}.time.times[1]"
POLY = f"{Z}.zone.polygon"
# [longitude, latitude]: a 0.2° square around central Paris and a hole in it.
SQUARE = [[2.25, 48.78], [2.45, 48.78], [2.45, 48.98], [2.25, 48.98], [2.25, 48.78]]
HOLE = [[2.33, 48.86], [2.37, 48.86], [2.37, 48.90], [2.33, 48.90], [2.33, 48.86]]
POLYGON = {"type": "Polygon", "coordinates": [SQUARE, HOLE]}
AS_POLYGON = {f"{Z}.zone.place": DELETE, POLY: POLYGON}  # the base's zone as a polygon
BOWTIE = [[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]
# 9,999 vertices on a circle of 1° around [0, 0], closed: 10,000 positions.
ROUND_10_000 = [[math.cos(2 * math.pi * i / 9999), math.sin(2 * math.pi * i / 9999)] for i in range(9999)]
ROUND_10_000.append(ROUND_10_000[0])


# --------------------------------------------------------------------------- helpers

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _steps(path: str) -> list[str | int]:
    return [key if key else int(index) for key, index in _TOKEN.findall(path)]


def get_path(document: Any, path: str) -> Any:
    for step in _steps(path):
        document = document[step]
    return document


def mutate(base: dict[str, Any], mutations: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(base)
    for path, value in mutations.items():
        *parents, last = _steps(path)
        target = document
        for step in parents:
            target = target[step]
        if value is DELETE:
            del target[last]
        elif isinstance(target, list) and last == len(target):
            target.append(copy.deepcopy(value))
        else:
            target[last] = copy.deepcopy(value)
    return document


def errors_of(raw: Any, **kwargs: Any) -> list[FieldError]:
    with pytest.raises(DefinitionError) as info:
        parse_monitor_definition(raw, **kwargs)
    assert info.value.errors, "DefinitionError without errors"
    return info.value.errors


def fields_of(raw: Any, **kwargs: Any) -> list[str]:
    return [error.field for error in errors_of(raw, **kwargs)]


def canonical_of(raw: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return parse_monitor_definition(raw, **kwargs).canonical
    except DefinitionError as exc:  # pragma: no cover - makes failures readable
        pytest.fail(f"unexpected errors: {exc.errors}")


# --------------------------------------------------------------------------- the base


def test_base_definition_is_valid_and_canonical() -> None:
    definition = parse_monitor_definition(copy.deepcopy(FULL_DEFINITION))
    assert isinstance(definition, MonitorDefinition)
    assert definition.canonical == FULL_DEFINITION  # the base is already in canonical form
    assert definition.expression.names == ("z", "t", "d")
    assert definition.expression.source == "z & (t | d)"
    assert json.loads(json.dumps(definition.canonical)) == definition.canonical


def test_input_is_not_mutated_and_canonical_is_a_copy() -> None:
    raw = copy.deepcopy(FULL_DEFINITION)
    definition = parse_monitor_definition(raw)
    assert raw == FULL_DEFINITION
    definition.canonical["triggerParam"]["triggers"][0]["zone"]["place"]["radius"] = 99
    assert raw["triggerParam"]["triggers"][0]["zone"]["place"]["radius"] == 20


def test_definition_error_api() -> None:
    with pytest.raises(ValueError) as info:
        parse_monitor_definition(mutate(FULL_DEFINITION, {"label": DELETE, f"{Z}.zone.transition": "in"}))
    error = info.value
    assert isinstance(error, DefinitionError)
    assert error.errors == [
        FieldError("label", "is required"),
        FieldError(f"{Z}.zone.transition", "must be one of 'In', 'Out' (got 'in')"),
    ]
    assert "label: is required" in str(error)
    assert str(FieldError("", "must be an object")) == "must be an object"


# --------------------------------------------------------------------------- invalid cases


@dataclass(frozen=True)
class Bad:
    id: str
    mutations: dict[str, Any]
    field: str
    fragment: str
    kwargs: dict[str, Any] = field(default_factory=dict)


BAD: list[Bad] = [
    # ---- root and label
    Bad("label missing", {"label": DELETE}, "label", "is required"),
    Bad("label not a string", {"label": 5}, "label", "must be a string"),
    Bad("label empty", {"label": ""}, "label", "must not be empty"),
    Bad("label blank", {"label": "   "}, "label", "must not be empty"),
    Bad("label too long", {"label": "x" * 256}, "label", "must be at most 255 characters (got 256)"),
    # ---- text PostgreSQL cannot store, anywhere, reported alone (other messages quote it)
    Bad("label with a lone surrogate", {"label": "ba\ud800se"}, "label", "must not contain surrogate characters (U+D800 to U+DFFF)"),
    Bad("label with NUL", {"label": "ba\x00se"}, "label", "must not contain NUL characters"),
    Bad("attribute value lone low surrogate", {f"{WH}.attributes[2].value": "\udfff"}, f"{WH}.attributes[2].value", "must not contain surrogate characters"),
    Bad(
        "surrogate hides every other error",
        {f"{WH}.attributes[0].value": "\ud800 $nope", f"{SUB}.refreshEvent": 1},
        f"{WH}.attributes[0].value",
        "must not contain surrogate characters",
    ),
    Bad("unknown key of a lone surrogate", {"\ud800": 1}, "\\ud800", "field name must not contain surrogate characters"),
    Bad("nested key with a surrogate", {f"{Z}.zone.place.r\udc00": 1}, f"{Z}.zone.place.r\\udc00", "field name must not contain surrogate"),
    Bad("key with NUL", {f"{SUB}.a\x00": 1}, f"{SUB}.a\x00", "field name must not contain NUL characters"),
    Bad("data value with a surrogate", {f"{D}.data.value": ["\ud83d"]}, f"{D}.data.value[0]", "must not contain surrogate characters"),
    Bad("subscribeParam missing", {"subscribeParam": DELETE}, "subscribeParam", "is required"),
    Bad("subscribeParam not an object", {"subscribeParam": []}, "subscribeParam", "must be an object"),
    Bad("triggerParam missing", {"triggerParam": DELETE}, "triggerParam", "is required"),
    Bad("triggerParam not an object", {"triggerParam": "x"}, "triggerParam", "must be an object"),
    # ---- extendedEventParam
    Bad("extended not an array", {"extendedEventParam": "vehicle.status"}, "extendedEventParam", "must be an array"),
    Bad("extended item not a string", {"extendedEventParam": [5]}, "extendedEventParam[0]", "must be a string"),
    Bad(
        "extended unknown with suggestion",
        {"extendedEventParam": ["vehicle.statu"]},
        "extendedEventParam[0]",
        "unknown extension 'vehicle.statu'; did you mean 'vehicle.status'?",
    ),
    Bad(
        "extended unknown telemetry type",
        {"extendedEventParam": ["vehicle.telemetry.nope"]},
        "extendedEventParam[0]",
        "unknown extension 'vehicle.telemetry.nope'",
    ),
    Bad(
        "extended unknown without suggestion",
        {"extendedEventParam": ["foo"]},
        "extendedEventParam[0]",
        "unknown extension 'foo'; use one of vehicle.doorsState",
    ),
    Bad(
        "extended duplicate",
        {"extendedEventParam": ["vehicle.status", "vehicle.alerts", "vehicle.status"]},
        "extendedEventParam[2]",
        "duplicate item 'vehicle.status' (already at index 0)",
    ),
    # ---- subscribeParam.refreshEvent
    Bad("refreshEvent too small", {f"{SUB}.refreshEvent": 59}, f"{SUB}.refreshEvent", "must be at least 60 (got 59)"),
    Bad("refreshEvent string", {f"{SUB}.refreshEvent": "600"}, f"{SUB}.refreshEvent", "must be an integer"),
    Bad("refreshEvent fractional", {f"{SUB}.refreshEvent": 600.5}, f"{SUB}.refreshEvent", "must be an integer"),
    Bad("refreshEvent bool", {f"{SUB}.refreshEvent": True}, f"{SUB}.refreshEvent", "must be an integer"),
    Bad("refreshEvent null", {f"{SUB}.refreshEvent": None}, f"{SUB}.refreshEvent", "must be an integer"),
    Bad(
        "refreshEvent above 30 days",
        {f"{SUB}.refreshEvent": 2592001},
        f"{SUB}.refreshEvent",
        "must be at most 2592000 s, i.e. 30 days (got 2592001)",
    ),
    Bad("refreshEvent 10**14", {f"{SUB}.refreshEvent": 10**14}, f"{SUB}.refreshEvent", "at most 2592000 s, i.e. 30 days (got 100000000000000)"),
    Bad("refreshEvent 1e20", {f"{SUB}.refreshEvent": 1e20}, f"{SUB}.refreshEvent", "(got 100000000000000000000)"),
    Bad("refreshEvent 10**30 abbreviated", {f"{SUB}.refreshEvent": 10**30}, f"{SUB}.refreshEvent", "at most 2592000 s, i.e. 30 days (got a 31-digit number)"),
    Bad("refreshEvent 10**400", {f"{SUB}.refreshEvent": 10**400}, f"{SUB}.refreshEvent", "(got a 401-digit number)"),
    Bad("refreshEvent infinite", {f"{SUB}.refreshEvent": float("inf")}, f"{SUB}.refreshEvent", "must be an integer"),
    Bad("refreshEvent nan", {f"{SUB}.refreshEvent": float("nan")}, f"{SUB}.refreshEvent", "must be an integer"),
    # ---- retryPolicy
    Bad("retryPolicy not an object", {f"{SUB}.retryPolicy": "Always"}, f"{SUB}.retryPolicy", "must be an object"),
    Bad("policy missing", {f"{SUB}.retryPolicy.policy": DELETE}, f"{SUB}.retryPolicy.policy", "is required"),
    Bad(
        "policy unknown",
        {f"{SUB}.retryPolicy.policy": "Never"},
        f"{SUB}.retryPolicy.policy",
        "must be one of 'None', 'Bounded', 'Always' (got 'Never')",
    ),
    Bad("policy not a string", {f"{SUB}.retryPolicy.policy": None}, f"{SUB}.retryPolicy.policy", "must be a string"),
    Bad("retryNumber zero", {f"{SUB}.retryPolicy.retryNumber": 0}, f"{SUB}.retryPolicy.retryNumber", "must be at least 1"),
    Bad("retryNumber float", {f"{SUB}.retryPolicy.retryNumber": 2.5}, f"{SUB}.retryPolicy.retryNumber", "must be an integer"),
    Bad("retryDelay zero", {f"{SUB}.retryPolicy.retryDelay": 0}, f"{SUB}.retryPolicy.retryDelay", "must be at least 1"),
    Bad("retryDelay bool", {f"{SUB}.retryPolicy.retryDelay": False}, f"{SUB}.retryPolicy.retryDelay", "must be an integer"),
    Bad("retryNumber above 1000", {f"{SUB}.retryPolicy.retryNumber": 1001}, f"{SUB}.retryPolicy.retryNumber", "must be at most 1000 (got 1001)"),
    Bad("retryNumber 10**30", {f"{SUB}.retryPolicy.retryNumber": 10**30}, f"{SUB}.retryPolicy.retryNumber", "must be at most 1000 (got a 31-digit number)"),
    Bad(
        "retryDelay above 30 days",
        {f"{SUB}.retryPolicy.retryDelay": 2592001},
        f"{SUB}.retryPolicy.retryDelay",
        "must be at most 2592000 s, i.e. 30 days (got 2592001)",
    ),
    Bad("retryDelay 10**14", {f"{SUB}.retryPolicy.retryDelay": 10**14}, f"{SUB}.retryPolicy.retryDelay", "must be at most 2592000"),
    Bad("retryDelay 1e20", {f"{SUB}.retryPolicy.retryDelay": 1e20}, f"{SUB}.retryPolicy.retryDelay", "must be at most 2592000"),
    Bad(
        "maxRetryNumber alias checked too",
        {f"{SUB}.retryPolicy.retryNumber": DELETE, f"{SUB}.retryPolicy.maxRetryNumber": 0},
        f"{SUB}.retryPolicy.maxRetryNumber",
        "must be at least 1",
    ),
    Bad(
        "maxRetryNumber alias bounded too",
        {f"{SUB}.retryPolicy.retryNumber": DELETE, f"{SUB}.retryPolicy.maxRetryNumber": 5000},
        f"{SUB}.retryPolicy.maxRetryNumber",
        "must be at most 1000 (got 5000)",
    ),
    # ---- batchNotify
    Bad("batchNotify not an object", {f"{SUB}.batchNotify": 10}, f"{SUB}.batchNotify", "must be an object"),
    Bad("batch size missing", {f"{SUB}.batchNotify.size": DELETE}, f"{SUB}.batchNotify.size", "is required"),
    Bad("batch size zero", {f"{SUB}.batchNotify.size": 0}, f"{SUB}.batchNotify.size", "must be at least 1 (got 0)"),
    Bad("batch size string", {f"{SUB}.batchNotify.size": "10"}, f"{SUB}.batchNotify.size", "must be an integer"),
    Bad("timeWindow too small", {f"{SUB}.batchNotify.timeWindow": 4}, f"{SUB}.batchNotify.timeWindow", "must be at least 5"),
    Bad("batch size above 1000", {f"{SUB}.batchNotify.size": 1001}, f"{SUB}.batchNotify.size", "must be at most 1000 (got 1001)"),
    Bad("batch size 10**14", {f"{SUB}.batchNotify.size": 10**14}, f"{SUB}.batchNotify.size", "must be at most 1000"),
    Bad(
        "timeWindow above 30 days",
        {f"{SUB}.batchNotify.timeWindow": 2592001},
        f"{SUB}.batchNotify.timeWindow",
        "must be at most 2592000 s, i.e. 30 days (got 2592001)",
    ),
    Bad("timeWindow 1e20", {f"{SUB}.batchNotify.timeWindow": 1e20}, f"{SUB}.batchNotify.timeWindow", "must be at most 2592000"),
    Bad("timeWindow 10**30", {f"{SUB}.batchNotify.timeWindow": 10**30}, f"{SUB}.batchNotify.timeWindow", "must be at most 2592000"),
    # ---- callback / webhook
    Bad("callback missing", {f"{SUB}.callback": DELETE}, f"{SUB}.callback", "is required"),
    Bad("callback not an object", {f"{SUB}.callback": "https://x"}, f"{SUB}.callback", "must be an object"),
    Bad("callback empty", {f"{SUB}.callback": {}}, f"{SUB}.callback.webhook", "is required"),
    Bad("webhook not an object", {f"{SUB}.callback.webhook": []}, WH, "must be an object"),
    Bad(
        "flat and nested callback",
        {f"{SUB}.callback.target": "https://other"},
        f"{SUB}.callback",
        "both 'webhook' and flat webhook fields ('target')",
    ),
    Bad("target missing", {f"{WH}.target": DELETE}, f"{WH}.target", "is required"),
    Bad("target not a string", {f"{WH}.target": 5}, f"{WH}.target", "must be a string"),
    Bad("target empty", {f"{WH}.target": ""}, f"{WH}.target", "must not be empty"),
    Bad("target relative", {f"{WH}.target": "my.dn/monitors/cb1"}, f"{WH}.target", "must be an absolute http(s) URL"),
    Bad("target ftp", {f"{WH}.target": "ftp://my.dn/cb"}, f"{WH}.target", "must be an absolute http(s) URL"),
    Bad("target without host", {f"{WH}.target": "https:///cb"}, f"{WH}.target", "must have a host"),
    Bad("target scheme only", {f"{WH}.target": "http://"}, f"{WH}.target", "must have a host"),
    Bad("target bad port", {f"{WH}.target": "https://h:99999/cb"}, f"{WH}.target", "is not a valid URL"),
    Bad("target with space", {f"{WH}.target": "https://h/a b"}, f"{WH}.target", "must not contain spaces or control"),
    Bad("target with newline", {f"{WH}.target": "https://h/a\nb"}, f"{WH}.target", "must not contain spaces or control"),
    Bad(
        "target too long",
        {f"{WH}.target": "https://h/" + "a" * 1991},
        f"{WH}.target",
        "must be at most 2000 characters (got 2001)",
    ),
    Bad(
        "http refused when https required",
        {f"{WH}.target": "http://my.dn/cb"},
        f"{WH}.target",
        "must use https (FLEETMON_REQUIRE_HTTPS_WEBHOOKS is on)",
        {"require_https": True},
    ),
    Bad("webhook name missing", {f"{WH}.name": DELETE}, f"{WH}.name", "is required"),
    Bad("webhook name empty", {f"{WH}.name": ""}, f"{WH}.name", "must not be empty"),
    Bad("webhook name not a string", {f"{WH}.name": 5}, f"{WH}.name", "must be a string"),
    # ---- attributes
    Bad("attributes not an array", {f"{WH}.attributes": {}}, f"{WH}.attributes", "must be an array"),
    Bad("attribute not an object", {f"{WH}.attributes[0]": "x"}, f"{WH}.attributes[0]", "must be an object"),
    Bad("attribute type missing", {f"{WH}.attributes[0].type": DELETE}, f"{WH}.attributes[0].type", "is required"),
    Bad(
        "attribute type unknown",
        {f"{WH}.attributes[0].type": "Cookie"},
        f"{WH}.attributes[0].type",
        "must be one of 'Header', 'Query', 'Body' (got 'Cookie')",
    ),
    Bad("attribute key missing", {f"{WH}.attributes[1].key": DELETE}, f"{WH}.attributes[1].key", "is required"),
    Bad("attribute key empty", {f"{WH}.attributes[1].key": ""}, f"{WH}.attributes[1].key", "must not be empty"),
    Bad("attribute key not a string", {f"{WH}.attributes[2].key": 1}, f"{WH}.attributes[2].key", "must be a string"),
    Bad(
        "header key with space",
        {f"{WH}.attributes[0].key": "X Vehicle"},
        f"{WH}.attributes[0].key",
        "'X Vehicle' is not a valid header name",
    ),
    Bad(
        "header key with colon",
        {f"{WH}.attributes[0].key": "X-Id:"},
        f"{WH}.attributes[0].key",
        "is not a valid header name",
    ),
    Bad("attribute value missing", {f"{WH}.attributes[0].value": DELETE}, f"{WH}.attributes[0].value", "is required"),
    Bad("attribute value not a string", {f"{WH}.attributes[0].value": 5}, f"{WH}.attributes[0].value", "must be a string"),
    Bad(
        "header value with CRLF",
        {f"{WH}.attributes[0].value": "a\r\nX-Evil: 1"},
        f"{WH}.attributes[0].value",
        "may only contain printable ASCII characters, spaces and tabs",
    ),
    Bad(
        "header value with NUL",
        {f"{WH}.attributes[0].value": "a\x00b"},
        f"{WH}.attributes[0].value",
        "must not contain NUL characters",
    ),
    Bad(
        "header value with DEL",
        {f"{WH}.attributes[0].value": "a\x7fb"},
        f"{WH}.attributes[0].value",
        "may only contain printable ASCII characters, spaces and tabs",
    ),
    Bad(
        "header value with CR names it",
        {f"{WH}.attributes[0].value": "ab\rc"},
        f"{WH}.attributes[0].value",
        "(RFC 9110): U+000D at position 2 is not one",
    ),
    Bad(
        "header value in Japanese",
        {f"{WH}.attributes[0].value": "日本"},
        f"{WH}.attributes[0].value",
        "printable ASCII characters, spaces and tabs (RFC 9110): '日' (U+65E5) at position 0 is not one",
    ),
    Bad("header value Latin-1 obs-text", {f"{WH}.attributes[0].value": "caf\u00e9"}, f"{WH}.attributes[0].value", "'é' (U+00E9) at position 3"),
    Bad("header value no-break space", {f"{WH}.attributes[0].value": "a\u00a0b"}, f"{WH}.attributes[0].value", "U+00A0 at position 1"),
    Bad("header value emoji after a variable", {f"{WH}.attributes[0].value": "$vin 🚗"}, f"{WH}.attributes[0].value", "U+1F697"),
    *(
        Bad(
            f"header key {key} frames or routes",
            {f"{WH}.attributes[0].key": key},
            f"{WH}.attributes[0].key",
            f"'{key}' cannot be set by an attribute: it frames or routes the request",
        )
        for key in (
            "Host", "host", "Content-Length", "TRANSFER-ENCODING", "Connection", "Keep-Alive", "TE", "Trailer",
            "Upgrade", "Proxy-Authorization", "proxy-connection", "Proxy-",
        )
    ),
    *(
        Bad(
            f"header key {key} signs",
            {f"{WH}.attributes[0].key": key},
            f"{WH}.attributes[0].key",
            f"'{key}' cannot be set by an attribute: FleetMon signs every request with it",
        )
        for key in ("webhook-id", "Webhook-Timestamp", "WEBHOOK-SIGNATURE")
    ),
    Bad(
        "unknown variable",
        {f"{WH}.attributes[1].value": "$foo"},
        f"{WH}.attributes[1].value",
        "unknown variable '$foo'; use $vin, $vid, $monitorID or $fleetID",
    ),
    Bad(
        "unknown variable inside text",
        {f"{WH}.attributes[2].value": "id-$vinx-end"},
        f"{WH}.attributes[2].value",
        "unknown variable '$vinx'",
    ),
    # ---- triggerParam
    Bad("triggers missing", {"triggerParam.triggers": DELETE}, "triggerParam.triggers", "is required"),
    Bad("triggers not an array", {"triggerParam.triggers": {}}, "triggerParam.triggers", "must be an array"),
    Bad("triggers empty", {"triggerParam.triggers": []}, "triggerParam.triggers", "must contain at least 1 trigger"),
    Bad(
        "six triggers",
        {
            "triggerParam.triggers[3]": {"name": "e", "data": {"data": "vehicle.kinetic.moving", "op": "onChange"}},
            "triggerParam.triggers[4]": {"name": "f", "data": {"data": "stolen.state", "op": "onChange"}},
            "triggerParam.triggers[5]": {"name": "g", "data": {"data": "privacy.state", "op": "onChange"}},
            "triggerParam.boolExp": "z & (t | d | e | f | g)",
        },
        "triggerParam.triggers",
        "must contain at most 5 triggers (got 6)",
    ),
    Bad("trigger not an object", {f"{Z}": "z"}, Z, "must be an object"),
    Bad("trigger name missing", {f"{Z}.name": DELETE}, f"{Z}.name", "is required"),
    Bad("trigger name not a string", {f"{Z}.name": 1}, f"{Z}.name", "must be a string"),
    Bad(
        "trigger name starts with digit",
        {f"{Z}.name": "1z", "triggerParam.boolExp": "1z & (t | d)"},
        f"{Z}.name",
        "invalid trigger name '1z'",
    ),
    Bad(
        "trigger name with dash",
        {f"{Z}.name": "out-of-paris", "triggerParam.boolExp": "out-of-paris & (t | d)"},
        f"{Z}.name",
        "invalid trigger name 'out-of-paris'",
    ),
    Bad(
        "trigger name with two separators",
        {f"{Z}.name": "a_b_1", "triggerParam.boolExp": "a_b_1 & (t | d)"},
        f"{Z}.name",
        "invalid trigger name 'a_b_1'",
    ),
    Bad(
        "trigger name letters after digits",
        {f"{Z}.name": "a1b", "triggerParam.boolExp": "a1b & (t | d)"},
        f"{Z}.name",
        "invalid trigger name 'a1b'",
    ),
    Bad("trigger name empty", {f"{Z}.name": "", "triggerParam.boolExp": "t | d"}, f"{Z}.name", "invalid trigger name ''"),
    Bad(
        "trigger name duplicate",
        {f"{T}.name": "z", "triggerParam.boolExp": "z & d"},
        f"{T}.name",
        "duplicate trigger name 'z' (already used by triggers[0])",
    ),
    Bad("trigger defines nothing", {f"{Z}.zone": DELETE}, Z, "trigger 'z' defines neither zone, time nor data"),
    Bad(
        "trigger defines two",
        {f"{Z}.data": {"data": "vehicle.kinetic.moving", "op": "onChange"}},
        Z,
        "trigger 'z' defines both zone and data",
    ),
    Bad(
        "trigger defines three",
        {f"{Z}.data": {"data": "vehicle.kinetic.moving", "op": "onChange"}, f"{Z}.time": {"times": [{"start": "PT1H", "duration": "PT1H"}]}},
        Z,
        "trigger 'z' defines zone, time and data",
    ),
    # ---- boolExp
    Bad("boolExp missing", {"triggerParam.boolExp": DELETE}, "triggerParam.boolExp", "is required"),
    Bad("boolExp not a string", {"triggerParam.boolExp": ["z"]}, "triggerParam.boolExp", "must be a string"),
    Bad("boolExp empty", {"triggerParam.boolExp": ""}, "triggerParam.boolExp", "empty expression"),
    Bad("boolExp unbalanced", {"triggerParam.boolExp": "(z & (t | d)"}, "triggerParam.boolExp", "unbalanced parenthesis"),
    Bad("boolExp unbalanced column", {"triggerParam.boolExp": "(z & (t | d)"}, "triggerParam.boolExp", "column 1"),
    Bad("boolExp closing too many", {"triggerParam.boolExp": "z & (t | d))"}, "triggerParam.boolExp", "column 12"),
    Bad("boolExp unknown trigger", {"triggerParam.boolExp": "z & (t | x) & d"}, "triggerParam.boolExp", "unknown trigger 'x'"),
    Bad("boolExp unused trigger", {"triggerParam.boolExp": "z & t"}, "triggerParam.boolExp", "'d' is declared but not used"),
    Bad("boolExp tautology", {"triggerParam.boolExp": "z | !z | t | d"}, "triggerParam.boolExp", "always true"),
    Bad("boolExp contradiction", {"triggerParam.boolExp": "z & !z & t & d"}, "triggerParam.boolExp", "always false"),
    Bad("boolExp missing operand", {"triggerParam.boolExp": "z & (t | ) & d"}, "triggerParam.boolExp", "no right operand"),
    Bad("boolExp stray character", {"triggerParam.boolExp": "z & (t + d)"}, "triggerParam.boolExp", "unexpected character '+'"),
    # ---- zone
    Bad("zone not an object", {f"{Z}.zone": "Paris"}, f"{Z}.zone", "must be an object"),
    Bad("transition missing", {f"{Z}.zone.transition": DELETE}, f"{Z}.zone.transition", "is required"),
    Bad("transition wrong case", {f"{Z}.zone.transition": "in"}, f"{Z}.zone.transition", "must be one of 'In', 'Out' (got 'in')"),
    Bad("transition not a string", {f"{Z}.zone.transition": 1}, f"{Z}.zone.transition", "must be a string"),
    Bad("place missing", {f"{Z}.zone.place": DELETE}, f"{Z}.zone.place", "is required"),
    Bad("place not an object", {f"{Z}.zone.place": [20]}, f"{Z}.zone.place", "must be an object"),
    Bad("radius missing", {f"{Z}.zone.place.radius": DELETE}, f"{Z}.zone.place.radius", "is required"),
    Bad("radius zero", {f"{Z}.zone.place.radius": 0}, f"{Z}.zone.place.radius", "must be greater than 0"),
    Bad("radius negative", {f"{Z}.zone.place.radius": -1.5}, f"{Z}.zone.place.radius", "must be greater than 0"),
    Bad("radius string", {f"{Z}.zone.place.radius": "20"}, f"{Z}.zone.place.radius", "must be a number"),
    Bad("radius bool", {f"{Z}.zone.place.radius": True}, f"{Z}.zone.place.radius", "must be a number"),
    Bad("radius infinite", {f"{Z}.zone.place.radius": float("inf")}, f"{Z}.zone.place.radius", "must be a finite number"),
    Bad("radius nan", {f"{Z}.zone.place.radius": float("nan")}, f"{Z}.zone.place.radius", "must be a finite number"),
    Bad(
        "radius beyond half the Earth",
        {f"{Z}.zone.place.radius": 20037.6},
        f"{Z}.zone.place.radius",
        "must be at most 20037.5 km, half the Earth's circumference",
    ),
    Bad("radius 10**14", {f"{Z}.zone.place.radius": 10**14}, f"{Z}.zone.place.radius", "must be at most 20037.5 km"),
    Bad("radius 1e300", {f"{Z}.zone.place.radius": 1e300}, f"{Z}.zone.place.radius", "(got 1e+300)"),
    Bad("radius 10**30 abbreviated", {f"{Z}.zone.place.radius": 10**30}, f"{Z}.zone.place.radius", "(got a 31-digit number)"),
    Bad("radius beyond float", {f"{Z}.zone.place.radius": 10**400}, f"{Z}.zone.place.radius", "is too large for a number"),
    Bad("center missing", {f"{Z}.zone.place.center": DELETE}, f"{Z}.zone.place.center", "is required"),
    Bad("center not an object", {f"{Z}.zone.place.center": [48.8, 2.3]}, f"{Z}.zone.place.center", "must be an object"),
    Bad("latitude missing", {f"{Z}.zone.place.center.latitude": DELETE}, f"{Z}.zone.place.center.latitude", "is required"),
    Bad("latitude too big", {f"{Z}.zone.place.center.latitude": 90.5}, f"{Z}.zone.place.center.latitude", "between -90 and 90"),
    Bad("latitude too small", {f"{Z}.zone.place.center.latitude": -91}, f"{Z}.zone.place.center.latitude", "between -90 and 90"),
    Bad("latitude string", {f"{Z}.zone.place.center.latitude": "48.8"}, f"{Z}.zone.place.center.latitude", "must be a number"),
    Bad("latitude bool", {f"{Z}.zone.place.center.latitude": False}, f"{Z}.zone.place.center.latitude", "must be a number"),
    Bad("latitude beyond float", {f"{Z}.zone.place.center.latitude": 10**400}, f"{Z}.zone.place.center.latitude", "is too large for a number"),
    Bad("latitude infinite", {f"{Z}.zone.place.center.latitude": float("-inf")}, f"{Z}.zone.place.center.latitude", "must be a finite number"),
    Bad(
        "latitude huge abbreviated",
        {f"{Z}.zone.place.center.latitude": -(10**30)},
        f"{Z}.zone.place.center.latitude",
        "between -90 and 90 (got a 31-digit number)",
    ),
    Bad("longitude missing", {f"{Z}.zone.place.center.longitude": DELETE}, f"{Z}.zone.place.center.longitude", "is required"),
    Bad("longitude too big", {f"{Z}.zone.place.center.longitude": 180.01}, f"{Z}.zone.place.center.longitude", "between -180 and 180"),
    Bad("longitude too small", {f"{Z}.zone.place.center.longitude": -181}, f"{Z}.zone.place.center.longitude", "between -180 and 180"),
    Bad("longitude null", {f"{Z}.zone.place.center.longitude": None}, f"{Z}.zone.place.center.longitude", "must be a number"),
    Bad("longitude beyond float", {f"{Z}.zone.place.center.longitude": -(10**400)}, f"{Z}.zone.place.center.longitude", "is too large for a number"),
    Bad("longitude nan", {f"{Z}.zone.place.center.longitude": float("nan")}, f"{Z}.zone.place.center.longitude", "must be a finite number"),
    Bad(
        "circle alias errors use the written name",
        {f"{Z}.zone.place": DELETE, f"{Z}.zone.circle": {"radius": -1, "center": {"latitude": 0, "longitude": 0}}},
        f"{Z}.zone.circle.radius",
        "must be greater than 0",
    ),
    # ---- zone polygon
    Bad("place and polygon both given", {POLY: POLYGON}, f"{Z}.zone", "both 'place' and 'polygon' are given; a zone is either a circle or a polygon"),
    Bad(
        "circle and polygon both given",
        {f"{Z}.zone.place": DELETE, f"{Z}.zone.circle": {"radius": 1, "center": {"latitude": 0, "longitude": 0}}, POLY: POLYGON},
        f"{Z}.zone",
        "both 'circle' and 'polygon' are given",
    ),
    Bad("neither place nor polygon", {f"{Z}.zone.place": DELETE}, f"{Z}.zone.place", "is required: a circle as 'place' (or 'circle'), or a 'polygon'"),
    Bad("polygon not an object", {**AS_POLYGON, POLY: [SQUARE]}, POLY, "must be an object"),
    Bad("polygon type missing", {**AS_POLYGON, f"{POLY}.type": DELETE}, f"{POLY}.type", "is required"),
    Bad("polygon type Point", {**AS_POLYGON, f"{POLY}.type": "Point"}, f"{POLY}.type", "must be one of 'Polygon', 'MultiPolygon' (got 'Point')"),
    Bad("polygon type wrong case", {**AS_POLYGON, f"{POLY}.type": "polygon"}, f"{POLY}.type", "must be one of 'Polygon', 'MultiPolygon'"),
    Bad("polygon bbox", {**AS_POLYGON, f"{POLY}.bbox": [2.25, 48.78, 2.45, 48.98]}, f"{POLY}.bbox", "unknown field 'bbox'"),
    Bad("polygon coordinates missing", {**AS_POLYGON, f"{POLY}.coordinates": DELETE}, f"{POLY}.coordinates", "is required"),
    Bad("polygon coordinates not an array", {**AS_POLYGON, f"{POLY}.coordinates": {}}, f"{POLY}.coordinates", "must be an array"),
    Bad("polygon without rings", {**AS_POLYGON, f"{POLY}.coordinates": []}, f"{POLY}.coordinates", "must contain at least one ring, the outer one"),
    Bad("polygon ring not an array", {**AS_POLYGON, f"{POLY}.coordinates[1]": "hole"}, f"{POLY}.coordinates[1]", "must be an array"),
    Bad(
        "polygon ring of three positions",
        {**AS_POLYGON, f"{POLY}.coordinates[0]": [[0, 0], [1, 0], [0, 0]]},
        f"{POLY}.coordinates[0]",
        "a ring needs at least 4 positions, the last one repeating the first (got 3)",
    ),
    Bad(
        "polygon ring not closed",
        {**AS_POLYGON, f"{POLY}.coordinates[0][4]": [2.25, 48.79]},
        f"{POLY}.coordinates[0][4]",
        "must repeat the first position [2.25, 48.78] to close the ring (got [2.25, 48.79])",
    ),
    Bad(
        "polygon ring open, four positions",
        {**AS_POLYGON, f"{POLY}.coordinates[0]": SQUARE[:4]},
        f"{POLY}.coordinates[0][3]",
        "must repeat the first position [2.25, 48.78] to close the ring (got [2.25, 48.98])",
    ),
    Bad("polygon position not an array", {**AS_POLYGON, f"{POLY}.coordinates[0][2]": {"lon": 2.45}}, f"{POLY}.coordinates[0][2]", "must be a position [longitude, latitude] or [longitude, latitude, altitude]"),
    Bad("polygon position of one number", {**AS_POLYGON, f"{POLY}.coordinates[0][2]": [2.45]}, f"{POLY}.coordinates[0][2]", "(got 1 items)"),
    Bad("polygon position of four numbers", {**AS_POLYGON, f"{POLY}.coordinates[0][2]": [2.45, 48.98, 0, 0]}, f"{POLY}.coordinates[0][2]", "(got 4 items)"),
    Bad("polygon longitude a string", {**AS_POLYGON, f"{POLY}.coordinates[0][2][0]": "2.45"}, f"{POLY}.coordinates[0][2][0]", "must be a number"),
    Bad("polygon latitude null", {**AS_POLYGON, f"{POLY}.coordinates[1][2][1]": None}, f"{POLY}.coordinates[1][2][1]", "must be a number"),
    Bad("polygon altitude a string", {**AS_POLYGON, f"{POLY}.coordinates[0][2]": [2.45, 48.98, "high"]}, f"{POLY}.coordinates[0][2][2]", "must be a number"),
    Bad("polygon longitude infinite", {**AS_POLYGON, f"{POLY}.coordinates[0][2][0]": float("inf")}, f"{POLY}.coordinates[0][2][0]", "must be a finite number"),
    Bad("polygon latitude beyond float", {**AS_POLYGON, f"{POLY}.coordinates[0][2][1]": 10**400}, f"{POLY}.coordinates[0][2][1]", "is too large for a number"),
    Bad("polygon longitude too big", {**AS_POLYGON, f"{POLY}.coordinates[0][2][0]": 180.5}, f"{POLY}.coordinates[0][2][0]", "a longitude must be between -180 and 180 (got 180.5)"),
    Bad("polygon latitude too small", {**AS_POLYGON, f"{POLY}.coordinates[0][2][1]": -90.5}, f"{POLY}.coordinates[0][2][1]", "a latitude must be between -90 and 90 (got -90.5)"),
    Bad(
        "polygon latitude first",
        {**AS_POLYGON, f"{POLY}.coordinates[0][2]": [48.98, 102.45]},
        f"{POLY}.coordinates[0][2][1]",
        "a latitude must be between -90 and 90 (got 102.45); GeoJSON positions are [longitude, latitude], longitude first",
    ),
    Bad("polygon crossing itself", {**AS_POLYGON, f"{POLY}.coordinates": [BOWTIE]}, f"{POLY}.coordinates[0]", "is not a valid ring: edges cross each other near [1, 1] ([longitude, latitude])"),
    Bad(
        "polygon hole outside its shell",
        {**AS_POLYGON, f"{POLY}.coordinates[1]": [[3, 3], [4, 3], [4, 4], [3, 3]]},
        f"{POLY}.coordinates[1]",
        "this hole is not inside the outer ring: a hole lies outside the outer ring near [3, 3]",
    ),
    Bad(
        "polygon spanning the long way round",
        {**AS_POLYGON, f"{POLY}.coordinates": [[[-175, 0], [175, 0], [175, 5], [-175, 5], [-175, 0]]]},
        f"{POLY}.coordinates",
        "spans 350° of longitude (-175 to 175), more than 180°",
    ),
    Bad(
        "polygon over the vertex limit",
        {**AS_POLYGON, f"{POLY}.coordinates": [SQUARE[:1] * 10_001]},
        f"{POLY}.coordinates",
        "has 10,001 positions; a zone has at most 10,000 positions in all its rings and parts together",
    ),
    Bad(
        "multipolygon over the vertex limit in all",
        {**AS_POLYGON, POLY: {"type": "MultiPolygon", "coordinates": [[SQUARE * 1000], [SQUARE * 1000, SQUARE]]}},
        f"{POLY}.coordinates",
        "has 10,005 positions",
    ),
    Bad("multipolygon without parts", {**AS_POLYGON, POLY: {"type": "MultiPolygon", "coordinates": []}}, f"{POLY}.coordinates", "must contain at least one polygon"),
    Bad(
        "multipolygon given polygon nesting",
        {**AS_POLYGON, f"{POLY}.type": "MultiPolygon"},
        f"{POLY}.coordinates",
        "nests its numbers 3 arrays deep where a MultiPolygon nests them 4 deep: its coordinates are an array of "
        "polygons, each an array of rings (the outer one, then its holes), each an array of [longitude, latitude] "
        "positions; or is its type 'Polygon'?",
    ),
    Bad(
        "polygon given a single ring",
        {**AS_POLYGON, f"{POLY}.coordinates": SQUARE},
        f"{POLY}.coordinates",
        "nests its numbers 2 arrays deep where a Polygon nests them 3 deep: its coordinates are an array of rings",
    ),
    Bad(
        "multipolygon part crossing itself",
        {**AS_POLYGON, POLY: {"type": "MultiPolygon", "coordinates": [[SQUARE], [BOWTIE]]}},
        f"{POLY}.coordinates[1][0]",
        "edges cross each other near [1, 1]",
    ),
    Bad(
        "multipolygon hole outside its shell",
        {**AS_POLYGON, POLY: {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [SQUARE, [[3, 3], [4, 3], [4, 4], [3, 3]]]]}},
        f"{POLY}.coordinates[1][1]",
        "a hole lies outside the outer ring near [3, 3]",
    ),
    Bad(
        "multipolygon parts overlapping",
        {**AS_POLYGON, POLY: {"type": "MultiPolygon", "coordinates": [[SQUARE], [[[2.3, 48.8], [2.6, 48.8], [2.6, 49.0], [2.3, 48.8]]]]}},
        f"{POLY}.coordinates",
        "the polygons must not overlap (they may touch at points): edges cross each other",
    ),
    Bad(
        "multipolygon part spanning the long way round",
        {**AS_POLYGON, POLY: {"type": "MultiPolygon", "coordinates": [[SQUARE], [[[-175, 0], [175, 0], [175, 5], [-175, 0]]]]}},
        f"{POLY}.coordinates[1]",
        "spans 350° of longitude",
    ),
    # ---- time
    Bad("time not an object", {f"{T}.time": []}, f"{T}.time", "must be an object"),
    Bad("times missing", {f"{T}.time.times": DELETE}, f"{T}.time.times", "is required"),
    Bad("times not an array", {f"{T}.time.times": {}}, f"{T}.time.times", "must be an array"),
    Bad("times empty", {f"{T}.time.times": []}, f"{T}.time.times", "must contain at least one entry"),
    Bad("time entry not an object", {ENTRY: "PT1H"}, ENTRY, "must be an object"),
    Bad("recurrence unknown", {f"{ENTRY}.recurrence": "Weekly"}, f"{ENTRY}.recurrence", "must be one of 'Daily', 'None' (got 'Weekly')"),
    Bad("recurrence null", {f"{ENTRY}.recurrence": None}, f"{ENTRY}.recurrence", "must be a string"),
    Bad("start missing", {f"{ENTRY}.start": DELETE}, f"{ENTRY}.start", "is required"),
    Bad("start not a string", {f"{ENTRY}.start": 14}, f"{ENTRY}.start", "must be a string"),
    Bad("daily start not a duration", {f"{ENTRY}.start": "14:30"}, f"{ENTRY}.start", "is not an ISO-8601 duration"),
    Bad("daily start is a date-time", {f"{ENTRY}.start": "2026-01-03T12:00:00+01:00"}, f"{ENTRY}.start", "is not an ISO-8601 duration"),
    Bad("daily start 24h", {f"{ENTRY}.start": "PT24H"}, f"{ENTRY}.start", "must be below 24 hours"),
    Bad("daily start one day", {f"{ENTRY}.start": "P1D"}, f"{ENTRY}.start", "must be below 24 hours"),
    Bad("daily start months", {f"{ENTRY}.start": "P1M"}, f"{ENTRY}.start", "years and months are not supported"),
    Bad("daily duration missing", {f"{ENTRY}.duration": DELETE}, f"{ENTRY}.duration", "is required with recurrence Daily"),
    Bad(
        "default recurrence is Daily: duration required",
        {f"{ENTRY}.recurrence": DELETE, f"{ENTRY}.duration": DELETE},
        f"{ENTRY}.duration",
        "is required with recurrence Daily",
    ),
    Bad("daily duration zero", {f"{ENTRY}.duration": "PT0S"}, f"{ENTRY}.duration", "must be longer than zero"),
    Bad("daily duration invalid", {f"{ENTRY}.duration": "4h30"}, f"{ENTRY}.duration", "is not an ISO-8601 duration"),
    Bad("daily duration not a string", {f"{ENTRY}.duration": 3600}, f"{ENTRY}.duration", "must be a string"),
    Bad("daily duration above a week", {f"{ENTRY}.duration": "P7DT1S"}, f"{ENTRY}.duration", "a Daily window lasts at most 7 days ('P7D'), got 'P7DT1S'"),
    Bad("daily duration in weeks", {f"{ENTRY}.duration": "P2W"}, f"{ENTRY}.duration", "lasts at most 7 days"),
    Bad("daily duration P2000000D", {f"{ENTRY}.duration": "P2000000D"}, f"{ENTRY}.duration", "lasts at most 7 days"),
    Bad("daily duration P999999999D", {f"{ENTRY}.duration": "P999999999D"}, f"{ENTRY}.duration", "lasts at most 7 days"),
    Bad("daily duration P9999999999D", {f"{ENTRY}.duration": "P9999999999D"}, f"{ENTRY}.duration", "'P9999999999D' is too long a duration"),
    Bad(
        "daily duration 10**20 seconds",
        {f"{ENTRY}.duration": "PT99999999999999999999S"},
        f"{ENTRY}.duration",
        "'PT99999999999999999999S' is too long a duration",
    ),
    Bad("daily start beyond timedelta", {f"{ENTRY}.start": "P9999999999D"}, f"{ENTRY}.start", "is too long a duration"),
    Bad("occurence not an object", {f"{ENTRY}.occurence": ["Mon"]}, f"{ENTRY}.occurence", "must be an object"),
    Bad("day not an array", {f"{ENTRY}.occurence.day": "Mon"}, f"{ENTRY}.occurence.day", "must be an array"),
    Bad("day empty", {f"{ENTRY}.occurence.day": []}, f"{ENTRY}.occurence.day", "must contain at least one day"),
    Bad("day unknown", {f"{ENTRY}.occurence.day": ["Mon", "mon"]}, f"{ENTRY}.occurence.day[1]", "'mon' is not a day; use one of Mon, Tue"),
    Bad("day not a string", {f"{ENTRY}.occurence.day": [1]}, f"{ENTRY}.occurence.day[0]", "must be a string"),
    Bad("day duplicate", {f"{ENTRY}.occurence.day": ["Mon", "Tue", "Mon"]}, f"{ENTRY}.occurence.day[2]", "duplicate day 'Mon'"),
    Bad("week not an array", {f"{ENTRY}.occurence.week": "w1"}, f"{ENTRY}.occurence.week", "must be an array"),
    Bad("week empty", {f"{ENTRY}.occurence.week": []}, f"{ENTRY}.occurence.week", "must contain at least one week"),
    Bad("week malformed", {f"{ENTRY}.occurence.week": ["1"]}, f"{ENTRY}.occurence.week[0]", "'1' is not a week"),
    Bad("week open range", {f"{ENTRY}.occurence.week": ["w1-"]}, f"{ENTRY}.occurence.week[0]", "is not a week"),
    Bad("week in another script's digits", {f"{ENTRY}.occurence.week": ["w١"]}, f"{ENTRY}.occurence.week[0]", "is not a week"),
    Bad("week not a string", {f"{ENTRY}.occurence.week": [1]}, f"{ENTRY}.occurence.week[0]", "must be a string"),
    Bad("week zero", {f"{ENTRY}.occurence.week": ["w0"]}, f"{ENTRY}.occurence.week[0]", "weeks go from w1 to w53"),
    Bad("week 54", {f"{ENTRY}.occurence.week": ["w2", "w50-w54"]}, f"{ENTRY}.occurence.week[1]", "weeks go from w1 to w53"),
    Bad("week range descending", {f"{ENTRY}.occurence.week": ["w10-w5"]}, f"{ENTRY}.occurence.week[0]", "must be ascending"),
    Bad("absolute start not RFC 3339", {f"{ABS}.start": "PT14H"}, f"{ABS}.start", "is not an RFC 3339 date-time"),
    Bad("absolute start without offset", {f"{ABS}.start": "2026-01-03T12:00:00"}, f"{ABS}.start", "is not an RFC 3339 date-time"),
    Bad("absolute start impossible date", {f"{ABS}.start": "2026-13-03T12:00:00Z"}, f"{ABS}.start", "is not a valid date-time"),
    Bad("absolute duration zero", {f"{ABS}.duration": "PT0M"}, f"{ABS}.duration", "must be longer than zero"),
    Bad(
        "absolute start before year 1 in UTC",
        {f"{ABS}.start": "0001-01-01T00:00:00+23:59"},
        f"{ABS}.start",
        "'0001-01-01T00:00:00+23:59' is outside the years 1 to 9999 in UTC",
    ),
    Bad("absolute start after year 9999 in UTC", {f"{ABS}.start": "9999-12-31T23:59:59-01:00"}, f"{ABS}.start", "is outside the years 1 to 9999 in UTC"),
    Bad(
        "absolute start before 1970",
        {f"{ABS}.start": "1969-12-31T23:59:59Z"},
        f"{ABS}.start",
        "must be between 1970-01-01T00:00:00.000Z and 9000-01-01T00:00:00.000Z (got '1969-12-31T23:59:59Z')",
    ),
    Bad("absolute start in year 1", {f"{ABS}.start": "0001-01-01T00:00:00Z", f"{ABS}.duration": DELETE}, f"{ABS}.start", "must be between 1970"),
    Bad("absolute start after 9000", {f"{ABS}.start": "9000-01-01T00:00:01Z", f"{ABS}.duration": DELETE}, f"{ABS}.start", "must be between 1970"),
    Bad(
        "absolute end after 9000",
        {f"{ABS}.start": "8999-12-31T00:00:00Z", f"{ABS}.duration": "PT24H1S"},
        f"{ABS}.duration",
        "an absolute window must end by 9000-01-01T00:00:00.000Z; '8999-12-31T00:00:00Z' + 'PT24H1S' ends later",
    ),
    Bad("absolute end beyond year 9999", {f"{ABS}.start": "9999-12-31T00:00:00Z", f"{ABS}.duration": "P1000D"}, f"{ABS}.start", "must be between 1970"),
    Bad("absolute end beyond datetime", {f"{ABS}.start": "2026-01-01T00:00:00Z", f"{ABS}.duration": "P999999999D"}, f"{ABS}.duration", "must end by 9000"),
    Bad("absolute duration beyond timedelta", {f"{ABS}.duration": "P9999999999D"}, f"{ABS}.duration", "is too long a duration"),
    Bad("absolute duration invalid", {f"{ABS}.duration": "2 days"}, f"{ABS}.duration", "is not an ISO-8601 duration"),
    Bad(
        "absolute occurence forbidden",
        {f"{ABS}.occurence": {"day": ["Mon"]}},
        f"{ABS}.occurence",
        "occurence is only allowed with recurrence Daily",
    ),
    Bad(
        "absolute occurrence alias forbidden too",
        {f"{ABS}.occurrence": {"day": ["Mon"]}},
        f"{ABS}.occurrence",
        "occurence is only allowed with recurrence Daily",
    ),
    Bad("timeZone empty", {f"{T}.time.timeZone": ""}, f"{T}.time.timeZone", "must not be empty"),
    Bad("timeZone not a string", {f"{T}.time.timeZone": 1}, f"{T}.time.timeZone", "must be a string"),
    Bad("timeZone unknown", {f"{T}.time.timeZone": "Mars/Olympus_Mons"}, f"{T}.time.timeZone", "unknown time zone 'Mars/Olympus_Mons'"),
    Bad(
        "timeZone typo suggests",
        {f"{T}.time.timeZone": "Europe/Pariss"},
        f"{T}.time.timeZone",
        "did you mean 'Europe/Paris'?",
    ),
    Bad("timeZone wrong case", {f"{T}.time.timeZone": "europe/paris"}, f"{T}.time.timeZone", "unknown time zone"),
    Bad("timeZone directory", {f"{T}.time.timeZone": "Europe"}, f"{T}.time.timeZone", "unknown time zone 'Europe'"),
    Bad("timeZone parent path", {f"{T}.time.timeZone": "../../etc/passwd"}, f"{T}.time.timeZone", "unknown time zone"),
    Bad("timeZone absolute path", {f"{T}.time.timeZone": "/etc/localtime"}, f"{T}.time.timeZone", "unknown time zone"),
    Bad("timeZone dot segment", {f"{T}.time.timeZone": "Europe/./Paris"}, f"{T}.time.timeZone", "unknown time zone"),
    Bad("timeZone NUL", {f"{T}.time.timeZone": "Europe/Pa\x00ris"}, f"{T}.time.timeZone", "must not contain NUL characters"),
    Bad("timeZone trailing slash", {f"{T}.time.timeZone": "Europe/Paris/"}, f"{T}.time.timeZone", "unknown time zone"),
    Bad("timeZone host localtime", {f"{T}.time.timeZone": "localtime"}, f"{T}.time.timeZone", "unknown time zone 'localtime'"),
    Bad("timeZone host posixrules", {f"{T}.time.timeZone": "posixrules"}, f"{T}.time.timeZone", "unknown time zone 'posixrules'"),
    Bad("timeZone Factory placeholder", {f"{T}.time.timeZone": "Factory"}, f"{T}.time.timeZone", "unknown time zone 'Factory'"),
    Bad("timeZone posix/ copy", {f"{T}.time.timeZone": "posix/Europe/Paris"}, f"{T}.time.timeZone", "unknown time zone"),
    Bad("timeZone right/ copy", {f"{T}.time.timeZone": "right/UTC"}, f"{T}.time.timeZone", "unknown time zone"),
    Bad("timeZone data file", {f"{T}.time.timeZone": "zone1970.tab"}, f"{T}.time.timeZone", "unknown time zone"),
    # ---- data
    Bad("data trigger not an object", {f"{D}.data": "vehicle.odometer"}, f"{D}.data", "must be an object"),
    Bad("data key missing", {f"{D}.data.data": DELETE}, f"{D}.data.data", "is required"),
    Bad("data key not a string", {f"{D}.data.data": 1}, f"{D}.data.data", "must be a string"),
    Bad(
        "data key unknown",
        {f"{D}.data.data": "vehicle.energy.electric.levle"},
        f"{D}.data.data",
        "unknown data key 'vehicle.energy.electric.levle'; did you mean 'vehicle.energy.electric.level'?",
    ),
    Bad("op missing", {f"{D}.data.op": DELETE}, f"{D}.data.op", "is required"),
    Bad("op unknown", {f"{D}.data.op": "lessThan"}, f"{D}.data.op", "must be one of 'equalsTo', 'greaterThan', 'lowerThan', 'includedIn', 'onChange' (got 'lessThan')"),
    Bad("value not an array", {f"{D}.data.value": "50"}, f"{D}.data.value", "must be an array"),
    Bad("value missing for lowerThan", {f"{D}.data.value": DELETE}, f"{D}.data.value", "is required with op 'lowerThan'"),
    Bad("value empty for lowerThan", {f"{D}.data.value": []}, f"{D}.data.value", "must contain exactly one item with op 'lowerThan' (got 0)"),
    Bad("two values for greaterThan", {f"{D}.data.op": "greaterThan", f"{D}.data.value": ["1", "2"]}, f"{D}.data.value", "exactly one item with op 'greaterThan' (got 2)"),
    Bad("two values for equalsTo", {f"{D}.data.op": "equalsTo", f"{D}.data.value": ["1", "2"]}, f"{D}.data.value", "exactly one item with op 'equalsTo'"),
    Bad("value missing for equalsTo", {f"{D}.data.op": "equalsTo", f"{D}.data.value": DELETE}, f"{D}.data.value", "is required with op 'equalsTo'"),
    Bad("value missing for includedIn", {f"{D}.data.data": CHARGING, f"{D}.data.op": "includedIn", f"{D}.data.value": DELETE}, f"{D}.data.value", "is required with op 'includedIn'"),
    Bad("value empty for includedIn", {f"{D}.data.data": CHARGING, f"{D}.data.op": "includedIn", f"{D}.data.value": []}, f"{D}.data.value", "at least one item with op 'includedIn'"),
    Bad("value given for onChange", {f"{D}.data.data": CHARGING, f"{D}.data.op": "onChange", f"{D}.data.value": ["Finished"]}, f"{D}.data.value", "must be empty or absent with op 'onChange'"),
    Bad("value item null", {f"{D}.data.value": [None]}, f"{D}.data.value[0]", "must be a string"),
    Bad("value item object", {f"{D}.data.value": [{"v": 1}]}, f"{D}.data.value[0]", "must be a string"),
    Bad("value item infinite", {f"{D}.data.value": [float("inf")]}, f"{D}.data.value[0]", "must be a finite number"),
    Bad("value item nan", {f"{D}.data.value": [float("nan")]}, f"{D}.data.value[0]", "must be a finite number"),
    Bad("value item beyond float", {f"{D}.data.value": [10**400]}, f"{D}.data.value[0]", "must be a finite number"),
    Bad("lowerThan with a word", {f"{D}.data.value": ["abc"]}, f"{D}.data.value[0]", "'abc' is not a number"),
    Bad("greaterThan with nan", {f"{D}.data.op": "greaterThan", f"{D}.data.value": ["nan"]}, f"{D}.data.value[0]", "'nan' is not a number"),
    Bad("greaterThan with overflow", {f"{D}.data.op": "greaterThan", f"{D}.data.value": ["1e999"]}, f"{D}.data.value[0]", "'1e999' is not a number"),
    Bad("greaterThan with padding", {f"{D}.data.op": "greaterThan", f"{D}.data.value": [" 5"]}, f"{D}.data.value[0]", "' 5' is not a number"),
    Bad("equalsTo on a number with a word", {f"{D}.data.op": "equalsTo", f"{D}.data.value": ["low"]}, f"{D}.data.value[0]", "'low' is not a number"),
    Bad(
        "greaterThan on a string key",
        {f"{D}.data.data": "vehicle.energy.charging.status", f"{D}.data.op": "greaterThan", f"{D}.data.value": ["1"]},
        f"{D}.data.op",
        "'vehicle.energy.charging.status' only supports op 'equalsTo', 'includedIn' or 'onChange' (got 'greaterThan')",
    ),
    Bad(
        "lowerThan on a boolean key",
        {f"{D}.data.data": "vehicle.kinetic.moving"},
        f"{D}.data.op",
        "'vehicle.kinetic.moving' only supports op 'equalsTo' or 'onChange' (got 'lowerThan')",
    ),
    Bad(
        "lowerThan on a list key",
        {f"{D}.data.data": "vehicle.alert"},
        f"{D}.data.op",
        "'vehicle.alert' only supports op 'equalsTo', 'includedIn' or 'onChange' (got 'lowerThan')",
    ),
    Bad(
        "equalsTo on an N/A key",
        {f"{D}.data.data": "vehicle.doorsState.opening", f"{D}.data.op": "equalsTo", f"{D}.data.value": ["open"]},
        f"{D}.data.op",
        "'vehicle.doorsState.opening' only supports op 'onChange' (got 'equalsTo')",
    ),
    # The reference's per-key op table (DataTrigger.data): what it does not list is refused.
    Bad(
        "onChange on a number key",
        {f"{D}.data.op": "onChange", f"{D}.data.value": DELETE},
        f"{D}.data.op",
        "'vehicle.energy.electric.level' only supports op 'equalsTo', 'greaterThan' or 'lowerThan' (got 'onChange')",
    ),
    Bad(
        "includedIn on a number key",
        {f"{D}.data.op": "includedIn", f"{D}.data.value": ["10", 20]},
        f"{D}.data.op",
        "only supports op 'equalsTo', 'greaterThan' or 'lowerThan' (got 'includedIn')",
    ),
    Bad(
        "includedIn on a boolean key",
        {f"{D}.data.data": "stolen.state", f"{D}.data.op": "includedIn", f"{D}.data.value": ["true"]},
        f"{D}.data.op",
        "'stolen.state' only supports op 'equalsTo' or 'onChange' (got 'includedIn')",
    ),
    Bad(
        "onChange on a collision side",
        {f"{D}.data.data": "vehicle.collision.side", f"{D}.data.op": "onChange", f"{D}.data.value": DELETE},
        f"{D}.data.op",
        "'vehicle.collision.side' only supports op 'equalsTo' or 'includedIn' (got 'onChange')",
    ),
    Bad(
        "equalsTo on the trip state list",
        {f"{D}.data.data": "vehicle.trip.state", f"{D}.data.op": "equalsTo", f"{D}.data.value": ["Nominal"]},
        f"{D}.data.op",
        "'vehicle.trip.state' only supports op 'includedIn' (got 'equalsTo')",
    ),
    Bad(
        "wrong op hides the arity its value would have",
        {f"{D}.data.data": "vehicle.trip", f"{D}.data.op": "equalsTo", f"{D}.data.value": ["a", "b"]},
        f"{D}.data.op",
        "'vehicle.trip' only supports op 'onChange' (got 'equalsTo')",
    ),
    # Enum-typed keys: operands among the reference's values, exactly.
    Bad(
        "charging status misspelt",
        {f"{D}.data.data": CHARGING, f"{D}.data.op": "equalsTo", f"{D}.data.value": ["Disconected"]},
        f"{D}.data.value[0]",
        "must be one of 'Disconnected', 'InProgress', 'Failure', 'Stopped', 'Finished' (got 'Disconected'); did you mean 'Disconnected'?",
    ),
    Bad(
        "enum value in the wrong case",
        {f"{D}.data.data": "privacy.state", f"{D}.data.op": "equalsTo", f"{D}.data.value": ["geolocation"]},
        f"{D}.data.value[0]",
        "must be one of 'None', 'Geolocation', 'Full' (got 'geolocation'); did you mean 'Geolocation'?",
    ),
    Bad(
        "second includedIn operand not in the enum",
        {f"{D}.data.data": "vehicle.trip.state", f"{D}.data.op": "includedIn", f"{D}.data.value": ["Nominal", "Finished"]},
        f"{D}.data.value[1]",
        "must be one of 'Nominal', 'Unstarted', 'DataLacking', 'Unfinished' (got 'Finished')",
    ),
    Bad(
        "enum value with no close match",
        {f"{D}.data.data": "vehicle.safety.beltWarning", f"{D}.data.op": "equalsTo", f"{D}.data.value": ["x"]},
        f"{D}.data.value[0]",
        "must be one of 'Normal', 'Omission' (got 'x')",
    ),
    Bad(
        "alert misspelt: only the closest of the 104 are shown",
        {f"{D}.data.data": "vehicle.alert", f"{D}.data.op": "includedIn", f"{D}.data.value": ["OilLevelLo"]},
        f"{D}.data.value[0]",
        "must be one of the 104 values the reference lists for 'vehicle.alert' (got 'OilLevelLo'); did you mean 'OilLevelLow' or 'FuelLevelLow'?",
    ),
    Bad(
        "alert in the wrong case",
        {f"{D}.data.data": "vehicle.alert", f"{D}.data.op": "equalsTo", f"{D}.data.value": ["riskofice"]},
        f"{D}.data.value[0]",
        "(got 'riskofice'); did you mean 'RiskOfIce'?",
    ),
    Bad(
        "equalsTo on a boolean key with a word",
        {f"{D}.data.data": "vehicle.kinetic.moving", f"{D}.data.op": "equalsTo", f"{D}.data.value": ["yes"]},
        f"{D}.data.value[0]",
        "'yes' is not a boolean; use 'true' or 'false'",
    ),
    Bad("minDuration not a string", {f"{Z}.minDuration": 600}, f"{Z}.minDuration", "must be a string"),
    Bad("minDuration malformed", {f"{Z}.minDuration": "10 minutes"}, f"{Z}.minDuration", "is not an ISO-8601 duration"),
    Bad("minDuration in months", {f"{T}.minDuration": "P1M"}, f"{T}.minDuration", "years and months are not supported"),
    Bad("minDuration below a second", {f"{Z}.minDuration": "PT0.5S"}, f"{Z}.minDuration", "between 'PT1S' and 'P1D' (got 'PT0.5S')"),
    Bad("minDuration zero", {f"{D}.minDuration": "PT0S"}, f"{D}.minDuration", "between 'PT1S' and 'P1D'"),
    Bad("minDuration above a day", {f"{Z}.minDuration": "PT24H1S"}, f"{Z}.minDuration", "between 'PT1S' and 'P1D' (got 'PT24H1S')"),
    Bad(
        "minDuration on an onChange trigger",
        {f"{D}.data.data": CHARGING, f"{D}.data.op": "onChange", f"{D}.data.value": DELETE, f"{D}.minDuration": "PT5M"},
        f"{D}.minDuration",
        "an onChange trigger fires at the instant a value changes and holds for no duration",
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[case.id for case in BAD])
def test_invalid_definition_reports_exactly_one_error(case: Bad) -> None:
    errors = errors_of(mutate(FULL_DEFINITION, case.mutations), **case.kwargs)
    assert [error.field for error in errors] == [case.field], errors
    assert case.fragment in errors[0].message, errors[0].message


def test_case_ids_are_unique() -> None:
    assert len({case.id for case in BAD}) == len(BAD)
    assert len({case.id for case in GOOD}) == len(GOOD)


@pytest.mark.parametrize("raw", [None, [], "label", 5, True], ids=repr)
def test_root_must_be_an_object(raw: Any) -> None:
    assert errors_of(raw) == [FieldError("", "must be an object")]


# --------------------------------------------------------------------------- valid cases


@dataclass(frozen=True)
class Good:
    id: str
    mutations: dict[str, Any]
    path: str  # in the canonical form
    expected: Any
    kwargs: dict[str, Any] = field(default_factory=dict)


ABSENT: Any = object()  # expected: the canonical path does not exist

GOOD: list[Good] = [
    Good("label at max length", {"label": "x" * 255}, "label", "x" * 255),
    Good("label kept as written", {"label": "  Paris  "}, "label", "  Paris  "),
    Good("label beyond the BMP", {"label": "Van 🚗 日本"}, "label", "Van 🚗 日本"),
    Good("label with a replacement character", {"label": "a\ufffdb"}, "label", "a\ufffdb"),
    Good("extendedEventParam absent", {"extendedEventParam": DELETE}, "extendedEventParam", []),
    Good("extendedEventParam empty", {"extendedEventParam": []}, "extendedEventParam", []),
    Good(
        "extendedEventParam every kind",
        {"extendedEventParam": ["vehicle.telemetry", "vehicle.telemetry.vehicle.battery", "environment.air.temp", "vehicle.stolen"]},
        "extendedEventParam",
        ["vehicle.telemetry", "vehicle.telemetry.vehicle.battery", "environment.air.temp", "vehicle.stolen"],
    ),
    Good("refreshEvent minimum", {f"{SUB}.refreshEvent": 60}, f"{SUB}.refreshEvent", 60),
    Good("refreshEvent integral float", {f"{SUB}.refreshEvent": 600.0}, f"{SUB}.refreshEvent", 600),
    Good("refreshEvent absent", {f"{SUB}.refreshEvent": DELETE}, f"{SUB}.refreshEvent", ABSENT),
    Good("refreshEvent maximum, 30 days", {f"{SUB}.refreshEvent": 2592000}, f"{SUB}.refreshEvent", 2592000),
    Good(
        "retryPolicy maxima",
        {f"{SUB}.retryPolicy": {"policy": "Bounded", "retryNumber": 1000, "retryDelay": 2592000.0}},
        f"{SUB}.retryPolicy",
        {"policy": "Bounded", "retryNumber": 1000, "retryDelay": 2592000},
    ),
    Good(
        "retryPolicy absent gets the reference defaults",
        {f"{SUB}.retryPolicy": DELETE},
        f"{SUB}.retryPolicy",
        {"policy": "Bounded", "retryNumber": 3, "retryDelay": 10},
    ),
    Good(
        "retryPolicy fields default",
        {f"{SUB}.retryPolicy": {"policy": "None"}},
        f"{SUB}.retryPolicy",
        {"policy": "None", "retryNumber": 3, "retryDelay": 10},
    ),
    Good(
        "maxRetryNumber alias",
        {f"{SUB}.retryPolicy": {"policy": "Bounded", "maxRetryNumber": 7, "retryDelay": 1}},
        f"{SUB}.retryPolicy",
        {"policy": "Bounded", "retryNumber": 7, "retryDelay": 1},
    ),
    Good("batchNotify absent", {f"{SUB}.batchNotify": DELETE}, f"{SUB}.batchNotify", ABSENT),
    Good("batchNotify default window", {f"{SUB}.batchNotify": {"size": 1}}, f"{SUB}.batchNotify", {"size": 1, "timeWindow": 60}),
    Good("batchNotify minimum window", {f"{SUB}.batchNotify": {"size": 1, "timeWindow": 5}}, f"{SUB}.batchNotify", {"size": 1, "timeWindow": 5}),
    Good(
        "batchNotify maxima",
        {f"{SUB}.batchNotify": {"size": 1000, "timeWindow": 2592000}},
        f"{SUB}.batchNotify",
        {"size": 1000, "timeWindow": 2592000},
    ),
    Good(
        "flat callback",
        {f"{SUB}.callback": {"target": "http://my.dn/monitors/cb1", "name": "HTTP_CB"}},
        f"{SUB}.callback",
        {"webhook": {"target": "http://my.dn/monitors/cb1", "name": "HTTP_CB", "attributes": []}},
    ),
    Good(
        "flat callback with attributes",
        {f"{SUB}.callback": {"target": "https://h", "name": "n", "attributes": [{"type": "Query", "key": "vin", "value": "$vin"}]}},
        f"{SUB}.callback.webhook.attributes",
        [{"type": "Query", "key": "vin", "value": "$vin"}],
    ),
    Good("attributes absent", {f"{WH}.attributes": DELETE}, f"{WH}.attributes", []),
    Good("http allowed by default", {f"{WH}.target": "http://my.dn/cb"}, f"{WH}.target", "http://my.dn/cb"),
    Good("https when required", {}, f"{WH}.target", "https://my.post.callback/events", {"require_https": True}),
    Good("target with port, query and userinfo", {f"{WH}.target": "https://u:p@h.example:8443/cb?x=1"}, f"{WH}.target", "https://u:p@h.example:8443/cb?x=1"),
    Good("target IP literal", {f"{WH}.target": "http://[::1]:8080/cb"}, f"{WH}.target", "http://[::1]:8080/cb"),
    Good("target upper-case scheme", {f"{WH}.target": "HTTPS://H/cb"}, f"{WH}.target", "HTTPS://H/cb", {"require_https": True}),
    Good("target at max length", {f"{WH}.target": "https://h/" + "a" * 1990}, f"{WH}.target", "https://h/" + "a" * 1990),
    Good("header key with tchar symbols", {f"{WH}.attributes[0].key": "X-A!#$%&'*+.^_`|~1"}, f"{WH}.attributes[0].key", "X-A!#$%&'*+.^_`|~1"),
    Good("query key with space", {f"{WH}.attributes[1].key": "a b"}, f"{WH}.attributes[1].key", "a b"),
    Good("header value with tab", {f"{WH}.attributes[0].value": "a\tb"}, f"{WH}.attributes[0].value", "a\tb"),
    Good(
        "header value with every printable ASCII character",
        {f"{WH}.attributes[0].value": "".join(map(chr, range(0x20, 0x7F)))},
        f"{WH}.attributes[0].value",
        "".join(map(chr, range(0x20, 0x7F))),
    ),
    Good("header key merely starting like a reserved one", {f"{WH}.attributes[0].key": "Hostname"}, f"{WH}.attributes[0].key", "Hostname"),
    Good("header key containing proxy", {f"{WH}.attributes[0].key": "X-Proxy-Id"}, f"{WH}.attributes[0].key", "X-Proxy-Id"),
    Good("header key of another webhook header", {f"{WH}.attributes[0].key": "webhook-name"}, f"{WH}.attributes[0].key", "webhook-name"),
    Good("header Authorization", {f"{WH}.attributes[0].key": "Authorization"}, f"{WH}.attributes[0].key", "Authorization"),
    Good("query attribute named Host", {f"{WH}.attributes[1].key": "Host"}, f"{WH}.attributes[1].key", "Host"),
    Good("query value in Japanese", {f"{WH}.attributes[1].value": "日本"}, f"{WH}.attributes[1].value", "日本"),
    Good("body value in Japanese", {f"{WH}.attributes[2].value": "日本 $vin"}, f"{WH}.attributes[2].value", "日本 $vin"),
    Good("body value with newline", {f"{WH}.attributes[2].value": "a\nb"}, f"{WH}.attributes[2].value", "a\nb"),
    Good("empty attribute value", {f"{WH}.attributes[2].value": ""}, f"{WH}.attributes[2].value", ""),
    Good("variables case-insensitive", {f"{WH}.attributes[0].value": "$VIN/$Vid/$monitorid/$FLEETID"}, f"{WH}.attributes[0].value", "$VIN/$Vid/$monitorid/$FLEETID"),
    Good("variable inside text", {f"{WH}.attributes[0].value": "Bearer-$fleetID-x"}, f"{WH}.attributes[0].value", "Bearer-$fleetID-x"),
    Good("dollar not followed by a name", {f"{WH}.attributes[0].value": "costs 5$ or $5"}, f"{WH}.attributes[0].value", "costs 5$ or $5"),
    Good(
        "five triggers",
        {
            "triggerParam.triggers[3]": {"name": "e", "data": {"data": "vehicle.kinetic.moving", "op": "onChange"}},
            "triggerParam.triggers[4]": {"name": "f", "data": {"data": "stolen.state", "op": "onChange"}},
            "triggerParam.boolExp": "z & (t | d | e | f)",
        },
        "triggerParam.triggers[4].name",
        "f",
    ),
    Good("one trigger", {"triggerParam.triggers": [{"name": "z", "zone": FULL_DEFINITION["triggerParam"]["triggers"][0]["zone"]}], "triggerParam.boolExp": "z"}, "triggerParam.boolExp", "z"),
    Good("name with underscore and digits", {f"{Z}.name": "zone_12", "triggerParam.boolExp": "zone_12 & (t | d)"}, f"{Z}.name", "zone_12"),
    Good("name with dot and digit", {f"{Z}.name": "zone.1", "triggerParam.boolExp": "zone.1 & (t | d)"}, f"{Z}.name", "zone.1"),
    Good("name with digits", {f"{Z}.name": "abc12", "triggerParam.boolExp": "abc12 & (t | d)"}, f"{Z}.name", "abc12"),
    Good("boolExp kept as written", {"triggerParam.boolExp": "  ( z&(t|d) )  "}, "triggerParam.boolExp", "  ( z&(t|d) )  "),
    Good("boolExp with negation", {"triggerParam.boolExp": "!z & (t | !d)"}, "triggerParam.boolExp", "!z & (t | !d)"),
    Good("transition In", {f"{Z}.zone.transition": "In"}, f"{Z}.zone.transition", "In"),
    Good(
        "circle alias",
        {f"{Z}.zone.place": DELETE, f"{Z}.zone.circle": {"center": {"longitude": 2.3, "latitude": 48.8}, "radius": 5}},
        f"{Z}.zone",
        {"transition": "Out", "place": {"radius": 5, "center": {"latitude": 48.8, "longitude": 2.3}}},
    ),
    Good("radius float", {f"{Z}.zone.place.radius": 0.5}, f"{Z}.zone.place.radius", 0.5),
    Good("polygon with a hole kept as given", AS_POLYGON, f"{Z}.zone", {"transition": "Out", "polygon": POLYGON}),
    Good(
        "polygon of integers, floats and altitudes kept as given",
        {**AS_POLYGON, f"{POLY}.coordinates": [[[2, 48], [3.0, 48, 35], [3, 49.5, 35.5], [2, 48]]]},
        POLY,
        {"type": "Polygon", "coordinates": [[[2, 48], [3.0, 48, 35], [3, 49.5, 35.5], [2, 48]]]},
    ),
    Good(
        "polygon keys in GeoJSON order whatever the order given",
        {**AS_POLYGON, POLY: {"coordinates": [SQUARE], "type": "Polygon"}},
        f"{Z}.zone",
        {"transition": "Out", "polygon": {"type": "Polygon", "coordinates": [SQUARE]}},
    ),
    Good(
        "polygon at the vertex limit",
        {**AS_POLYGON, f"{POLY}.coordinates": [ROUND_10_000]},
        f"{POLY}.coordinates[0][9999]",
        ROUND_10_000[0],
    ),
    Good(
        "polygon on the extreme meridians and poles",
        {**AS_POLYGON, f"{POLY}.coordinates": [[[-180, -90], [0, -90], [0, 90], [-180, 90], [-180, -90]]]},
        f"{POLY}.coordinates[0][3]",
        [-180, 90],
    ),
    Good(
        "multipolygon split at the antimeridian",
        {
            **AS_POLYGON,
            POLY: {
                "type": "MultiPolygon",
                "coordinates": [
                    [[[170, -20], [180, -20], [180, -10], [170, -10], [170, -20]]],
                    [[[-180, -20], [-170, -20], [-170, -10], [-180, -10], [-180, -20]]],
                ],
            },
        },
        f"{POLY}.type",
        "MultiPolygon",
    ),
    Good(
        "multipolygon parts touching at a point",
        {**AS_POLYGON, POLY: {"type": "MultiPolygon", "coordinates": [[SQUARE], [[[2.45, 48.98], [2.5, 48.98], [2.5, 49.0], [2.45, 48.98]]]]}},
        f"{POLY}.coordinates[1][0][0]",
        [2.45, 48.98],
    ),
    Good(
        "polygon given as the zone of a circle-free In trigger",
        {**AS_POLYGON, f"{Z}.zone.transition": "In"},
        f"{Z}.zone.transition",
        "In",
    ),
    Good("radius maximum, half the Earth", {f"{Z}.zone.place.radius": 20037.5}, f"{Z}.zone.place.radius", 20037.5),
    Good("radius tiny", {f"{Z}.zone.place.radius": 1e-300}, f"{Z}.zone.place.radius", 1e-300),
    Good("latitude bounds", {f"{Z}.zone.place.center.latitude": -90}, f"{Z}.zone.place.center.latitude", -90),
    Good("latitude upper bound", {f"{Z}.zone.place.center.latitude": 90.0}, f"{Z}.zone.place.center.latitude", 90.0),
    Good("longitude bounds", {f"{Z}.zone.place.center.longitude": 180}, f"{Z}.zone.place.center.longitude", 180),
    Good("longitude lower bound", {f"{Z}.zone.place.center.longitude": -180.0}, f"{Z}.zone.place.center.longitude", -180.0),
    Good("recurrence defaults to Daily", {f"{ENTRY}.recurrence": DELETE}, f"{ENTRY}.recurrence", "Daily"),
    Good("daily start just below 24h", {f"{ENTRY}.start": "PT23H59M59S"}, f"{ENTRY}.start", "PT23H59M59S"),
    Good("daily start midnight", {f"{ENTRY}.start": "PT0S"}, f"{ENTRY}.start", "PT0S"),
    Good("daily start in minutes", {f"{ENTRY}.start": "PT90M"}, f"{ENTRY}.start", "PT90M"),
    Good("daily duration kept as written", {f"{ENTRY}.duration": "PT04H30M"}, f"{ENTRY}.duration", "PT04H30M"),
    Good("daily duration a full week", {f"{ENTRY}.duration": "P7D"}, f"{ENTRY}.duration", "P7D"),
    Good("daily duration one week", {f"{ENTRY}.duration": "P1W"}, f"{ENTRY}.duration", "P1W"),
    Good("occurence absent", {f"{ENTRY}.occurence": DELETE}, f"{ENTRY}.occurence", ABSENT),
    Good("occurence days only", {f"{ENTRY}.occurence": {"day": ["Sun", "Sat"]}}, f"{ENTRY}.occurence", {"day": ["Sun", "Sat"]}),
    Good("occurence weeks only", {f"{ENTRY}.occurence": {"week": ["w53"]}}, f"{ENTRY}.occurence", {"week": ["w53"]}),
    Good("all seven days", {f"{ENTRY}.occurence.day": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}, f"{ENTRY}.occurence.day", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
    Good(
        "weeks case-insensitive, canonical lower-case",
        {f"{ENTRY}.occurence.week": ["W1", "w2-W4", " w40 - w50 ", "w07", "w9-w9"]},
        f"{ENTRY}.occurence.week",
        ["w1", "w2-w4", "w40-w50", "w7", "w9-w9"],
    ),
    Good(
        "occurrence alias",
        {f"{ENTRY}.occurence": DELETE, f"{ENTRY}.occurrence": {"day": ["Mon"]}},
        f"{ENTRY}.occurence",
        {"day": ["Mon"]},
    ),
    Good(
        "absolute entry open-ended",
        {f"{ABS}.duration": DELETE},
        ABS,
        {"recurrence": "None", "start": "2026-01-03T12:00:00+01:00"},
    ),
    Good("absolute start in UTC", {f"{ABS}.start": "2026-01-03T12:00:00.250Z"}, f"{ABS}.start", "2026-01-03T12:00:00.250Z"),
    Good("absolute start at the epoch", {f"{ABS}.start": "1970-01-01T01:00:00+01:00"}, f"{ABS}.start", "1970-01-01T01:00:00+01:00"),
    Good(
        "absolute window ending at year 9000",
        {f"{ABS}.start": "8999-12-31T00:00:00Z", f"{ABS}.duration": "PT24H"},
        ABS,
        {"recurrence": "None", "start": "8999-12-31T00:00:00Z", "duration": "PT24H"},
    ),
    Good(
        "absolute open-ended window from year 9000",
        {f"{ABS}.start": "9000-01-01T00:00:00Z", f"{ABS}.duration": DELETE},
        ABS,
        {"recurrence": "None", "start": "9000-01-01T00:00:00Z"},
    ),
    Good("absolute window of a thousand years", {f"{ABS}.duration": "P365000D"}, f"{ABS}.duration", "P365000D"),
    Good("timeZone default", {f"{T}.time.timeZone": DELETE}, f"{T}.time.timeZone", "Europe/Paris"),
    Good("timeZone other", {f"{T}.time.timeZone": "America/New_York"}, f"{T}.time.timeZone", "America/New_York"),
    Good("timeZone UTC", {f"{T}.time.timeZone": "UTC"}, f"{T}.time.timeZone", "UTC"),
    Good("timeZone with sign", {f"{T}.time.timeZone": "Etc/GMT+5"}, f"{T}.time.timeZone", "Etc/GMT+5"),
    Good("timeZone Etc/UTC", {f"{T}.time.timeZone": "Etc/UTC"}, f"{T}.time.timeZone", "Etc/UTC"),
    Good("timeZone legacy IANA link", {f"{T}.time.timeZone": "US/Pacific"}, f"{T}.time.timeZone", "US/Pacific"),
    Good("value number canonicalised", {f"{D}.data.value": [50]}, f"{D}.data.value", ["50"]),
    Good("value float canonicalised", {f"{D}.data.value": [12.5]}, f"{D}.data.value", ["12.5"]),
    Good("value negative decimal", {f"{D}.data.value": ["-5.5"]}, f"{D}.data.value", ["-5.5"]),
    Good("value exponent", {f"{D}.data.value": ["1e3"]}, f"{D}.data.value", ["1e3"]),
    Good("value largest float", {f"{D}.data.value": [1.7976931348623157e308]}, f"{D}.data.value", ["1.7976931348623157e+308"]),
    Good("value big integer within float range", {f"{D}.data.value": [10**300]}, f"{D}.data.value", [str(10**300)]),
    Good("greaterThan on a number key", {f"{D}.data.op": "greaterThan", f"{D}.data.value": ["75"]}, f"{D}.data", {"data": "vehicle.energy.electric.level", "op": "greaterThan", "value": ["75"]}),
    Good("equalsTo on a number key", {f"{D}.data.op": "equalsTo"}, f"{D}.data.op", "equalsTo"),
    Good("onChange without value", {f"{D}.data.data": CHARGING, f"{D}.data.op": "onChange", f"{D}.data.value": DELETE}, f"{D}.data", {"data": CHARGING, "op": "onChange", "value": []}),
    Good("onChange with empty value", {f"{D}.data.data": CHARGING, f"{D}.data.op": "onChange", f"{D}.data.value": []}, f"{D}.data.value", []),
    Good("onChange on a boolean key", {f"{D}.data.data": "stolen.state", f"{D}.data.op": "onChange", f"{D}.data.value": DELETE}, f"{D}.data.op", "onChange"),
    Good(
        "includedIn alerts of AlertMsgEnum, typos of the reference included",
        {f"{D}.data.data": "vehicle.alert", f"{D}.data.op": "includedIn", f"{D}.data.value": ["OilLevelLow", "CoolantLevellow"]},
        f"{D}.data.value",
        ["OilLevelLow", "CoolantLevellow"],
    ),
    Good(
        "enum value starting with a digit",
        {f"{D}.data.data": "vehicle.drivingBehavior.mode", f"{D}.data.op": "equalsTo", f"{D}.data.value": ["4AWD"]},
        f"{D}.data.value",
        ["4AWD"],
    ),
    Good(
        "value boolean canonicalised",
        {f"{D}.data.data": "vehicle.energy.charging.plugged", f"{D}.data.op": "equalsTo", f"{D}.data.value": [True]},
        f"{D}.data.value",
        ["true"],
    ),
    Good(
        "boolean string canonicalised to lower case",
        {f"{D}.data.data": "stolen.state", f"{D}.data.op": "equalsTo", f"{D}.data.value": ["FALSE"]},
        f"{D}.data.value",
        ["false"],
    ),
    Good(
        "includedIn on a string key",
        {f"{D}.data.data": "vehicle.energy.charging.status", f"{D}.data.op": "includedIn", f"{D}.data.value": ["InProgress", "Finished"]},
        f"{D}.data.value",
        ["InProgress", "Finished"],
    ),
    Good(
        "privacy.state 'None' is a value of its enum, not a null",
        {f"{D}.data.data": "privacy.state", f"{D}.data.op": "equalsTo", f"{D}.data.value": ["None"]},
        f"{D}.data.value",
        ["None"],
    ),
    Good(
        "onChange on an N/A key",
        {f"{D}.data.data": "vehicle.doorsState.opening", f"{D}.data.op": "onChange", f"{D}.data.value": DELETE},
        f"{D}.data.op",
        "onChange",
    ),
    Good("minDuration on a zone, kept as given", {f"{Z}.minDuration": "PT10M"}, f"{Z}.minDuration", "PT10M"),
    Good("minDuration on a time trigger", {f"{T}.minDuration": "PT1H30M"}, f"{T}.minDuration", "PT1H30M"),
    Good("minDuration on a data trigger, at the lower bound", {f"{D}.minDuration": "PT1S"}, f"{D}.minDuration", "PT1S"),
    Good("minDuration of a day, the upper bound", {f"{Z}.minDuration": "P1D"}, f"{Z}.minDuration", "P1D"),
    Good("minDuration as hours", {f"{Z}.minDuration": "PT24H"}, f"{Z}.minDuration", "PT24H"),
    Good("no minDuration: the reference's trigger, unchanged", {}, f"{Z}.minDuration", ABSENT),
]


@pytest.mark.parametrize("case", GOOD, ids=[case.id for case in GOOD])
def test_valid_variant_is_accepted_and_canonicalised(case: Good) -> None:
    canonical = canonical_of(mutate(FULL_DEFINITION, case.mutations), **case.kwargs)
    if case.expected is ABSENT:
        *parent, last = _steps(case.path)
        container = canonical
        for step in parent:
            container = container[step]
        assert last not in container
    else:
        assert get_path(canonical, case.path) == case.expected
    # and the canonical form is a fixed point
    assert canonical_of(canonical, **case.kwargs) == canonical


# --------------------------------------------------------------------------- unknown fields


UNKNOWN_FIELDS = [
    ("", "lable", "label"),
    ("", "extendedEventParams", "extendedEventParam"),
    ("", "zzz", None),
    (SUB, "refreshEvents", "refreshEvent"),
    (SUB, "retrypolicy", "retryPolicy"),
    (f"{SUB}.retryPolicy", "retryDelays", "retryDelay"),
    (f"{SUB}.retryPolicy", "maxRetryNumbers", "maxRetryNumber"),
    (f"{SUB}.batchNotify", "timewindow", "timeWindow"),
    (f"{SUB}.callback", "webhooks", "webhook"),
    (WH, "attributres", "attributes"),
    (WH, "targt", "target"),
    (f"{WH}.attributes[0]", "vaule", "value"),
    ("triggerParam", "boolexp", "boolExp"),
    ("triggerParam", "trigger", "triggers"),
    (Z, "zones", "zone"),
    (f"{Z}.zone", "transitions", "transition"),
    (f"{Z}.zone", "circles", "circle"),
    (f"{Z}.zone.place", "radious", "radius"),
    (f"{Z}.zone.place.center", "lat", None),
    (f"{Z}.zone.place.center", "longitud", "longitude"),
    (f"{Z}.zone", "polygons", "polygon"),
    (f"{T}.time", "timezone", "timeZone"),
    (f"{T}.time", "time", "times"),
    (ENTRY, "recurence", "recurrence"),
    (ENTRY, "end", None),
    (f"{ENTRY}.occurence", "days", "day"),
    (f"{ENTRY}.occurence", "weeks", "week"),
    (D, "date", "data"),
    (f"{D}.data", "values", "value"),
    (f"{D}.data", "operator", None),
]


@pytest.mark.parametrize(("container", "key", "suggestion"), UNKNOWN_FIELDS, ids=[f"{c}.{k}" for c, k, _ in UNKNOWN_FIELDS])
def test_unknown_fields_are_rejected_with_a_suggestion(container: str, key: str, suggestion: str | None) -> None:
    raw = copy.deepcopy(FULL_DEFINITION)
    (get_path(raw, container) if container else raw)[key] = 1
    errors = errors_of(raw)
    expected_path = f"{container}.{key}" if container else key
    expected = f"unknown field '{key}'" + (f"; did you mean '{suggestion}'?" if suggestion else "")
    assert errors == [FieldError(expected_path, expected)]


def test_unknown_field_in_flat_callback() -> None:
    raw = mutate(FULL_DEFINITION, {f"{SUB}.callback": {"target": "https://h", "name": "n", "attributres": []}})
    assert errors_of(raw) == [
        FieldError(f"{SUB}.callback.attributres", "unknown field 'attributres'; did you mean 'attributes'?")
    ]


def test_misspelt_webhook_level() -> None:
    raw = mutate(FULL_DEFINITION, {f"{SUB}.callback": {"webhok": {"target": "https://h", "name": "n"}}})
    assert errors_of(raw) == [
        FieldError(f"{SUB}.callback.webhok", "unknown field 'webhok'; did you mean 'webhook'?"),
        FieldError(f"{SUB}.callback.webhook", "is required"),
    ]


# --------------------------------------------------------------------------- aliases


def test_alias_and_canonical_both_given() -> None:
    raw = mutate(
        FULL_DEFINITION,
        {
            f"{SUB}.retryPolicy.maxRetryNumber": 5,
            f"{Z}.zone.circle": FULL_DEFINITION["triggerParam"]["triggers"][0]["zone"]["place"],
            f"{ENTRY}.occurrence": {"day": ["Mon"]},
        },
    )
    assert errors_of(raw) == [
        FieldError(
            f"{SUB}.retryPolicy.maxRetryNumber",
            "both 'retryNumber' and its alias 'maxRetryNumber' are given; give only 'retryNumber'",
        ),
        FieldError(f"{Z}.zone.circle", "both 'place' and its alias 'circle' are given; give only 'place'"),
        FieldError(
            f"{ENTRY}.occurrence",
            "both 'occurence' and its alias 'occurrence' are given; give only 'occurence'",
        ),
    ]


def test_alias_first_then_canonical_names_the_alias() -> None:
    raw = mutate(FULL_DEFINITION, {f"{SUB}.retryPolicy": {"policy": "Bounded", "maxRetryNumber": 5, "retryNumber": 4}})
    errors = errors_of(raw)
    assert [error.field for error in errors] == [f"{SUB}.retryPolicy.maxRetryNumber"]


def test_flat_and_nested_callback_both_given() -> None:
    raw = mutate(FULL_DEFINITION, {f"{SUB}.callback.target": "https://x", f"{SUB}.callback.name": "n"})
    errors = errors_of(raw)
    assert [error.field for error in errors] == [f"{SUB}.callback"]
    assert "'webhook'" in errors[0].message and "'target', 'name'" in errors[0].message


def test_flat_callback_errors_use_flat_paths() -> None:
    raw = mutate(FULL_DEFINITION, {f"{SUB}.callback": {"target": "ftp://x", "attributes": [{"type": "Header", "key": "a b", "value": "$x"}]}})
    assert fields_of(raw) == [
        f"{SUB}.callback.target",
        f"{SUB}.callback.name",
        f"{SUB}.callback.attributes[0].key",
        f"{SUB}.callback.attributes[0].value",
    ]


def test_aliases_canonicalised_together() -> None:
    raw = mutate(
        FULL_DEFINITION,
        {
            f"{SUB}.retryPolicy": {"policy": "Always", "maxRetryNumber": 3, "retryDelay": 120},
            f"{SUB}.callback": FULL_DEFINITION["subscribeParam"]["callback"]["webhook"],
            f"{Z}.zone": {"transition": "Out", "circle": FULL_DEFINITION["triggerParam"]["triggers"][0]["zone"]["place"]},
            f"{ENTRY}.occurence": DELETE,
            f"{ENTRY}.occurrence": FULL_DEFINITION["triggerParam"]["triggers"][1]["time"]["times"][0]["occurence"],
        },
    )
    assert canonical_of(raw) == FULL_DEFINITION


# --------------------------------------------------------------------------- several errors at once


def test_all_errors_are_collected() -> None:
    raw = mutate(
        FULL_DEFINITION,
        {
            "label": "",
            f"{SUB}.refreshEvent": 10,
            f"{WH}.target": "ftp://x",
            f"{WH}.attributes[1].value": "$nope",
            "extendedEventParam": ["vehicle.nope"],
            f"{Z}.zone.place.radius": -1,
            f"{ENTRY}.start": "PT25H",
            f"{ABS}.occurence": {"day": ["Mon"]},
            f"{D}.data.op": "greaterThan",
            f"{D}.data.value": ["x"],
            "triggerParam.boolExp": "z & (t | d",
        },
    )
    assert fields_of(raw) == [
        "label",
        f"{SUB}.refreshEvent",
        f"{WH}.target",
        f"{WH}.attributes[1].value",
        "extendedEventParam[0]",
        f"{Z}.zone.place.radius",
        f"{ENTRY}.start",
        f"{ABS}.occurence",
        f"{D}.data.value[0]",
        "triggerParam.boolExp",
    ]


def test_several_unknown_variables_each_reported() -> None:
    raw = mutate(FULL_DEFINITION, {f"{WH}.attributes[0].value": "$a-$vin-$b-$a"})
    errors = errors_of(raw)
    assert [error.message for error in errors] == [
        "unknown variable '$a'; use $vin, $vid, $monitorID or $fleetID",
        "unknown variable '$b'; use $vin, $vid, $monitorID or $fleetID",
    ]


def test_header_rules_only_apply_to_headers() -> None:
    raw = mutate(FULL_DEFINITION, {f"{WH}.attributes[1].key": "X Vehicle", f"{WH}.attributes[2].value": "a\r\nb"})
    assert canonical_of(raw)["subscribeParam"]["callback"]["webhook"]["attributes"][1]["key"] == "X Vehicle"


# --------------------------------------------------------------------------- boolExp vs trigger names


def test_invalid_name_does_not_cascade_into_boolexp() -> None:
    raw = mutate(FULL_DEFINITION, {f"{Z}.name": "out-of-paris", "triggerParam.boolExp": "out-of-paris & (t | d)"})
    assert fields_of(raw) == [f"{Z}.name"]


def test_invalid_name_does_not_hide_a_real_boolexp_error_and_keeps_columns() -> None:
    raw = mutate(FULL_DEFINITION, {f"{Z}.name": "1z", "triggerParam.boolExp": "1z & (t | d"})
    errors = errors_of(raw)
    assert [error.field for error in errors] == [f"{Z}.name", "triggerParam.boolExp"]
    assert "unbalanced parenthesis" in errors[1].message and "column 6" in errors[1].message


def test_invalid_name_placeholder_never_leaks_into_messages() -> None:
    raw = mutate(FULL_DEFINITION, {f"{Z}.name": "1z", "triggerParam.boolExp": "1z | !1z | t | d"})
    errors = errors_of(raw)
    assert [error.field for error in errors] == [f"{Z}.name", "triggerParam.boolExp"]
    assert "always true" in errors[1].message


def test_valid_names_still_checked_when_another_is_invalid() -> None:
    raw = mutate(FULL_DEFINITION, {f"{Z}.name": "1z", "triggerParam.boolExp": "1z & t"})
    errors = errors_of(raw)
    assert [error.field for error in errors] == [f"{Z}.name", "triggerParam.boolExp"]
    assert "'d' is declared but not used" in errors[1].message


def test_missing_name_does_not_cascade_into_unknown_trigger() -> None:
    raw = mutate(FULL_DEFINITION, {f"{Z}.name": DELETE})
    assert fields_of(raw) == [f"{Z}.name"]


def test_missing_name_does_not_hide_syntax_errors() -> None:
    raw = mutate(FULL_DEFINITION, {f"{Z}.name": DELETE, "triggerParam.boolExp": "z & (t | d"})
    assert fields_of(raw) == [f"{Z}.name", "triggerParam.boolExp"]


def test_unused_malformed_name_does_not_cascade_into_unknown_trigger() -> None:
    raw = mutate(FULL_DEFINITION, {f"{Z}.name": "((z"})  # boolExp still says 'z'
    assert fields_of(raw) == [f"{Z}.name"]
    raw = mutate(FULL_DEFINITION, {f"{Z}.name": "1"})
    assert fields_of(raw) == [f"{Z}.name"]


def test_malformed_name_is_named_in_boolexp_messages() -> None:
    raw = mutate(FULL_DEFINITION, {f"{Z}.name": "a-b", "triggerParam.boolExp": "a-b & (t | d) & q"})
    errors = errors_of(raw)
    assert [error.field for error in errors] == [f"{Z}.name", "triggerParam.boolExp"]
    assert errors[1].message == "unknown trigger 'q' at column 17 (declared triggers: 't', 'd', 'a-b')"


def test_duplicate_name_does_not_cascade_into_unknown_trigger() -> None:
    raw = mutate(FULL_DEFINITION, {f"{T}.name": "z"})  # boolExp still says 't'
    assert fields_of(raw) == [f"{T}.name"]


def test_unknown_trigger_reported_when_all_names_are_fine() -> None:
    errors = errors_of(mutate(FULL_DEFINITION, {"triggerParam.boolExp": "z & (t | dd) & d"}))
    assert [error.field for error in errors] == ["triggerParam.boolExp"]
    assert "unknown trigger 'dd' at column 10" in errors[0].message


def test_too_many_triggers_still_checks_boolexp_syntax() -> None:
    extra = {f"triggerParam.triggers[{index}]": {"name": name, "data": {"data": "stolen.state", "op": "onChange"}} for index, name in zip(range(3, 6), "efg", strict=True)}
    errors = errors_of(mutate(FULL_DEFINITION, {**extra, "triggerParam.boolExp": "z & (t | d | e | f | g"}))
    assert [error.field for error in errors] == ["triggerParam.triggers", "triggerParam.boolExp"]
    assert "unbalanced parenthesis" in errors[1].message


def test_unusable_triggers_do_not_cascade_into_boolexp() -> None:
    assert fields_of(mutate(FULL_DEFINITION, {"triggerParam.triggers": "z"})) == ["triggerParam.triggers"]
    assert fields_of(mutate(FULL_DEFINITION, {"triggerParam.triggers": []})) == ["triggerParam.triggers"]


def test_broken_trigger_definition_still_lets_boolexp_be_checked() -> None:
    raw = mutate(FULL_DEFINITION, {f"{Z}.zone.transition": "Sideways", "triggerParam.boolExp": "z & t"})
    errors = errors_of(raw)
    assert [error.field for error in errors] == [f"{Z}.zone.transition", "triggerParam.boolExp"]


def test_expression_names_follow_trigger_order() -> None:
    definition = parse_monitor_definition(mutate(FULL_DEFINITION, {"triggerParam.boolExp": "d & (t | z)"}))
    assert definition.expression.names == ("z", "t", "d")
    assert definition.expression.evaluate({"z": True, "d": True})
    assert not definition.expression.evaluate({"z": True, "t": True})


# --------------------------------------------------------------------------- require_https


def test_require_https_also_applies_to_flat_callback() -> None:
    raw = mutate(FULL_DEFINITION, {f"{SUB}.callback": {"target": "http://my.dn/cb", "name": "n"}})
    assert errors_of(raw, require_https=True) == [
        FieldError(f"{SUB}.callback.target", "must use https (FLEETMON_REQUIRE_HTTPS_WEBHOOKS is on)")
    ]


# --------------------------------------------------------------------------- the seed monitors


def test_seed_autonomy_reports_the_unbalanced_parenthesis() -> None:
    errors = errors_of(load_seed("autonomy.json"))
    assert [error.field for error in errors] == ["triggerParam.boolExp"]
    assert "unbalanced parenthesis" in errors[0].message
    assert "column" in errors[0].message


def test_seed_autonomy_fixed_is_accepted_with_aliases_canonicalised() -> None:
    raw = load_seed("autonomy.json")
    raw["triggerParam"]["boolExp"] = "(outOfParis & (batteryIsLow | onMonday))"
    definition = parse_monitor_definition(raw)
    assert definition.canonical == {
        "label": "Paris urban zone With Data Triggering:[vehicle.energy.electric.level] on Mondays",
        "subscribeParam": {
            "refreshEvent": 600,
            "retryPolicy": {"policy": "Always", "retryNumber": 3, "retryDelay": 120},
            "batchNotify": {"size": 10, "timeWindow": 300},
            "callback": {
                "webhook": {
                    "target": "http://my.dn/monitors/cb1",
                    "name": "HTTP_CB",
                    "attributes": [
                        {"type": "Query", "key": "vin", "value": "$vin"},
                        {"type": "Header", "key": "Authorization", "value": "Basic QWxhZGRpbc2FtZQ=="},
                    ],
                }
            },
        },
        "extendedEventParam": ["vehicle.alerts", "vehicle.status"],
        "triggerParam": {
            "triggers": [
                {
                    "name": "outOfParis",
                    "zone": {
                        "transition": "Out",
                        "place": {"radius": 20, "center": {"latitude": 48.866667, "longitude": 2.333333}},
                    },
                },
                {
                    "name": "onMonday",
                    "time": {
                        "times": [
                            {
                                "recurrence": "Daily",
                                "start": "PT14H30M",
                                "duration": "PT04H30M",
                                "occurence": {"day": ["Mon"]},
                            }
                        ],
                        "timeZone": "Europe/Paris",
                    },
                },
                {
                    "name": "batteryIsLow",
                    "data": {"data": "vehicle.energy.electric.level", "op": "lowerThan", "value": ["50"]},
                },
            ],
            "boolExp": "(outOfParis & (batteryIsLow | onMonday))",
        },
    }
    assert definition.spec.trigger_names == ("outOfParis", "onMonday", "batteryIsLow")
    assert definition.spec.has_time_triggers
    assert definition.spec.refresh_event == 600
    # http is refused once https is required
    assert fields_of(raw, require_https=True) == ["subscribeParam.callback.target"]


def test_seed_heatwave_reports_the_misspelt_attributes() -> None:
    assert errors_of(load_seed("heatwave.json")) == [
        FieldError(
            "subscribeParam.callback.webhook.attributres",
            "unknown field 'attributres'; did you mean 'attributes'?",
        )
    ]


def test_seed_heatwave_fixed_is_accepted() -> None:
    raw = load_seed("heatwave.json")
    webhook = raw["subscribeParam"]["callback"]["webhook"]
    webhook["attributes"] = webhook.pop("attributres")
    definition = parse_monitor_definition(raw, require_https=True)
    assert definition.spec.extended_event_params == ("environment.air.temp",)
    assert definition.spec.webhook.attributes[0] == {"type": "Header", "key": "X-Vehicle_Id", "value": "$vin"}
    assert definition.spec.retry_policy == RetryPolicy(policy="Always", retry_number=3, retry_delay=120)
    triggers = {trigger.name: trigger for trigger in definition.spec.triggers}
    assert triggers["outsideTemperatureIsHight"].params["value"] == ["30"]
    assert "circle" not in json.dumps(definition.canonical)


def test_seed_merged_reports_undefined_triggers_and_the_boolexp() -> None:
    errors = errors_of(load_seed("merged.json"))
    by_field = {error.field: error.message for error in errors}
    for index, name in enumerate(["outOfParis", "outsideTemperatureIsHight", "onMonday", "batteryIsLow"]):
        assert by_field[f"triggerParam.triggers[{index}]"] == f"trigger '{name}' defines neither zone, time nor data"
    assert "unbalanced parenthesis" in by_field["triggerParam.boolExp"]
    assert by_field["subscribeParam.callback"] == "is required"
    assert len(errors) == 6


def test_seed_merged_fixed_is_accepted() -> None:
    autonomy = load_seed("autonomy.json")
    heatwave = load_seed("heatwave.json")
    raw = load_seed("merged.json")
    definitions = {
        trigger["name"]: trigger
        for trigger in autonomy["triggerParam"]["triggers"] + heatwave["triggerParam"]["triggers"]
    }
    raw["triggerParam"]["triggers"] = [definitions[trigger["name"]] for trigger in raw["triggerParam"]["triggers"]]
    raw["triggerParam"]["boolExp"] = "(outOfParis & (batteryIsLow | onMonday)) | (outOfParis & outsideTemperatureIsHight)"
    raw["subscribeParam"] = {"callback": {"webhook": {"target": "https://my.post.callback", "name": "merged"}}}
    definition = parse_monitor_definition(raw)
    assert definition.spec.trigger_names == ("outOfParis", "outsideTemperatureIsHight", "onMonday", "batteryIsLow")
    assert definition.spec.retry_policy == RetryPolicy(policy="Bounded", retry_number=3, retry_delay=10)
    assert definition.canonical["extendedEventParam"] == []
    assert definition.canonical["subscribeParam"] == {
        "retryPolicy": {"policy": "Bounded", "retryNumber": 3, "retryDelay": 10},
        "callback": {"webhook": {"target": "https://my.post.callback", "name": "merged", "attributes": []}},
    }


def test_seed_boolexp_names_only_reports_undefined_triggers() -> None:
    errors = errors_of(load_seed("boolexp-names-only.json"))
    by_field = {error.field: error.message for error in errors}
    for index, name in enumerate(["z1", "z2", "t1", "t2", "o1", "o2", "o3"]):
        assert by_field[f"triggerParam.triggers[{index}]"] == f"trigger '{name}' defines neither zone, time nor data"
    assert by_field["triggerParam.triggers"] == "must contain at most 5 triggers (got 7)"
    assert "triggerParam.boolExp" not in by_field  # its syntax is fine


# --------------------------------------------------------------------------- round trip


def _round_trip_inputs() -> list[Any]:
    inputs: list[Any] = [FULL_DEFINITION]
    inputs += [mutate(FULL_DEFINITION, case.mutations) for case in GOOD]
    autonomy = load_seed("autonomy.json")
    autonomy["triggerParam"]["boolExp"] = "outOfParis & (batteryIsLow | onMonday)"
    heatwave = load_seed("heatwave.json")
    webhook = heatwave["subscribeParam"]["callback"]["webhook"]
    webhook["attributes"] = webhook.pop("attributres")
    return [*inputs, autonomy, heatwave]


def test_round_trip_canonical_is_a_fixed_point() -> None:
    for raw in _round_trip_inputs():
        canonical = canonical_of(raw)
        again = canonical_of(copy.deepcopy(canonical))
        assert again == canonical
        # and survives JSON serialisation
        assert canonical_of(json.loads(json.dumps(canonical))) == canonical


# --------------------------------------------------------------------------- the reference's data table


def _operand(key: str) -> str:
    """A value the key accepts, whatever its op."""
    if key in DATA_KEY_ENUMS:
        return DATA_KEY_ENUMS[key][0]
    return {ValueKind.BOOLEAN: "true", ValueKind.NUMBER: "1"}.get(DATA_KEYS[key], "x")


def _data_trigger(key: str, op: str) -> dict[str, Any]:
    value = DELETE if op == "onChange" else [_operand(key)]
    return mutate(FULL_DEFINITION, {f"{D}.data.data": key, f"{D}.data.op": op, f"{D}.data.value": value})


@pytest.mark.parametrize("key", sorted(DATA_KEYS))
def test_each_key_accepts_exactly_the_ops_the_reference_table_lists(key: str) -> None:
    for op in ("equalsTo", "greaterThan", "lowerThan", "includedIn", "onChange"):
        raw = _data_trigger(key, op)
        if op in DATA_KEY_OPS[key]:
            assert canonical_of(raw)["triggerParam"]["triggers"][2]["data"]["op"] == op
        else:
            assert fields_of(raw) == [f"{D}.data.op"], op


def test_every_data_key_has_its_ops_and_enums_only_name_data_keys() -> None:
    assert set(DATA_KEY_OPS) == set(DATA_KEYS)
    assert set(DATA_KEY_ENUMS) <= set(DATA_KEYS)
    assert all(DATA_KEY_OPS[key] for key in DATA_KEYS)


# --------------------------------------------------------------------------- polygons, whatever is sent

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=40,
)
_position = st.lists(st.floats(-180, 180) | st.integers(-200, 200), min_size=1, max_size=4)
_closed_ring = st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3)).map(list), min_size=3, max_size=8).map(
    lambda positions: [*positions, positions[0]]
)
_rings = st.lists(_closed_ring | st.lists(_position, max_size=6), min_size=1, max_size=3)


def _outcome(polygon: Any) -> None:
    """Accepted, or refused with errors naming paths under the polygon: nothing else."""
    try:
        parse_monitor_definition(mutate(FULL_DEFINITION, {**AS_POLYGON, POLY: polygon}))
    except DefinitionError as exc:
        assert all(error.field.startswith(POLY) for error in exc.errors), exc.errors


@settings(max_examples=300, deadline=None)
@given(polygon=_json | st.fixed_dictionaries({"type": st.sampled_from(["Polygon", "MultiPolygon"]), "coordinates": _json}))
def test_any_json_as_a_polygon_is_accepted_or_refused_with_paths(polygon: Any) -> None:
    _outcome(polygon)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["Polygon", "MultiPolygon"]), parts=st.lists(_rings, min_size=1, max_size=3))
def test_near_valid_polygons_are_accepted_or_refused_with_paths(kind: str, parts: list) -> None:
    _outcome({"type": kind, "coordinates": parts[0] if kind == "Polygon" else parts})

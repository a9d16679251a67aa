from __future__ import annotations

import copy
import json

import pytest
from django.test import override_settings

from monitors.models import Monitor, Trigger
from tests.monitors.factories import MonitorFactory, load_seed, monitor_definition

pytestmark = pytest.mark.django_db


def fixed_autonomy() -> dict:
    seed = load_seed("autonomy.json")
    seed["triggerParam"]["boolExp"] = "(outOfParis & (batteryIsLow | onMonday))"
    return seed


def fixed_heatwave() -> dict:
    seed = load_seed("heatwave.json")
    webhook = seed["subscribeParam"]["callback"]["webhook"]
    webhook["attributes"] = webhook.pop("attributres")
    return seed


def fixed_merged() -> dict:
    seed = load_seed("merged.json")
    autonomy, heatwave = fixed_autonomy(), fixed_heatwave()
    definitions = {t["name"]: t for t in autonomy["triggerParam"]["triggers"] + heatwave["triggerParam"]["triggers"]}
    seed["triggerParam"]["triggers"] = [definitions[t["name"]] for t in seed["triggerParam"]["triggers"]]
    seed["triggerParam"]["boolExp"] = "((outOfParis & (batteryIsLow | onMonday)) | (outOfParis & outsideTemperatureIsHight))"
    seed["subscribeParam"] = heatwave["subscribeParam"]
    return seed


def post(api, fleet, body):
    return api.post(f"/api/v1/fleets/{fleet.pk}/monitors", body, format="json")


def test_post_answers_202_with_a_running_monitor_ref(api, fleet):
    response = post(api, fleet, monitor_definition())
    assert response.status_code == 202
    body = response.json()
    # Not the "Created" of the reference's documentation: its schema's enum has no such value.
    assert body["status"] == "Running"
    assert set(body) == {"monitorId", "status", "createdAt", "updatedAt", "_links"}
    assert body["_links"]["monitor"]["href"].endswith(f"/api/v1/fleets/{fleet.pk}/monitors/{body['monitorId']}")
    assert body["_links"]["fleet"]["href"].endswith(f"/api/v1/fleets/{fleet.pk}")
    monitor = Monitor.objects.get(pk=body["monitorId"])
    assert list(Trigger.objects.filter(monitor=monitor).values_list("name", "kind")) == [("outOfParis", "zone")]


def test_post_then_get_returns_the_canonical_form(api, fleet):
    monitor_id = post(api, fleet, fixed_autonomy()).json()["monitorId"]
    body = api.get(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor_id}").json()
    assert body["status"] == "Running"
    definition = body["monitor"]
    webhook = definition["subscribeParam"]["callback"]["webhook"]
    assert webhook["target"] == "http://my.dn/monitors/cb1"
    assert webhook["attributes"][1] == {"type": "Header", "key": "Authorization", "value": "Basic QWxhZGRpbc2FtZQ=="}
    assert definition["subscribeParam"]["retryPolicy"] == {"policy": "Always", "retryNumber": 3, "retryDelay": 120}
    assert "place" in definition["triggerParam"]["triggers"][0]["zone"]
    # In the reference's key order, not the one PostgreSQL's jsonb stores keys in.
    assert [key for key in definition if key != "extendedEventParam"] == ["label", "subscribeParam", "triggerParam"]
    assert list(definition["triggerParam"]) == ["triggers", "boolExp"]
    # Posting the canonical form again yields the very same canonical form.
    again = post(api, fleet, definition).json()["monitorId"]
    assert api.get(f"/api/v1/fleets/{fleet.pk}/monitors/{again}").json()["monitor"] == definition


def test_list_is_a_hal_collection(api, fleet):
    MonitorFactory(fleet=fleet)
    MonitorFactory(fleet=fleet)
    body = api.get(f"/api/v1/fleets/{fleet.pk}/monitors?pageSize=1").json()
    assert body["total"] == 2
    assert len(body["_embedded"]["monitors"]) == 1
    assert "next" in body["_links"]


def test_put_replaces_the_definition_and_starts_a_new_generation(api, fleet):
    monitor = MonitorFactory(fleet=fleet)
    replacement = monitor_definition(label="Renamed")
    response = api.put(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}", replacement, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "Running"
    monitor.refresh_from_db()
    assert monitor.label == "Renamed"
    assert monitor.definition["label"] == "Renamed"
    assert monitor.generation == 2


def test_put_with_invalid_definition_changes_nothing(api, fleet):
    monitor = MonitorFactory(fleet=fleet)
    response = api.put(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}", {"label": "x"}, format="json")
    assert response.status_code == 400
    monitor.refresh_from_db()
    assert monitor.label == "Out of Paris"


def test_delete_stops_the_monitor_for_good_and_keeps_it_for_operators(api, fleet):
    monitor = MonitorFactory(fleet=fleet)
    assert api.delete(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}").status_code == 204
    assert api.get(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}").status_code == 404
    assert api.put(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/status", {"status": "Running"}, format="json").status_code == 404
    assert api.get(f"/api/v1/fleets/{fleet.pk}/monitors").json()["total"] == 0
    assert Monitor.objects.get(pk=monitor.pk).deleted_at is not None
    assert not Monitor.objects.active().filter(pk=monitor.pk).exists()


@pytest.mark.parametrize("status", ["Paused", "Running"])
def test_status_can_be_set(api, fleet, status):
    monitor = MonitorFactory(fleet=fleet, status="Paused" if status == "Running" else "Running")
    response = api.put(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/status", {"status": status}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == status
    monitor.refresh_from_db()
    assert monitor.status == status


def test_running_resumes_a_failed_monitor_in_its_generation(api, fleet):
    monitor = MonitorFactory(fleet=fleet, status="Failed")
    response = api.put(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/status", {"status": "Running"}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "Running"
    monitor.refresh_from_db()
    assert (monitor.status, monitor.generation) == ("Running", 1)


def test_resuming_starts_a_new_generation(api, fleet):
    monitor = MonitorFactory(fleet=fleet, status="Paused")
    api.put(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/status", {"status": "Running"}, format="json")
    monitor.refresh_from_db()
    assert monitor.generation == 2


@pytest.mark.parametrize("body", [{"status": "Failed"}, {"status": "running"}, {}, {"status": "Paused", "x": 1}])
def test_bad_status_is_rejected(api, fleet, body):
    monitor = MonitorFactory(fleet=fleet)
    response = api.put(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/status", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] in ("status", "x")


def test_validation_errors_name_each_json_path(api, fleet):
    body = monitor_definition()
    body["triggerParam"]["triggers"][0]["zone"]["transition"] = "Sideways"
    body["subscribeParam"]["refreshEvent"] = 10
    response = post(api, fleet, body)
    assert response.status_code == 400
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"triggerParam.triggers[0].zone.transition", "subscribeParam.refreshEvent"}
    assert response.json()["code"] == 40001


def test_misspelt_enum_operand_and_unlisted_op_are_400_naming_their_paths(api, fleet):
    body = monitor_definition()
    body["triggerParam"]["triggers"] += [
        {"name": "c", "data": {"data": "vehicle.energy.charging.status", "op": "equalsTo", "value": ["Disconected"]}},
        {"name": "s", "data": {"data": "stolen.state", "op": "includedIn", "value": ["true"]}},
    ]
    body["triggerParam"]["boolExp"] = "outOfParis | c | s"
    response = post(api, fleet, body)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "triggerParam.triggers[1].data.value[0]",
            "message": "must be one of 'Disconnected', 'InProgress', 'Failure', 'Stopped', 'Finished' "
            "(got 'Disconected'); did you mean 'Disconnected'?",
        },
        {
            "field": "triggerParam.triggers[2].data.op",
            "message": "'stolen.state' only supports op 'equalsTo' or 'onChange' (got 'includedIn')",
        },
    ]
    assert not Monitor.objects.exists()


# A MultiPolygon as a GIS tool might write it: keys in its own order, an altitude, integers
# beside floats, a hole in the first part.
POLYGON_AS_GIVEN = {
    "coordinates": [
        [
            [[2.13, 48.73, 35.5], [2.53, 48.73, 35.5], [2.53, 48.99, 35.5], [2.13, 48.99, 35.5], [2.13, 48.73, 35.5]],
            [[2.31, 48.84], [2.36, 48.84], [2.36, 48.88], [2.31, 48.88], [2.31, 48.84]],
        ],
        [[[4, 45], [5.0, 45], [5, 46], [4, 46], [4, 45]]],
    ],
    "type": "MultiPolygon",
}


def polygon_monitor(transition="In", polygon=POLYGON_AS_GIVEN):
    return monitor_definition(
        triggerParam={
            "triggers": [{"name": "inZone", "zone": {"transition": transition, "polygon": polygon}}],
            "boolExp": "inZone",
        }
    )


def test_post_then_get_returns_a_polygon_zone_as_given(api, fleet):
    monitor_id = post(api, fleet, polygon_monitor()).json()["monitorId"]

    body = api.get(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor_id}").json()

    zone = body["monitor"]["triggerParam"]["triggers"][0]["zone"]
    assert zone == {"transition": "In", "polygon": POLYGON_AS_GIVEN}
    assert json.dumps(zone["polygon"]["coordinates"]) == json.dumps(POLYGON_AS_GIVEN["coordinates"])
    assert list(zone) == ["transition", "polygon"] and list(zone["polygon"]) == ["type", "coordinates"]
    assert list(Trigger.objects.filter(monitor_id=monitor_id).values_list("name", "kind")) == [("inZone", "zone")]


def test_put_turns_a_circle_into_a_polygon(api, fleet):
    monitor = MonitorFactory(fleet=fleet)
    url = f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}"

    assert api.put(url, polygon_monitor("Out"), format="json").status_code == 202

    zone = api.get(url).json()["monitor"]["triggerParam"]["triggers"][0]["zone"]
    assert zone == {"transition": "Out", "polygon": POLYGON_AS_GIVEN}


def test_invalid_polygon_is_a_400_naming_the_position(api, fleet):
    polygon = copy.deepcopy(POLYGON_AS_GIVEN)
    polygon["coordinates"][0][0][3] = [2.13, 95]

    response = post(api, fleet, polygon_monitor(polygon=polygon))

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "triggerParam.triggers[0].zone.polygon.coordinates[0][0][3][1]"
    assert error["message"] == (
        "a latitude must be between -90 and 90 (got 95); GeoJSON positions are [longitude, latitude], longitude first"
    )


def test_the_schema_documents_polygon_zones(api):
    schemas = api.get("/api/schema", {"format": "json"}).json()["components"]["schemas"]
    assert "polygon" in schemas["ZoneTrigger"]["properties"]
    assert schemas["ZoneTrigger"]["required"] == ["transition"]
    assert schemas["GeoJSONMultiPolygon"]["properties"]["type"]["enum"] == ["MultiPolygon"]
    assert "10,000 positions" in schemas["ZonePolygon"]["description"]


@override_settings(FLEETMON_REQUIRE_HTTPS_WEBHOOKS=True)
def test_http_target_refused_when_https_required(api, fleet):
    response = post(api, fleet, monitor_definition())
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "subscribeParam.callback.webhook.target"


@pytest.mark.parametrize("body", [[], "text", 12, None])
def test_non_object_body_is_rejected(api, fleet, body):
    response = api.post(f"/api/v1/fleets/{fleet.pk}/monitors", body, format="json")
    assert response.status_code == 400


def test_seed_autonomy_points_at_the_unbalanced_parenthesis(api, fleet):
    response = post(api, fleet, load_seed("autonomy.json"))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["triggerParam.boolExp"]
    assert "parenthes" in errors[0]["message"]


def test_seed_heatwave_names_attributres(api, fleet):
    response = post(api, fleet, load_seed("heatwave.json"))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors == [
        {
            "field": "subscribeParam.callback.webhook.attributres",
            "message": "unknown field 'attributres'; did you mean 'attributes'?",
        }
    ]


def test_seed_merged_points_at_undefined_triggers_and_the_expression(api, fleet):
    response = post(api, fleet, load_seed("merged.json"))
    assert response.status_code == 400
    fields = [e["field"] for e in response.json()["errors"]]
    for index in range(4):
        assert f"triggerParam.triggers[{index}]" in fields
    assert "triggerParam.boolExp" in fields


def test_seed_names_only_names_the_triggers_without_definition(api, fleet):
    response = post(api, fleet, load_seed("boolexp-names-only.json"))
    assert response.status_code == 400
    messages = " ".join(e["message"] for e in response.json()["errors"])
    for name in ("z1", "z2", "t1", "t2", "o1", "o2", "o3"):
        assert f"'{name}'" in messages


@pytest.mark.parametrize("fixed", [fixed_autonomy, fixed_heatwave, fixed_merged])
def test_seed_examples_are_accepted_once_fixed(api, fleet, fixed):
    response = post(api, fleet, fixed())
    assert response.status_code == 202, response.json()


def test_another_owners_monitors_answer_404(api, other_fleet):
    monitor = MonitorFactory(fleet=other_fleet)
    base = f"/api/v1/fleets/{other_fleet.pk}/monitors"
    calls = [
        ("get", base, None),
        ("post", base, monitor_definition()),
        ("get", f"{base}/{monitor.pk}", None),
        ("put", f"{base}/{monitor.pk}", monitor_definition(label="hijack")),
        ("delete", f"{base}/{monitor.pk}", None),
        ("put", f"{base}/{monitor.pk}/status", {"status": "Paused"}),
        ("get", f"{base}/{monitor.pk}/events", None),
    ]
    for method, url, body in calls:
        assert getattr(api, method)(url, body, format="json").status_code == 404, (method, url)
    monitor.refresh_from_db()
    assert (monitor.label, monitor.status, monitor.deleted_at) == ("Out of Paris", "Running", None)
    assert Monitor.objects.filter(fleet=other_fleet).count() == 1


def test_monitor_endpoints_require_a_token(anonymous_api, fleet):
    assert anonymous_api.get(f"/api/v1/fleets/{fleet.pk}/monitors").status_code == 401
    assert anonymous_api.post(f"/api/v1/fleets/{fleet.pk}/monitors", monitor_definition(), format="json").status_code == 401


def test_monitor_in_another_fleet_of_the_same_owner_answers_404(api, user, fleet):
    from tests.telemetry.factories import FleetFactory

    monitor = MonitorFactory(fleet=FleetFactory(owner=user))
    assert api.get(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}").status_code == 404


def test_definition_is_not_shared_between_requests(api, fleet):
    body = monitor_definition()
    snapshot = copy.deepcopy(body)
    post(api, fleet, body)
    assert body == snapshot


# --- values that used to pass validation and fail later (500s, or a stopped engine) ---

SUB = "subscribeParam"
WEBHOOK = "subscribeParam.callback.webhook"
PLACE = "triggerParam.triggers[0].zone.place"
TIME = "triggerParam.triggers[1].time"


def _with(path: str, value: object) -> dict:
    """monitor_definition() plus a time trigger, with `value` at the dotted `path`."""
    body = monitor_definition()
    body["triggerParam"]["triggers"].append(
        {"name": "t", "time": {"times": [{"recurrence": "Daily", "start": "PT8H", "duration": "PT1H"}]}}
    )
    body["triggerParam"]["boolExp"] = "outOfParis & t"
    body["subscribeParam"]["callback"]["webhook"]["attributes"] = [{"type": "Header", "key": "X-Id", "value": "$vin"}]
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    target = body
    for step in parents:
        target = target[int(step)] if step.isdigit() else target[step]
    target[int(last) if last.isdigit() else last] = value
    return body


RAW = "__raw__"


@pytest.mark.parametrize(
    ("path", "value", "field", "fragment"),
    [
        # 1. numbers: bounds, and no number without a float value
        (f"{SUB}.refreshEvent", 10**14, f"{SUB}.refreshEvent", "must be at most 2592000 s, i.e. 30 days"),
        (f"{SUB}.refreshEvent", RAW + "1e20", f"{SUB}.refreshEvent", "must be at most 2592000"),
        (f"{SUB}.refreshEvent", 10**30, f"{SUB}.refreshEvent", "(got a 31-digit number)"),
        (f"{SUB}.retryPolicy", {"policy": "Bounded", "retryDelay": 10**14}, f"{SUB}.retryPolicy.retryDelay", "must be at most 2592000"),
        (f"{SUB}.retryPolicy", {"policy": "Bounded", "retryNumber": 10**14}, f"{SUB}.retryPolicy.retryNumber", "must be at most 1000"),
        (f"{SUB}.batchNotify", {"size": 10**14}, f"{SUB}.batchNotify.size", "must be at most 1000"),
        (f"{SUB}.batchNotify", {"size": 5, "timeWindow": 10**14}, f"{SUB}.batchNotify.timeWindow", "must be at most 2592000"),
        (f"{PLACE}.radius", RAW + "1" + "0" * 400, f"{PLACE}.radius", "is too large for a number"),
        (f"{PLACE}.radius", RAW + "1e400", f"{PLACE}.radius", "must be a finite number"),
        (f"{PLACE}.radius", 40000, f"{PLACE}.radius", "must be at most 20037.5 km"),
        (f"{PLACE}.center.latitude", RAW + "-1" + "0" * 400, f"{PLACE}.center.latitude", "is too large for a number"),
        # 2. time values that overflowed datetime
        (f"{TIME}.times[0]", {"recurrence": "None", "start": "0001-01-01T00:00:00+23:59"}, f"{TIME}.times[0].start", "outside the years 1 to 9999"),
        (f"{TIME}.times[0]", {"recurrence": "None", "start": "9999-12-31T23:59:59-01:00"}, f"{TIME}.times[0].start", "outside the years 1 to 9999"),
        (f"{TIME}.times[0]", {"recurrence": "None", "start": "9999-12-31T00:00:00Z", "duration": "P1000D"}, f"{TIME}.times[0].start", "must be between 1970"),
        (f"{TIME}.times[0].duration", "P2000000D", f"{TIME}.times[0].duration", "a Daily window lasts at most 7 days"),
        (f"{TIME}.times[0].duration", "P999999999D", f"{TIME}.times[0].duration", "a Daily window lasts at most 7 days"),
        (f"{TIME}.times[0].duration", "P9999999999D", f"{TIME}.times[0].duration", "is too long a duration"),
        (f"{TIME}.times[0].duration", "PT99999999999999999999S", f"{TIME}.times[0].duration", "is too long a duration"),
        # 3. host files that are no time zone
        (f"{TIME}.timeZone", "localtime", f"{TIME}.timeZone", "unknown time zone 'localtime'"),
        (f"{TIME}.timeZone", "posixrules", f"{TIME}.timeZone", "unknown time zone 'posixrules'"),
        (f"{TIME}.timeZone", "Factory", f"{TIME}.timeZone", "unknown time zone 'Factory'"),
        # 4. headers that cannot be sent, or would hijack the request
        (f"{WEBHOOK}.attributes[0].value", "日本", f"{WEBHOOK}.attributes[0].value", "'日' (U+65E5) at position 0 is not one"),
        (f"{WEBHOOK}.attributes[0].key", "Transfer-Encoding", f"{WEBHOOK}.attributes[0].key", "frames or routes the request"),
        (f"{WEBHOOK}.attributes[0].key", "Webhook-Signature", f"{WEBHOOK}.attributes[0].key", "FleetMon signs every request with it"),
        # 5. lone surrogates, in values and keys (json.dumps writes them as \ud800 escapes)
        ("label", "ba\ud800se", "label", "must not contain surrogate characters"),
        (f"{WEBHOOK}.attributes[0].value", "\udfff", f"{WEBHOOK}.attributes[0].value", "must not contain surrogate characters"),
        ("\ud800", 1, "\\ud800", "field name must not contain surrogate characters"),
    ],
    ids=lambda value: str(value)[:40].encode("unicode_escape").decode() if isinstance(value, str) else None,
)
def test_values_that_failed_later_are_a_400_naming_the_path(api, fleet, path, value, field, fragment):
    raw = isinstance(value, str) and value.startswith(RAW)
    text = json.dumps(_with(path, RAW if raw else value))
    if raw:
        text = text.replace(json.dumps(RAW), value[len(RAW) :])
    response = api.post(f"/api/v1/fleets/{fleet.pk}/monitors", data=text, content_type="application/json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == 40001
    assert [error["field"] for error in body["errors"]] == [field], body["errors"]
    assert fragment in body["errors"][0]["message"]
    assert not Monitor.objects.exists()


def test_limits_themselves_are_accepted(api, fleet):
    body = _with(f"{SUB}.refreshEvent", 2592000)
    body["subscribeParam"]["retryPolicy"] = {"policy": "Bounded", "retryNumber": 1000, "retryDelay": 2592000}
    body["subscribeParam"]["batchNotify"] = {"size": 1000, "timeWindow": 2592000}
    body["triggerParam"]["triggers"][0]["zone"]["place"]["radius"] = 20037.5
    body["triggerParam"]["triggers"][1]["time"]["times"] = [
        {"recurrence": "Daily", "start": "PT23H59M59S", "duration": "P7D"},
        {"recurrence": "None", "start": "8999-12-31T00:00:00Z", "duration": "PT24H"},
    ]
    body["triggerParam"]["triggers"][1]["time"]["timeZone"] = "Pacific/Kiritimati"
    body["subscribeParam"]["callback"]["webhook"]["attributes"][0]["value"] = "Bearer ~!$vin\t" + "x" * 100
    body["label"] = "Van \U0001f697"
    text = json.dumps(body)
    # A character beyond U+FFFF written as a surrogate pair is one character, not two lone ones.
    assert "Van \\ud83d\\ude97" in text
    response = api.post(f"/api/v1/fleets/{fleet.pk}/monitors", data=text, content_type="application/json")
    assert response.status_code == 202, response.content
    monitor = Monitor.objects.get(pk=response.json()["monitorId"])
    assert monitor.label == "Van \U0001f697"
    assert monitor.next_time_boundary is not None


def dwell_definition(min_duration):
    definition = monitor_definition()
    definition["triggerParam"]["triggers"][0]["minDuration"] = min_duration
    return definition


def test_min_duration_is_stored_and_returned_as_given(api, fleet):
    response = post(api, fleet, dwell_definition("PT10M"))
    assert response.status_code == 202
    monitor_id = response.json()["monitorId"]
    got = api.get(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor_id}").json()
    assert got["monitor"]["triggerParam"]["triggers"][0]["minDuration"] == "PT10M"


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("PT0S", "must be between 'PT1S' and 'P1D' (got 'PT0S')"),
        ("P2D", "must be between 'PT1S' and 'P1D' (got 'P2D')"),
        ("ten minutes", "is not an ISO-8601 duration"),
        (600, "must be a string"),
    ],
)
def test_min_duration_outside_its_range_or_malformed_is_a_400_naming_it(api, fleet, given, fragment):
    response = post(api, fleet, dwell_definition(given))
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "triggerParam.triggers[0].minDuration"
    assert fragment in error["message"]
    assert not Monitor.objects.exists()


def test_the_schema_documents_min_duration(api):
    schemas = api.get("/api/schema", {"format": "json"}).json()["components"]["schemas"]
    assert "PT1S to P1D" in schemas["MonitorTrigger"]["properties"]["minDuration"]["description"]

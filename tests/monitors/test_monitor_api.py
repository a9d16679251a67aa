from __future__ import annotations

import copy

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


def test_post_answers_202_with_monitor_ref_created(api, fleet):
    response = post(api, fleet, monitor_definition())
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "Created"
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

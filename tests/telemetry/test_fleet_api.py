from __future__ import annotations

import re

import pytest

from telemetry.models import Fleet, Vehicle
from tests.telemetry.factories import FleetFactory, VehicleFactory

pytestmark = pytest.mark.django_db


def test_create_fleet_answers_201_with_hal_links(api):
    response = api.post("/api/v1/fleets", {"label": "Paris delivery vans"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["label"] == "Paris delivery vans"
    assert body["_links"]["self"]["href"].endswith(f"/api/v1/fleets/{body['id']}")
    assert body["_links"]["vehicles"]["href"].endswith(f"/api/v1/fleets/{body['id']}/vehicles")
    assert Fleet.objects.get(pk=body["id"]).label == "Paris delivery vans"


def test_fleet_list_shows_only_own_fleets(api, fleet, other_fleet):
    body = api.get("/api/v1/fleets").json()
    assert body["total"] == 1
    assert [f["id"] for f in body["_embedded"]["fleets"]] == [fleet.pk]


def test_patch_fleet_changes_label(api, fleet):
    response = api.patch(f"/api/v1/fleets/{fleet.pk}", {"label": "Renamed"}, format="json")
    assert response.status_code == 200
    fleet.refresh_from_db()
    assert fleet.label == "Renamed"


def test_delete_fleet_removes_it_and_its_vehicles(api, fleet):
    vehicle = VehicleFactory(fleet=fleet)
    assert api.delete(f"/api/v1/fleets/{fleet.pk}").status_code == 204
    assert not Fleet.objects.filter(pk=fleet.pk).exists()
    assert not Vehicle.objects.filter(pk=vehicle.pk).exists()
    assert api.get(f"/api/v1/fleets/{fleet.pk}").status_code == 404


def test_blank_label_is_rejected_naming_the_field(api):
    response = api.post("/api/v1/fleets", {"label": ""}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "label"


def test_label_length_counts_what_was_sent_before_trimming(api, fleet):
    # The schema says maxLength 255 of the value sent (found by the schema fuzz).
    response = api.patch(f"/api/v1/fleets/{fleet.pk}", {"label": "\n " + "*" * 255}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "label"
    assert api.patch(f"/api/v1/fleets/{fleet.pk}", {"label": " " + "*" * 254}, format="json").json()["label"] == "*" * 254


def test_schema_says_a_label_of_whitespace_only_is_refused(api, fleet):
    # The fuzz sent "\n", valid against minLength 1 alone, and got the 400 for a blank label.
    spec = api.get("/api/schema", {"format": "json"}).json()
    pattern = re.compile(spec["components"]["schemas"]["FleetInputRequest"]["properties"]["label"]["pattern"])
    for label in ["\n", " \t", "\x1c", "\u3000"]:
        assert not pattern.search(label)
        assert api.patch(f"/api/v1/fleets/{fleet.pk}", {"label": label}, format="json").status_code == 400
    for label in ["a", " b ", "\ufeff"]:
        assert pattern.search(label)
        assert api.patch(f"/api/v1/fleets/{fleet.pk}", {"label": label}, format="json").status_code == 200


def test_label_must_be_a_string(api):
    response = api.post("/api/v1/fleets", {"label": 12}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "label", "message": "Not a valid string."}]


def test_unknown_field_is_rejected_with_suggestion(api):
    response = api.post("/api/v1/fleets", {"label": "x", "lable": "y"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "lable", "message": "unknown field 'lable'; did you mean 'label'?"}]


def test_vehicle_create_list_get_delete(api, fleet):
    created = api.post(f"/api/v1/fleets/{fleet.pk}/vehicles", {"vin": "VF3ABCDE0FG123456"}, format="json")
    assert created.status_code == 201
    vid = created.json()["id"]
    listing = api.get(f"/api/v1/fleets/{fleet.pk}/vehicles").json()
    assert [v["vin"] for v in listing["_embedded"]["vehicles"]] == ["VF3ABCDE0FG123456"]
    assert api.get(f"/api/v1/fleets/{fleet.pk}/vehicles/{vid}").json()["vin"] == "VF3ABCDE0FG123456"
    assert api.delete(f"/api/v1/fleets/{fleet.pk}/vehicles/{vid}").status_code == 204
    assert api.get(f"/api/v1/fleets/{fleet.pk}/vehicles/{vid}").status_code == 404


@pytest.mark.parametrize(
    "vin, message",
    [
        ("VF3ABCDE0FG12345", "17 characters, not 16"),
        ("VF3ABCDE0FG1234567", "17 characters, not 18"),
        ("VF3ABCDE0FG12345I", "never contains I"),
        ("VF3ABCDE0FG12345O", "never contains O"),
        ("VF3ABCDE0FG12345Q", "never contains Q"),
        ("VF3ABCDE0FG12345-", "only digits and the letters"),
        ("", "may not be blank"),
    ],
)
def test_bad_vin_is_rejected(api, fleet, vin, message):
    response = api.post(f"/api/v1/fleets/{fleet.pk}/vehicles", {"vin": vin}, format="json")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "vin"
    assert message in error["message"]


def test_lower_case_vin_is_stored_upper_case(api, fleet):
    response = api.post(f"/api/v1/fleets/{fleet.pk}/vehicles", {"vin": "vf3abcde0fg123456"}, format="json")
    assert response.status_code == 201
    assert Vehicle.objects.get(pk=response.json()["id"]).vin == "VF3ABCDE0FG123456"


def test_duplicate_vin_across_the_service_answers_409(api, fleet, other_fleet):
    VehicleFactory(fleet=other_fleet, vin="VF3ABCDE0FG123456")
    response = api.post(f"/api/v1/fleets/{fleet.pk}/vehicles", {"vin": "vf3abcde0fg123456"}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == 40900
    assert body["errors"][0]["field"] == "vin"


@pytest.fixture
def tenancy_targets(other_fleet):
    vehicle = VehicleFactory(fleet=other_fleet)
    base = f"/api/v1/fleets/{other_fleet.pk}"
    return [
        ("get", base, None),
        ("patch", base, {"label": "stolen"}),
        ("delete", base, None),
        ("get", f"{base}/vehicles", None),
        ("post", f"{base}/vehicles", {"vin": "VF3ABCDE0FG123456"}),
        ("get", f"{base}/vehicles/{vehicle.pk}", None),
        ("delete", f"{base}/vehicles/{vehicle.pk}", None),
    ]


def test_another_owners_resources_answer_404(api, tenancy_targets, other_fleet):
    for method, url, body in tenancy_targets:
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == 404, (method, url)
        assert response.json()["code"] == 40400
    assert Fleet.objects.filter(pk=other_fleet.pk, label=other_fleet.label).exists()
    assert other_fleet.vehicles.count() == 1


def test_missing_token_answers_401_everywhere(anonymous_api, tenancy_targets):
    for method, url, body in tenancy_targets + [("get", "/api/v1/fleets", None), ("post", "/api/v1/fleets", {})]:
        response = getattr(anonymous_api, method)(url, body, format="json")
        assert response.status_code == 401, (method, url)
        assert response.json()["code"] == 40100
        assert response["WWW-Authenticate"].startswith("Token")


def test_bad_token_answers_401(anonymous_api):
    anonymous_api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = anonymous_api.get("/api/v1/fleets")
    assert response.status_code == 401
    assert response.json()["code"] == 40101


def test_pagination_with_page_size_and_tokens(api, user):
    fleets = [FleetFactory(owner=user) for _ in range(5)]
    first = api.get("/api/v1/fleets?pageSize=2").json()
    assert first["total"] == 5 and first["totalPage"] == 3 and first["currentPage"] == 1
    assert [f["id"] for f in first["_embedded"]["fleets"]] == [f.pk for f in fleets[:2]]
    second = api.get(first["_links"]["next"]["href"]).json()
    assert [f["id"] for f in second["_embedded"]["fleets"]] == [f.pk for f in fleets[2:4]]
    assert second["currentPage"] == 2 and "prev" in second["_links"]
    third = api.get(second["_links"]["next"]["href"]).json()
    assert [f["id"] for f in third["_embedded"]["fleets"]] == [fleets[4].pk]
    assert "next" not in third["_links"]


def test_index_range_limits_the_window(api, user):
    fleets = [FleetFactory(owner=user) for _ in range(5)]
    body = api.get("/api/v1/fleets?indexRange=1-3").json()
    assert body["total"] == 3
    assert [f["id"] for f in body["_embedded"]["fleets"]] == [f.pk for f in fleets[1:4]]
    open_ended = api.get("/api/v1/fleets?indexRange=3-").json()
    assert [f["id"] for f in open_ended["_embedded"]["fleets"]] == [f.pk for f in fleets[3:]]


@pytest.mark.parametrize(
    "query, field",
    [
        ("indexRange=abc", "indexRange"),
        ("pageSize=0", "pageSize"),
        ("pageSize=61", "pageSize"),
        ("pageSize=x", "pageSize"),
        ("pageToken=%%%", "pageToken"),
        ("pageToken=p-1", "pageToken"),
    ],
)
def test_bad_paging_parameters_answer_400_naming_them(api, fleet, query, field):
    response = api.get(f"/api/v1/fleets?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 40003
    assert body["errors"][0]["field"] == field


def test_empty_patch_changes_nothing(api, fleet):
    response = api.patch(f"/api/v1/fleets/{fleet.pk}", {}, format="json")
    assert response.status_code == 200
    assert response.json()["label"] == fleet.label

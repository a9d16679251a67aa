from __future__ import annotations

import pytest

from tests.fleetmon_project.test_errors import assert_xerror

pytestmark = pytest.mark.django_db

HAL = "application/hal+json"


def test_hal_clients_get_the_same_json_labelled_hal(api, fleet):
    plain = api.get(f"/api/v1/fleets/{fleet.pk}", HTTP_ACCEPT="application/json")
    hal = api.get(f"/api/v1/fleets/{fleet.pk}", HTTP_ACCEPT=HAL)
    assert hal.status_code == 200
    assert hal["Content-Type"] == HAL
    assert hal.content == plain.content


@pytest.mark.parametrize("accept", ["application/json", "*/*", None])
def test_json_and_unspecific_clients_keep_application_json(api, fleet, accept):
    extra = {"HTTP_ACCEPT": accept} if accept else {}
    assert api.get(f"/api/v1/fleets/{fleet.pk}", **extra)["Content-Type"] == "application/json"


def test_hal_client_creating_with_a_json_body_gets_hal(api):
    response = api.post("/api/v1/fleets", {"label": "hal"}, format="json", HTTP_ACCEPT=HAL)
    assert response.status_code == 201
    assert response["Content-Type"] == HAL
    assert response.json()["label"] == "hal"


def test_errors_stay_application_json_for_hal_clients(api, anonymous_api):
    # The reference's general_error_fragment declares xError as application/json only.
    assert_xerror(api.get("/api/v1/fleets/nope", HTTP_ACCEPT=HAL), 404, 40400)
    assert_xerror(api.post("/api/v1/fleets", {}, format="json", HTTP_ACCEPT=HAL), 400, 40001)
    assert_xerror(anonymous_api.get("/api/v1/fleets", HTTP_ACCEPT=HAL), 401, 40100)


def test_schema_offers_hal_for_successes_and_plain_json_for_errors(api):
    spec = api.get("/api/schema", {"format": "json"}).json()
    responses = spec["paths"]["/api/v1/fleets/{fleet_id}"]["get"]["responses"]
    assert set(responses["200"]["content"]) == {"application/json", HAL}
    assert set(responses["404"]["content"]) == {"application/json"}
    # The reference sends its request bodies as application/json only.
    assert set(spec["paths"]["/api/v1/fleets"]["post"]["requestBody"]["content"]) == {"application/json"}


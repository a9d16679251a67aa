from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetmon_project.media import MAX_JSON_DEPTH, exceeds_depth
from tests.monitors.factories import MonitorFactory
from tests.reference import assert_xerror

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


def nested(depth: int) -> str:
    return '{"label": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 1000, 100_000])
def test_too_deeply_nested_body_answers_400(api, fleet, depth):
    monitor = MonitorFactory(fleet=fleet)
    for url in [
        "/api/v1/fleets",
        f"/api/v1/fleets/{fleet.pk}",
        f"/api/v1/fleets/{fleet.pk}/monitors",
        f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}",
        "/api/v1/telemetry",
    ]:
        method = api.patch if url == f"/api/v1/fleets/{fleet.pk}" else api.put if "monitors/" in url else api.post
        body = assert_xerror(method(url, data=nested(depth), content_type="application/json"), 400, 40002)
        assert "nested too deeply" in body["message"]


def test_nesting_up_to_the_limit_reaches_validation(api):
    # The label's arrays plus the enclosing object make exactly MAX_JSON_DEPTH levels.
    response = api.post("/api/v1/fleets", data=nested(MAX_JSON_DEPTH - 1), content_type="application/json")
    assert_xerror(response, 400, 40001)


def test_depth_check_needs_no_recursion():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert exceeds_depth(deep, MAX_JSON_DEPTH)
    assert not exceeds_depth({"a": [{"b": 1}], "c": []}, 3)
    assert exceeds_depth({"a": [{"b": []}]}, 3)


def _depth(value: object) -> int:
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        return 0
    return 1 + max(map(_depth, value), default=0)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4),
    max_leaves=30,
)


@given(value=st.lists(_json_values, max_size=4) | st.dictionaries(st.text(max_size=2), _json_values, max_size=4))
def test_depth_check_agrees_with_the_nesting_depth(value):
    depth = _depth(value)
    assert not exceeds_depth(value, depth)
    assert exceeds_depth(value, depth - 1)

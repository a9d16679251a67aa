from __future__ import annotations

import re

import pytest

from fleetmon_project.unserved import UNSERVED

pytestmark = pytest.mark.django_db


def concrete(route: str) -> str:
    return "/api/v1/" + re.sub(r"<str:(\w+)>", lambda m: f"some-{m.group(1)}", route)


@pytest.mark.parametrize(("route", "feature"), UNSERVED)
def test_reference_paths_outside_fleetmon_answer_501_naming_the_feature(api, route, feature):
    response = api.get(concrete(route))

    assert response.status_code == 501
    body = response.json()
    assert body["code"] == 50100
    assert f"does not serve {feature}" in body["message"]


def test_remote_commands_are_501_for_every_method(api):
    url = concrete("fleets/<str:fleet_id>/remote/callbacks")
    for method in (api.post, api.put, api.delete):
        assert method(url, {}, format="json").status_code == 501


def test_unserved_paths_still_require_authentication(anonymous_api):
    response = anonymous_api.get(concrete(UNSERVED[0][0]))

    assert response.status_code == 401
    assert response.json()["code"] == 40100


def test_unserved_paths_are_left_out_of_the_openapi_schema(api):
    paths = api.get("/api/schema", {"format": "json"}).json()["paths"]

    assert "/api/v1/fleets/{fleet_id}/monitors" in paths
    assert not [path for path in paths if path.endswith(("/trips", "/collisions", "/remote/callbacks"))]

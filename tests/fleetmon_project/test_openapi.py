from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def operations(api):
    spec = api.get("/api/schema", {"format": "json"}).json()
    return {
        (method.upper(), path.removeprefix("/api/v1")): operation
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }


@pytest.mark.parametrize(
    "method, path, tag",
    [
        ("GET", "/fleets", "fleets"),
        ("POST", "/fleets/{fleet_id}/vehicles", "vehicles"),
        ("POST", "/telemetry", "telemetry"),
        ("POST", "/fleets/{fleet_id}/monitors", "monitors"),
        ("PUT", "/fleets/{fleet_id}/monitors/{monitor_id}/status", "monitors"),
        ("GET", "/fleets/{fleet_id}/monitors/{monitor_id}/events", "monitors"),
        ("GET", "/fleets/{fleet_id}/monitors/{monitor_id}/deliveries", "deliveries"),
        ("POST", "/fleets/{fleet_id}/monitors/{monitor_id}/deliveries/{delivery_id}/retry", "deliveries"),
        ("POST", "/fleets/{fleet_id}/monitors/{monitor_id}/test", "deliveries"),
        ("POST", "/fleets/{fleet_id}/webhook-secret/rotate", "webhooks"),
    ],
)
def test_operations_are_tagged_by_resource(operations, method, path, tag):
    assert operations[(method, path)]["tags"] == [tag]


def test_every_tag_used_is_declared(api, operations):
    declared = {tag["name"] for tag in api.get("/api/schema", {"format": "json"}).json()["tags"]}
    assert {tag for operation in operations.values() for tag in operation["tags"]} == declared


def test_webhook_test_documents_its_errors_and_in_body_failures(operations):
    responses = operations[("POST", "/fleets/{fleet_id}/monitors/{monitor_id}/test")]["responses"]
    assert {"200", "401", "404", "429"} <= set(responses)
    assert "blocked" in responses["200"]["description"]

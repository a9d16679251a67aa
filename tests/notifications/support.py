"""Independent checks for webhook requests: the reference template's schema and a
hand-written Standard Webhooks verifier (deliberately not notifications.signing)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator

from tests.reference import assert_api_schema_without_links

# The reference's webhook template, verbatim (tests/fixtures/README.md).
TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "stellantis-b2b-webhook-template.yaml"


@cache
def _monitor_events_validator() -> OAS30Validator:
    spec = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    # The template's own components are the root document, so its "#/components/..." refs resolve.
    return OAS30Validator({"$ref": "#/components/schemas/MonitorEvents", "components": spec["components"]})


def assert_monitor_events(body: Any) -> None:
    """Validate against the template's MonitorEvents, then check what the template leaves
    open (no required fields, extra fields allowed) against the issue's exact shape."""
    _monitor_events_validator().validate(body)
    assert set(body) == {"monitorId", "attributes", "events"}
    for attribute in body["attributes"]:
        assert set(attribute) == {"key", "value"}
    for event in body["events"]:
        assert set(event) == {"fleetId", "vin", "eventDate", "values", "extensions", "refresh"}


# The API model of each extension body field (the template's table: "the type is the same as
# the related one in the API spec (without HAL links)").
EXTENSION_MODELS = {
    "position": "Position",
    "status": "Status",
    "doorState": "DoorsState",
    "trip": "Trip",
    "telemetry": "Telemetry",
}


def assert_extension_models(body: Any) -> None:
    """Every extension body of a MonitorEvents body validates against its API model."""
    for event in body["events"]:
        for extension in event["extensions"]:
            for field, value in extension["body"].items():
                if field in EXTENSION_MODELS:
                    assert_api_schema_without_links(value, EXTENSION_MODELS[field])


def verify_signature(*, secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks, by hand: HMAC-SHA256 over "id.timestamp.body" with the base64 key
    after "whsec_", compared with any "v1,<base64>" in the space-separated header."""
    headers = {name.lower(): value for name, value in headers.items()}
    key = base64.b64decode(secret[len("whsec_"):])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(signature, expected)
        for version, _, signature in (item.partition(",") for item in headers["webhook-signature"].split(" "))
    )

"""Validation against the Stellantis reference's own schemas (tests/fixtures/reference, verbatim),
so that what FleetMon answers or sends is checked by an OpenAPI validator, not by our reading."""

from __future__ import annotations

import json
import re
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator

REFERENCE = Path(__file__).resolve().parent / "fixtures" / "reference"


# Errata of the reference, corrected where its schemas are loaded (the file stays verbatim): the
# trigger-name pattern carries JSON quotes inside the regex, which no name, not even the
# reference's own examples, can match.
_TRIGGER_NAME_PATTERN = '"[a-zA-Z]+[._]?[0-9]*"'


@cache
def _components(document: str) -> dict[str, Any]:
    components = yaml.safe_load((REFERENCE / document).read_text(encoding="utf-8"))["components"]
    trigger = components["schemas"].get("MonitorTrigger")
    if trigger and trigger["properties"]["name"].get("pattern") == _TRIGGER_NAME_PATTERN:
        trigger["properties"]["name"]["pattern"] = _TRIGGER_NAME_PATTERN.strip('"')
    return components


@cache
def _validator(document: str, schema: str) -> OAS30Validator:
    # The document's components are the root, so its "#/components/..." refs resolve.
    return OAS30Validator({"$ref": f"#/components/schemas/{schema}", "components": _components(document)})


def assert_api_schema(body: Any, schema: str) -> None:
    """`body` validates against `components.schemas.<schema>` of stellantis-b2b-api.yaml."""
    _validator("stellantis-b2b-api.yaml", schema).validate(body)


def assert_webhook_schema(body: Any, schema: str) -> None:
    """`body` validates against `components.schemas.<schema>` of the webhook template."""
    _validator("stellantis-b2b-webhook-template.yaml", schema).validate(body)


def _links_optional(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: [name for name in value if name != "_links"] if key == "required" and isinstance(value, list)
            else _links_optional(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_links_optional(item) for item in node]
    return node


@cache
def _validator_without_links(schema: str) -> OAS30Validator:
    components = _links_optional(_components("stellantis-b2b-api.yaml"))
    return OAS30Validator({"$ref": f"#/components/schemas/{schema}", "components": components})


def assert_api_schema_without_links(body: Any, schema: str) -> None:
    """`body` validates against the API's `<schema>` with `_links` required nowhere, and has no
    `_links` at any depth: the webhook template's extensions are the API's models "without HAL
    links"."""
    assert "_links" not in json.dumps(body), "an extension body carries HAL links"
    _validator_without_links(schema).validate(body)


def assert_xerror(response, status: int, code: int) -> dict:
    """The answer is an xError of `status` and `code`, valid against the reference's schema, with a
    UUID and a timestamp to the millisecond in UTC (which the schema leaves free)."""
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert_api_schema(body, "xError")
    assert body["code"] == code
    uuid.UUID(body["uuid"])
    assert body["message"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", body["timestamp"])
    return body

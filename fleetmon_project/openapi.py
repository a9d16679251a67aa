"""drf-spectacular post-processing: state in the schema what the API enforces."""

from __future__ import annotations

from typing import Any

from fleetmon_project.media import REFERENCE_MEDIA_TYPES


def forbid_unknown_request_fields(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Request bodies reject unknown fields, so their schemas say `additionalProperties: false`."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and "properties" in component:
            component.setdefault("additionalProperties", False)
    return result


def add_monitor_components(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """The monitor contract's schemas are written by hand (monitors.openapi), not derived."""
    from monitors.openapi import COMPONENTS

    result.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
    return result


def require_declared_bodies(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Every body an operation declares is mandatory: an empty request is answered 400."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return result


def errors_are_plain_json(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Success bodies are also offered as the reference's media types; errors never are (see BaseAPIView)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for code, response in operation.get("responses", {}).items():
                if str(code)[0] in "45":
                    for media_type in REFERENCE_MEDIA_TYPES:
                        response.get("content", {}).pop(media_type, None)
    return result

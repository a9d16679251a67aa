"""The OpenAPI security schemes of `ApiClientAuthentication`, named as in the reference
(`BasicAuth` + `ClientId`, both required together)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from fleetmon_project.authentication import CLIENT_ID_PARAMETER


class ApiClientAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "telemetry.authentication.ApiClientAuthentication"
    name = ["BasicAuth", "ClientId"]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "http",
                "scheme": "basic",
                "description": "The API client owner's username and the client's secret",
            },
            {
                "type": "apiKey",
                "in": "query",
                "name": CLIENT_ID_PARAMETER,
                "description": "The API client's public id, on every call",
            },
        ]

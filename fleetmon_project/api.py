"""Plumbing shared by every API view: strict bodies, rate-limit headers, HAL links."""

from __future__ import annotations

import difflib
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fleetmon_project.authentication import CLIENT_ID_PARAMETER
from fleetmon_project.errors import MALFORMED_BODY, VALIDATION, ApiError
from fleetmon_project.jsonvalues import may_hold_unstorable_text, unstorable_text
from fleetmon_project.media import ReferenceJSONRenderer


def unknown_field_message(name: str, known: list[str] | tuple[str, ...]) -> str:
    guess = difflib.get_close_matches(name, known, n=1)
    suffix = f"; did you mean '{guess[0]}'?" if guess else ""
    return f"unknown field '{name}'{suffix}"


class StrictCharField(serializers.CharField):
    """DRF coerces numbers to strings; a JSON number where text is expected is a client bug."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        # The schema's maxLength bounds what was sent; DRF would measure it after trimming.
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know: a silently dropped field is worse than an error."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            known = [name for name, field in self.fields.items() if not field.read_only]
            unknown = {key: [unknown_field_message(key, known)] for key in data if key not in known}
            if unknown:
                raise serializers.ValidationError(unknown)
        return super().to_internal_value(data)


class QuerySerializer(StrictSerializer):
    """Query filters: an empty `?state=` is a client mistake, not "no filter" (DRF would
    silently treat it as absent for an optional field)."""

    def to_internal_value(self, data: Any) -> Any:
        if CLIENT_ID_PARAMETER in data:
            data = data.copy()
            data.pop(CLIENT_ID_PARAMETER)
        empty = {key: ["must not be empty"] for key, value in data.items() if value == ""}
        if empty:
            raise serializers.ValidationError(empty)
        return super().to_internal_value(data)


class BaseAPIView(APIView):
    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 and isinstance(getattr(response, "accepted_renderer", None), ReferenceJSONRenderer):
            # The reference answers its xError as application/json whatever the success type.
            response.accepted_renderer, response.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        for header, value in getattr(request, "rate_limit", {}).items():
            response[header] = value
        return response


def request_owner(request: Request) -> User:
    """The user an API request acts for: the owner its fleets are looked up under. Every API
    view requires authentication, so an anonymous request never gets here; if one did, it is
    refused, never served as nobody's."""
    if not isinstance(request.user, User):
        raise exceptions.NotAuthenticated()
    return request.user


def json_body(request: Request) -> Any:
    """The parsed JSON body; an absent body is a 400, not an empty object."""
    if not request.body:
        raise ApiError(status_code=400, message="A JSON request body is required.", specific=MALFORMED_BODY)
    data = request.data
    # Here, once for every endpoint: a serializer or validator would quote such text back
    # in its own errors, and neither PostgreSQL nor our UTF-8 responses can hold it. The walk
    # cost a fifth of a telemetry request; most bodies cannot hold such text at all.
    encoding = request.parser_context.get("encoding") or settings.DEFAULT_CHARSET
    problems = unstorable_text(data) if may_hold_unstorable_text(request.body, encoding) else []
    if problems:
        raise ApiError(
            status_code=400,
            message="; ".join(f"{path}: {message}" if path else message for path, message in problems),
            specific=VALIDATION,
            errors=[{"field": path, "message": message} for path, message in problems],
        )
    return data


def href(request: Request, path: str) -> dict[str, str]:
    return {"href": request.build_absolute_uri(path)}


class _LinkSerializer(serializers.Serializer):
    href = serializers.CharField()


class _CollectionLinksSerializer(serializers.Serializer):
    self = _LinkSerializer()
    first = _LinkSerializer()
    next = _LinkSerializer(required=False)
    prev = _LinkSerializer(required=False)
    last = _LinkSerializer()


class XErrorFieldSerializer(serializers.Serializer):
    field = serializers.CharField()
    message = serializers.CharField()


class XErrorSerializer(serializers.Serializer):
    code = serializers.IntegerField(help_text="HTTP status x 100 + a 2-digit specific code")
    uuid = serializers.CharField()
    message = serializers.CharField()
    timestamp = serializers.DateTimeField()
    # A declared field, taken out of the class body by DRF: it does not hide Serializer.errors.
    errors = XErrorFieldSerializer(many=True, required=False)  # type: ignore[assignment]


def collection_schema(name: str, item: dict[str, Any]) -> dict[str, Any]:
    """The HAL collection envelope around a hand-written item schema, for the OpenAPI schema."""
    return {
        "type": "object",
        "properties": {
            "_links": {"type": "object"},
            "total": {"type": "integer"},
            "totalPage": {"type": "integer"},
            "currentPage": {"type": "integer"},
            "_embedded": {
                "type": "object",
                "properties": {name: {"type": "array", "items": item}},
            },
        },
        "required": ["_links", "total", "_embedded"],
    }


def error_responses(*, not_found: str, bad_request: str | None = None) -> dict[int, OpenApiResponse]:
    """The xError answers every API operation documents; `bad_request` where it takes input."""
    responses = {
        401: OpenApiResponse(XErrorSerializer, description="Missing or invalid credentials"),
        404: OpenApiResponse(XErrorSerializer, description=not_found),
        429: OpenApiResponse(XErrorSerializer, description="Rate limited"),
    }
    if bad_request is not None:
        responses[400] = OpenApiResponse(XErrorSerializer, description=bad_request)
    return dict(sorted(responses.items()))


def collection_serializer(name: str, item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The HAL collection envelope around `item`, for the OpenAPI schema."""
    embedded = type(f"{item.__name__}Embedded", (serializers.Serializer,), {name: item(many=True)})
    return type(
        f"{item.__name__}Collection",
        (serializers.Serializer,),
        {
            "_links": _CollectionLinksSerializer(),
            "total": serializers.IntegerField(),
            "totalPage": serializers.IntegerField(),
            "currentPage": serializers.IntegerField(),
            "_embedded": embedded(),
        },
    )

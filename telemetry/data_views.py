"""The reference's vehicle-data reads (lastPosition, status, telemetry, alerts, capabilities),
served from the state and points FleetMon keeps, in the reference's shapes and media types."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from fleetmon_project.api import BaseAPIView, collection_schema, error_responses, href, request_owner
from fleetmon_project.errors import ApiError
from fleetmon_project.isodates import format_rfc3339
from fleetmon_project.media import GeoJSONRenderer
from fleetmon_project.pagination import (
    HIGH_FREQUENCY_PAGING_PARAMETERS,
    MAX_HIGH_FREQUENCY_PAGE_SIZE,
    PAGING_PARAMETERS,
    paginate,
)
from fleetmon_project.timeranges import ITEM_PATTERN, MAX_ITEMS
from telemetry import selectors
from telemetry.alerts import Alert, Fix, alert_body
from telemetry.datakeys import TELEMETRY_TYPES
from telemetry.models import TelemetryPoint, Vehicle
from telemetry.reference import POSITION_KEY, position_feature, status_body, telemetry_body
from telemetry.serializers import (
    DATA_PROFILES,
    LOCALE_PATTERN,
    TELEMETRY_EXTENSIONS,
    VEHICLE_EXTENSIONS,
    AlertQuerySerializer,
    CapabilitiesQuerySerializer,
    PagedVehicleDataQuerySerializer,
    TelemetryQuerySerializer,
    VehicleDataQuerySerializer,
)
from telemetry.state import KeyRecord, LatestState

ERRORS = error_responses(
    not_found="Unknown fleet, vehicle or alert, or no data known yet",
    bad_request="A malformed query parameter, named in `errors`",
)
_OBJECT = {"type": "object"}
_LINK = {"type": "object", "properties": {"href": {"type": "string"}}, "required": ["href"]}
_LINKS = {"type": "object", "additionalProperties": _LINK, "required": ["self"]}
_DATE = {"type": "string", "format": "date-time"}
POSITION_SCHEMA = {
    "type": "object",
    "description": "The reference's Position: a GeoJSON Feature whose geometry is a Point [longitude, latitude]",
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "geometry": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["Point"]},
                "coordinates": {"type": "array", "items": {"type": "number"}, "minItems": 2},
            },
            "required": ["type", "coordinates"],
        },
        "properties": {
            "type": "object",
            "properties": {"vin": {"type": "string"}, "createdAt": _DATE},
            "required": ["createdAt"],
        },
    },
    "required": ["type", "geometry", "properties"],
}
STATUS_SCHEMA = {
    "type": "object",
    "description": "The reference's Status: the latest known value of each section (energies, kinetic, ...)",
    "properties": {"_links": _LINKS, "vin": {"type": "string"}, "createdAt": _DATE, "lastPosition": POSITION_SCHEMA},
    "required": ["_links", "vin", "createdAt"],
}
TELEMETRY_SCHEMA = {
    "type": "object",
    "description": "The reference's Telemetry: one stored point, its sections under `vehicle`, `environment`, `privacy`",
    "properties": {"_links": _LINKS, "createdAt": _DATE, "vehicle": _OBJECT, "environment": _OBJECT, "privacy": _OBJECT},
    "required": ["_links", "createdAt"],
}
ALERT_SCHEMA = {
    "type": "object",
    "description": "The reference's Alert, derived from `vehicle.alert`",
    "properties": {
        "_links": _LINKS,
        "id": {"type": "string"},
        "vin": {"type": "string"},
        "active": {"type": "boolean"},
        "type": {"type": "string", "description": "AlertMsgEnum"},
        "severity": {"type": "string", "enum": ["Information", "Warning", "Critical"]},
        "startedAt": _DATE,
        "endAt": _DATE,
        "createdAt": _DATE,
        "updatedAt": _DATE,
        "startPosition": POSITION_SCHEMA,
        "endPosition": POSITION_SCHEMA,
    },
    "required": ["_links", "id", "vin", "active", "type", "startedAt", "createdAt"],
}
CAPABILITIES_SCHEMA = {
    "type": "object",
    "description": "The reference's VehicleCapabilities, as far as FleetMon knows them",
    "properties": {"_links": _LINKS, "vin": {"type": "string"}, "createdAt": _DATE},
    "required": ["_links", "vin", "createdAt"],
}

PROFILE = OpenApiParameter(
    "profile",
    {"type": "string", "enum": list(DATA_PROFILES)},
    description="Accepted for the reference's clients and ignored: every profile sees the same data",
)
TIMESTAMPS = OpenApiParameter(
    "timestamps",
    {"type": "array", "minItems": 1, "maxItems": MAX_ITEMS, "items": {"type": "string", "pattern": ITEM_PATTERN}},
    explode=True,
    description="Time ranges, repeated: 'T1/T2', 'T/PT1H', 'PT1H/T', 'T/' (to now), '/T', 'Rn/T/D[/d]' "
    "(n ranges of length d, default P1D, every D from T; 'R/T/D[/d]' up to now). T in RFC 3339 with an "
    "offset. Results within any of them",
)
ALERT_TIMESTAMPS = OpenApiParameter(
    TIMESTAMPS.name, TIMESTAMPS.type, explode=True, description=TIMESTAMPS.description + " (alerts active at an instant of one)"
)
TELEMETRY_TYPE = OpenApiParameter(
    "type",
    {"type": "array", "minItems": 1, "maxItems": len(TELEMETRY_TYPES), "items": {"type": "string", "enum": list(TELEMETRY_TYPES)}},
    explode=True,
    description="Only points holding data of these TelemetryEnum types, and only that data",
)


def _enum_list(name: str, values: tuple[str, ...]) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        {"type": "array", "minItems": 1, "maxItems": len(values), "items": {"type": "string", "enum": list(values)}},
        explode=True,
        description="Accepted for the reference's clients and ignored",
    )


def _query(serializer: type[Serializer], request: Request) -> dict[str, Any]:
    query = serializer(data=request.query_params, context={"now": timezone.now()})
    query.is_valid(raise_exception=True)
    return query.validated_data


def _vehicle(request: Request, fleet_id: str, vehicle_id: str) -> Vehicle:
    fleet = selectors.fleet_get(owner=request_owner(request), fleet_id=fleet_id)
    return selectors.vehicle_get(fleet=fleet, vehicle_id=vehicle_id)


def _vehicle_path(fleet_id: str, vehicle_id: str) -> str:
    return f"/api/v1/fleets/{fleet_id}/vehicles/{vehicle_id}"


def _not_known_yet(what: str) -> ApiError:
    return ApiError(status_code=status.HTTP_404_NOT_FOUND, message=f"No {what} is known yet for this vehicle.")


def render_status(request: Request, vehicle: Vehicle, state: LatestState) -> dict[str, Any]:
    base = _vehicle_path(vehicle.fleet_id, vehicle.pk)
    return {
        "_links": {
            "self": href(request, f"{base}/status"),
            "vehicle": href(request, base),
            "fleet": href(request, f"/api/v1/fleets/{vehicle.fleet_id}"),
        },
        **status_body(vin=vehicle.vin, state=state),
    }


def _position(vin: str, fix: Fix | None) -> dict[str, Any] | None:
    if fix is None:
        return None
    extras = {} if fix.extras is None else {POSITION_KEY: KeyRecord(value=fix.extras, at=fix.at)}
    state = LatestState(data=extras, latitude=fix.latitude, longitude=fix.longitude, position_at=fix.at)
    return position_feature(vin=vin, state=state)


def render_alert(request: Request, fleet_id: str, vin: str, alert: Alert) -> dict[str, Any]:
    base = _vehicle_path(fleet_id, alert.vehicle_id)
    body = {
        "_links": {"self": href(request, f"{base}/alerts/{alert.id}"), "vehicle": href(request, base)},
        **alert_body(vin=vin, alert=alert),
    }
    for field, fix in (("startPosition", alert.start_fix), ("endPosition", alert.end_fix)):
        position = _position(vin, fix)
        if position is not None:
            body[field] = position
    return body


def render_telemetry(request: Request, vehicle: Vehicle, point: TelemetryPoint, types: list[str] | None) -> dict[str, Any]:
    base = _vehicle_path(vehicle.fleet_id, vehicle.pk)
    # No path serves one point; its link is the collection narrowed to its instant.
    instant = format_rfc3339(point.event_date)
    body = telemetry_body(event_date=point.event_date, data=point.data, types=types)
    return {
        "_links": {
            "self": href(request, f"{base}/telemetry?{urlencode({'timestamps': f'{instant}/{instant}'})}"),
            "vehicle": href(request, base),
        },
        # A point listed for a key whose value has no place in the reference: its date only.
        **(body or {"createdAt": instant}),
    }


@extend_schema(tags=["vehicles"])
class LastPositionView(BaseAPIView):
    renderer_classes = [JSONRenderer, GeoJSONRenderer]

    @extend_schema(
        operation_id="getCarLastPosition",
        parameters=[PROFILE],
        responses={200: OpenApiResponse(POSITION_SCHEMA, description="The latest position received"), **ERRORS},
    )
    def get(self, request: Request, fleet_id: str, vehicle_id: str) -> Response:
        _query(VehicleDataQuerySerializer, request)
        vehicle = _vehicle(request, fleet_id, vehicle_id)
        feature = position_feature(vin=vehicle.vin, state=selectors.vehicle_state_get(vehicle=vehicle))
        if feature is None:
            raise _not_known_yet("position")
        return Response(feature)


@extend_schema(tags=["vehicles"])
class VehicleStatusView(BaseAPIView):
    @extend_schema(
        operation_id="getFleetVehicleStatus",
        parameters=[PROFILE],
        responses={200: OpenApiResponse(STATUS_SCHEMA, description="The latest known values"), **ERRORS},
    )
    def get(self, request: Request, fleet_id: str, vehicle_id: str) -> Response:
        _query(VehicleDataQuerySerializer, request)
        vehicle = _vehicle(request, fleet_id, vehicle_id)
        state = selectors.vehicle_state_get(vehicle=vehicle)
        if state.last_seen_at is None:
            raise _not_known_yet("status")
        return Response(render_status(request, vehicle, state))


@extend_schema(tags=["fleets"])
class FleetStatusView(BaseAPIView):
    @extend_schema(
        operation_id="getFleetStatusList",
        parameters=[PROFILE, *PAGING_PARAMETERS],
        responses={
            200: OpenApiResponse(
                collection_schema("status", STATUS_SCHEMA), description="Every vehicle that has reported, in creation order"
            ),
            **ERRORS,
        },
    )
    def get(self, request: Request, fleet_id: str) -> Response:
        _query(PagedVehicleDataQuerySerializer, request)
        fleet = selectors.fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        vehicles = selectors.vehicle_list_with_state(fleet=fleet)
        return Response(
            paginate(
                request=request,
                items=vehicles,
                name="status",
                render=lambda v: render_status(request, v, selectors.vehicle_state(v)),
            )
        )


@extend_schema(tags=["telemetry"])
class TelemetryListView(BaseAPIView):
    @extend_schema(
        operation_id="getTelemetry",
        parameters=[
            PROFILE,
            TIMESTAMPS,
            *HIGH_FREQUENCY_PAGING_PARAMETERS,
            TELEMETRY_TYPE,
            _enum_list("extension", TELEMETRY_EXTENSIONS),
        ],
        responses={
            200: OpenApiResponse(
                collection_schema("telemetries", TELEMETRY_SCHEMA),
                description=f"The stored points, newest first (pageSize up to {MAX_HIGH_FREQUENCY_PAGE_SIZE})",
            ),
            **ERRORS,
        },
    )
    def get(self, request: Request, fleet_id: str, vehicle_id: str) -> Response:
        query = _query(TelemetryQuerySerializer, request)
        vehicle = _vehicle(request, fleet_id, vehicle_id)
        types = query.get("type")
        points = selectors.point_list(vehicle=vehicle, ranges=query.get("timestamps"), types=types)
        return Response(
            paginate(
                request=request,
                items=points,
                name="telemetries",
                render=lambda point: render_telemetry(request, vehicle, point, types),
                max_page_size=MAX_HIGH_FREQUENCY_PAGE_SIZE,
            )
        )


def _alert_page(request: Request, fleet_id: str, alerts: list[Alert], vins: dict[str, str]) -> dict[str, Any]:
    return paginate(
        request=request,
        items=alerts,
        name="alerts",
        render=lambda alert: render_alert(request, fleet_id, vins[alert.vehicle_id], alert),
    )


ALERTS_RESPONSE = OpenApiResponse(
    collection_schema("alerts", ALERT_SCHEMA), description="Alerts, the latest started first"
)


@extend_schema(tags=["vehicles"])
class VehicleAlertsView(BaseAPIView):
    @extend_schema(
        operation_id="getVehicleAlerts",
        parameters=[PROFILE, ALERT_TIMESTAMPS, *PAGING_PARAMETERS],
        responses={200: ALERTS_RESPONSE, **ERRORS},
    )
    def get(self, request: Request, fleet_id: str, vehicle_id: str) -> Response:
        query = _query(AlertQuerySerializer, request)
        vehicle = _vehicle(request, fleet_id, vehicle_id)
        alerts = selectors.alert_list(vehicle=vehicle, ranges=query.get("timestamps"))
        return Response(_alert_page(request, vehicle.fleet_id, alerts, {vehicle.pk: vehicle.vin}))


@extend_schema(tags=["vehicles"])
class VehicleAlertView(BaseAPIView):
    @extend_schema(
        operation_id="getFleetVehicleAlertsById",
        parameters=[PROFILE],
        responses={200: OpenApiResponse(ALERT_SCHEMA), **ERRORS},
    )
    def get(self, request: Request, fleet_id: str, vehicle_id: str, alert_id: str) -> Response:
        _query(VehicleDataQuerySerializer, request)
        vehicle = _vehicle(request, fleet_id, vehicle_id)
        alert = selectors.alert_get(vehicle=vehicle, alert_id=alert_id)
        return Response(render_alert(request, vehicle.fleet_id, vehicle.vin, alert))


@extend_schema(tags=["fleets"])
class FleetAlertsView(BaseAPIView):
    @extend_schema(
        operation_id="getFleetAlertList",
        parameters=[PROFILE, ALERT_TIMESTAMPS, *PAGING_PARAMETERS],
        responses={200: ALERTS_RESPONSE, **ERRORS},
    )
    def get(self, request: Request, fleet_id: str) -> Response:
        query = _query(AlertQuerySerializer, request)
        fleet = selectors.fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        alerts = selectors.fleet_alert_list(fleet=fleet, ranges=query.get("timestamps"))
        return Response(_alert_page(request, fleet.pk, alerts, selectors.vin_map(fleet=fleet)))


@extend_schema(tags=["fleets"])
class FleetAlertView(BaseAPIView):
    @extend_schema(
        operation_id="getFleetAlertById",
        parameters=[PROFILE],
        responses={200: OpenApiResponse(ALERT_SCHEMA), **ERRORS},
    )
    def get(self, request: Request, fleet_id: str, alert_id: str) -> Response:
        _query(VehicleDataQuerySerializer, request)
        fleet = selectors.fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        vehicle, alert = selectors.fleet_alert_get(fleet=fleet, alert_id=alert_id)
        return Response(render_alert(request, fleet.pk, vehicle.vin, alert))


@extend_schema(tags=["vehicles"])
class VehicleCapabilitiesView(BaseAPIView):
    @extend_schema(
        operation_id="getVehiclesCapabilities",
        parameters=[
            OpenApiParameter(
                "locale",
                {"type": "string", "maxLength": 35, "pattern": LOCALE_PATTERN},
                description="Accepted for the reference's clients and ignored: FleetMon renders no text",
            ),
            _enum_list("extension", VEHICLE_EXTENSIONS),
        ],
        responses={200: OpenApiResponse(CAPABILITIES_SCHEMA), **ERRORS},
    )
    def get(self, request: Request, vin: str) -> Response:
        _query(CapabilitiesQuerySerializer, request)
        vehicle = selectors.vehicle_get_by_vin(owner=request_owner(request), vin=vin)
        base = _vehicle_path(vehicle.fleet_id, vehicle.pk)
        return Response(
            {
                "_links": {
                    "self": href(request, f"/api/v1/vehicles/{vehicle.vin}"),
                    "vehicle": href(request, base),
                    "fleet": href(request, f"/api/v1/fleets/{vehicle.fleet_id}"),
                    "status": href(request, f"{base}/status"),
                    "lastPosition": href(request, f"{base}/lastPosition"),
                    "telemetry": href(request, f"{base}/telemetry"),
                    "alerts": href(request, f"{base}/alerts"),
                },
                "vin": vehicle.vin,
                "createdAt": format_rfc3339(vehicle.created_at),
            }
        )

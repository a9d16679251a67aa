from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from fleetmon_project.api import (
    BaseAPIView,
    XErrorSerializer,
    collection_serializer,
    error_responses,
    href,
    json_body,
    request_owner,
)
from fleetmon_project.errors import BAD_PARAMETER, ApiError
from fleetmon_project.isodates import format_rfc3339
from fleetmon_project.pagination import PAGING_PARAMETERS, paginate
from telemetry import selectors, services
from telemetry.models import Fleet, Vehicle
from telemetry.serializers import (
    FleetInputSerializer,
    FleetSerializer,
    VehicleInputSerializer,
    VehicleSerializer,
)

ERRORS = error_responses(not_found="Unknown fleet or vehicle", bad_request="Invalid request (xError, with one entry per problem)")


def render_fleet(request: Request, fleet: Fleet) -> dict[str, Any]:
    base = f"/api/v1/fleets/{fleet.pk}"
    return {
        "id": fleet.pk,
        "label": fleet.label,
        # The reference calls it `name`; `label` stays for the clients already using it.
        "name": fleet.label,
        "createdAt": format_rfc3339(fleet.created_at),
        "updatedAt": format_rfc3339(fleet.updated_at),
        "_links": {
            "self": href(request, base),
            **{name: href(request, f"{base}/{name}") for name in ("vehicles", "status", "alerts", "monitors")},
        },
    }


def render_vehicle(request: Request, vehicle: Vehicle) -> dict[str, Any]:
    base = f"/api/v1/fleets/{vehicle.fleet_id}/vehicles/{vehicle.pk}"
    return {
        "id": vehicle.pk,
        "vin": vehicle.vin,
        "createdAt": format_rfc3339(vehicle.created_at),
        "_links": {
            "self": href(request, base),
            "fleet": href(request, f"/api/v1/fleets/{vehicle.fleet_id}"),
            **{name: href(request, f"{base}/{name}") for name in ("lastPosition", "status", "telemetry", "alerts")},
        },
    }


VIN_PREFIX_PARAMETER = OpenApiParameter(
    "vinPrefix",
    {"type": "string", "pattern": "^[A-HJ-NPR-Za-hj-npr-z0-9]{1,17}$"},
    description="Only vehicles whose VIN starts with this prefix (case-insensitive)",
)


def vin_prefix(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not re.fullmatch(r"[A-HJ-NPR-Za-hj-npr-z0-9]{1,17}", raw):
        message = "must be 1 to 17 VIN characters: digits and letters except I, O and Q"
        raise ApiError(
            status_code=400,
            message=f"vinPrefix: {message}",
            specific=BAD_PARAMETER,
            errors=[{"field": "vinPrefix", "message": message}],
        )
    return raw.upper()


@extend_schema(tags=["fleets"])
class FleetCollectionView(BaseAPIView):
    @extend_schema(
        operation_id="listFleets",
        parameters=PAGING_PARAMETERS,
        responses={200: collection_serializer("fleets", FleetSerializer), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        fleets = selectors.fleet_list(owner=request_owner(request))
        return Response(paginate(request=request, items=fleets, name="fleets", render=lambda f: render_fleet(request, f)))

    @extend_schema(
        operation_id="createFleet",
        request=FleetInputSerializer,
        responses={201: FleetSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        serializer = FleetInputSerializer(data=json_body(request))
        serializer.is_valid(raise_exception=True)
        fleet = services.fleet_create(owner=request_owner(request), **serializer.validated_data)
        return Response(render_fleet(request, fleet), status=status.HTTP_201_CREATED)


@extend_schema(tags=["fleets"])
class FleetDetailView(BaseAPIView):
    @extend_schema(operation_id="getFleet", responses={200: FleetSerializer, **ERRORS})
    def get(self, request: Request, fleet_id: str) -> Response:
        fleet = selectors.fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        return Response(render_fleet(request, fleet))

    @extend_schema(
        operation_id="updateFleet",
        request=FleetInputSerializer(partial=True),
        responses={200: FleetSerializer, **ERRORS},
    )
    def patch(self, request: Request, fleet_id: str) -> Response:
        fleet = selectors.fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        serializer = FleetInputSerializer(data=json_body(request), partial=True)
        serializer.is_valid(raise_exception=True)
        fleet = services.fleet_update(fleet=fleet, **serializer.validated_data)
        return Response(render_fleet(request, fleet))

    @extend_schema(operation_id="deleteFleet", responses={204: None, **ERRORS})
    def delete(self, request: Request, fleet_id: str) -> Response:
        fleet = selectors.fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        services.fleet_delete(fleet=fleet)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["vehicles"])
class VehicleCollectionView(BaseAPIView):
    @extend_schema(
        operation_id="listVehicles",
        parameters=[*PAGING_PARAMETERS, VIN_PREFIX_PARAMETER],
        responses={200: collection_serializer("vehicles", VehicleSerializer), **ERRORS},
    )
    def get(self, request: Request, fleet_id: str) -> Response:
        fleet = selectors.fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        vehicles = selectors.vehicle_list(fleet=fleet, vin_prefix=vin_prefix(request.query_params.get("vinPrefix")))
        return Response(
            paginate(request=request, items=vehicles, name="vehicles", render=lambda v: render_vehicle(request, v))
        )

    @extend_schema(
        operation_id="createVehicle",
        request=VehicleInputSerializer,
        responses={201: VehicleSerializer, 409: XErrorSerializer, **ERRORS},
    )
    def post(self, request: Request, fleet_id: str) -> Response:
        fleet = selectors.fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        serializer = VehicleInputSerializer(data=json_body(request))
        serializer.is_valid(raise_exception=True)
        vehicle = services.vehicle_create(fleet=fleet, **serializer.validated_data)
        return Response(render_vehicle(request, vehicle), status=status.HTTP_201_CREATED)


@extend_schema(tags=["vehicles"])
class VehicleDetailView(BaseAPIView):
    @extend_schema(operation_id="getVehicle", responses={200: VehicleSerializer, **ERRORS})
    def get(self, request: Request, fleet_id: str, vehicle_id: str) -> Response:
        fleet = selectors.fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        return Response(render_vehicle(request, selectors.vehicle_get(fleet=fleet, vehicle_id=vehicle_id)))

    @extend_schema(operation_id="deleteVehicle", responses={204: None, **ERRORS})
    def delete(self, request: Request, fleet_id: str, vehicle_id: str) -> Response:
        fleet = selectors.fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        services.vehicle_delete(vehicle=selectors.vehicle_get(fleet=fleet, vehicle_id=vehicle_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


_REFERENCE = "the Stellantis reference's"
POINT_SCHEMA = {
    "type": "object",
    "properties": {
        "vin": {"type": "string", "minLength": 17, "maxLength": 17},
        "eventDate": {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 with offset; defaults to status.createdAt when a status is sent",
        },
        "position": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {
                        "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                        "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                    },
                    "required": ["latitude", "longitude"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "description": f"{_REFERENCE} Position: a GeoJSON Feature, coordinates [longitude, latitude]",
                    "required": ["geometry"],
                },
            ]
        },
        "data": {
            "type": "object",
            "description": "DataTrigger keys (vehicle.energy.electric.level, ...), vehicle.telemetry.<section> "
            "objects and extension objects (vehicle.maintenance, ...)",
        },
        "status": {
            "type": "object",
            "description": f"{_REFERENCE} Status (or Telemetry item), as GET .../status answers it; "
            "every data key it holds is derived",
        },
        "alerts": {
            "type": "array",
            "items": {"type": "object", "required": ["type", "active"]},
            "description": f"{_REFERENCE} Alert objects; the active ones' types become vehicle.alert",
        },
        "trip": {
            "type": "object",
            "required": ["id"],
            "description": f"{_REFERENCE} Trip, kept for the vehicle.trip extension; gives the vehicle.trip.* keys",
        },
    },
    "required": ["vin"],
    "additionalProperties": False,
}


@extend_schema(tags=["telemetry"])
class TelemetryView(BaseAPIView):
    throttle_scope = "telemetry"

    @extend_schema(
        operation_id="postTelemetry",
        request={
            "application/json": {
                "oneOf": [POINT_SCHEMA, {"type": "array", "minItems": 1, "maxItems": 1000, "items": POINT_SCHEMA}]
            }
        },
        responses={
            202: OpenApiResponse(
                {"type": "object", "properties": {"accepted": {"type": "integer"}}, "required": ["accepted"]},
                description="Stored; evaluation is queued",
            ),
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        accepted = services.telemetry_ingest(owner=request_owner(request), body=json_body(request))
        return Response({"accepted": accepted}, status=status.HTTP_202_ACCEPTED)

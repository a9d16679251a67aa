from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from fleetmon_project.api import BaseAPIView, collection_schema, error_responses, href, json_body, request_owner
from fleetmon_project.isodates import format_rfc3339
from fleetmon_project.pagination import PAGING_PARAMETERS, paginate
from monitors import selectors, services
from monitors.backtest import MAX_LISTED_EVENTS, backtest_query_parse, monitor_backtest
from monitors.events import render_event
from monitors.models import Monitor
from monitors.serializers import EventFilterSerializer, MonitorStatusSetterSerializer
from telemetry.selectors import fleet_get

ERRORS = error_responses(not_found="Unknown fleet or monitor", bad_request="Invalid request (xError, with one entry per problem)")
MONITOR_PARAMETER = {"$ref": "#/components/schemas/MonitorParameter"}
MONITOR_REF = OpenApiResponse({"$ref": "#/components/schemas/MonitorRef"}, description="Accepted")


def monitor_links(request: Request, monitor: Monitor) -> dict[str, Any]:
    base = f"/api/v1/fleets/{monitor.fleet_id}/monitors/{monitor.pk}"
    return {
        "self": href(request, base),
        "fleet": href(request, f"/api/v1/fleets/{monitor.fleet_id}"),
        "monitor": href(request, base),
        "events": href(request, f"{base}/events"),
        "deliveries": href(request, f"{base}/deliveries"),
    }


def render_monitor_ref(request: Request, monitor: Monitor) -> dict[str, Any]:
    links = monitor_links(request, monitor)
    return {
        "monitorId": monitor.pk,
        "status": monitor.status,
        "createdAt": format_rfc3339(monitor.created_at),
        "updatedAt": format_rfc3339(monitor.updated_at),
        "_links": {"fleet": links["fleet"], "monitor": links["monitor"]},
    }


def render_monitor(request: Request, monitor: Monitor) -> dict[str, Any]:
    links = monitor_links(request, monitor)
    return {
        "monitorId": monitor.pk,
        "monitor": selectors.monitor_definition_get(monitor=monitor),
        "status": monitor.status,
        # Not in the reference (extra properties are allowed): why the monitor is Failed.
        "statusReason": monitor.status_reason or None,
        "createdAt": format_rfc3339(monitor.created_at),
        "updatedAt": format_rfc3339(monitor.updated_at),
        "_links": {key: links[key] for key in ("self", "fleet", "events", "deliveries")},
    }


@extend_schema(tags=["monitors"])
class MonitorCollectionView(BaseAPIView):
    @extend_schema(
        operation_id="getFleetMonitors",
        parameters=PAGING_PARAMETERS,
        responses={200: OpenApiResponse(collection_schema("monitors", {"$ref": "#/components/schemas/Monitor"})), **ERRORS},
    )
    def get(self, request: Request, fleet_id: str) -> Response:
        fleet = fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        monitors = selectors.monitor_list(fleet=fleet)
        return Response(
            paginate(request=request, items=monitors, name="monitors", render=lambda m: render_monitor(request, m))
        )

    @extend_schema(
        operation_id="createFleetVehicleMonitor",
        request={"application/json": MONITOR_PARAMETER},
        responses={202: MONITOR_REF, **ERRORS},
    )
    def post(self, request: Request, fleet_id: str) -> Response:
        fleet = fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        definition = services.monitor_definition_parse(raw=json_body(request))
        monitor = services.monitor_create(fleet=fleet, definition=definition)
        # The reference's documentation shows "Created" here, but its MonitorRef schema allows
        # only Running, Paused and Failed: a client generated from the schema would refuse it.
        return Response(render_monitor_ref(request, monitor), status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["monitors"])
class MonitorDetailView(BaseAPIView):
    @extend_schema(
        operation_id="getFleetMonitorsStatusById",
        responses={200: OpenApiResponse({"$ref": "#/components/schemas/Monitor"}), **ERRORS},
    )
    def get(self, request: Request, fleet_id: str, monitor_id: str) -> Response:
        fleet = fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        return Response(render_monitor(request, selectors.monitor_get(fleet=fleet, monitor_id=monitor_id)))

    @extend_schema(
        operation_id="updateFleetVehicleMonitor",
        request={"application/json": MONITOR_PARAMETER},
        responses={202: MONITOR_REF, **ERRORS},
    )
    def put(self, request: Request, fleet_id: str, monitor_id: str) -> Response:
        fleet = fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        monitor = selectors.monitor_get(fleet=fleet, monitor_id=monitor_id)
        definition = services.monitor_definition_parse(raw=json_body(request))
        monitor = services.monitor_replace(monitor=monitor, definition=definition)
        return Response(render_monitor_ref(request, monitor), status=status.HTTP_202_ACCEPTED)

    @extend_schema(operation_id="deleteFleetMonitor", responses={204: None, **ERRORS})
    def delete(self, request: Request, fleet_id: str, monitor_id: str) -> Response:
        fleet = fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        services.monitor_delete(monitor=selectors.monitor_get(fleet=fleet, monitor_id=monitor_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["monitors"])
class MonitorStatusView(BaseAPIView):
    @extend_schema(
        operation_id="setFleetVehicleMonitorStatus",
        request=MonitorStatusSetterSerializer,
        responses={202: MONITOR_REF, **ERRORS},
    )
    def put(self, request: Request, fleet_id: str, monitor_id: str) -> Response:
        fleet = fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        monitor = selectors.monitor_get(fleet=fleet, monitor_id=monitor_id)
        serializer = MonitorStatusSetterSerializer(data=json_body(request))
        serializer.is_valid(raise_exception=True)
        monitor = services.monitor_set_status(monitor=monitor, status=serializer.validated_data["status"])
        return Response(render_monitor_ref(request, monitor), status=status.HTTP_202_ACCEPTED)


EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "monitorId": {"type": "string"},
        "fleetId": {"type": "string"},
        "vin": {"type": "string"},
        "eventDate": {"type": "string", "format": "date-time"},
        "values": {"type": "array", "items": {"type": "object"}},
        "extensions": {"type": "array", "items": {"type": "object"}},
        "refresh": {"type": "boolean"},
    },
    "required": ["id", "monitorId", "fleetId", "vin", "eventDate", "values", "extensions", "refresh"],
}


@extend_schema(tags=["monitors"])
class MonitorEventsView(BaseAPIView):
    @extend_schema(
        operation_id="getMonitorEvents",
        parameters=[
            *PAGING_PARAMETERS,
            OpenApiParameter(
                "vin", {"type": "string", "minLength": 1, "maxLength": 17}, description="Only this vehicle's events"
            ),
            OpenApiParameter("since", {"type": "string", "format": "date-time"}, description="At or after (RFC 3339)"),
            OpenApiParameter("until", {"type": "string", "format": "date-time"}, description="Strictly before (RFC 3339)"),
        ],
        responses={
            200: OpenApiResponse(collection_schema("events", EVENT_SCHEMA)),
            **ERRORS,
        },
    )
    def get(self, request: Request, fleet_id: str, monitor_id: str) -> Response:
        fleet = fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        monitor = selectors.monitor_get(fleet=fleet, monitor_id=monitor_id)
        filters = EventFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = selectors.event_list(
            monitor=monitor,
            vin=filters.validated_data.get("vin"),
            since=filters.validated_data.get("since"),
            until=filters.validated_data.get("until"),
        )
        return Response(paginate(request=request, items=events, name="events", render=render_event))


BACKTEST_RANGE = {
    "from": {"type": "string", "format": "date-time", "description": "Replay points dated at or after (RFC 3339)"},
    "until": {
        "type": "string",
        "format": "date-time",
        "description": "…and strictly before (RFC 3339); at most FLEETMON_BACKTEST_MAX_RANGE after from (31 days)",
    },
    "vins": {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string"},
        "description": "Only these vehicles of the fleet (default: all)",
    },
}
BACKTEST_RESULT = OpenApiResponse(
    {
        "type": "object",
        "properties": {
            "events": {
                "type": "array",
                "items": {key: value for key, value in EVENT_SCHEMA.items() if key != "required"},
                "description": f"The MonitorEvent items the webhook would have carried, oldest first (at most "
                f"{MAX_LISTED_EVENTS:,}; total counts them all)",
            },
            "total": {"type": "integer"},
            "evaluatedPoints": {"type": "integer"},
            "vehicles": {"type": "integer", "description": "Vehicles that had points in the range"},
        },
        "required": ["events", "total", "evaluatedPoints", "vehicles"],
    },
    description="What the definition would have raised; nothing is stored or sent",
)
BACKTEST_DESCRIPTION = (
    "Replays the fleet's stored telemetry in [from, until) through the live engine's evaluator, in memory: every "
    "vehicle starts from never evaluated and an empty state at from; its points are applied in eventDate order, "
    "with the window boundaries, refresh reminders and dwell expiries in between evaluated at their own instants. "
    "Sends nothing, stores nothing, changes no monitor state. At most FLEETMON_BACKTEST_MAX_POINTS points."
)


@extend_schema(tags=["monitors"])
class MonitorBacktestView(BaseAPIView):
    @extend_schema(
        operation_id="backtestMonitorDefinition",
        description=BACKTEST_DESCRIPTION,
        request={
            "application/json": {
                "type": "object",
                "properties": {"monitor": MONITOR_PARAMETER, **BACKTEST_RANGE},
                "required": ["monitor", "from", "until"],
                "additionalProperties": False,
            }
        },
        responses={200: BACKTEST_RESULT, **ERRORS},
    )
    def post(self, request: Request, fleet_id: str) -> Response:
        fleet = fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        query = backtest_query_parse(raw=json_body(request), fleet=fleet, with_monitor=True)
        return Response(monitor_backtest(fleet=fleet, query=query).as_json())


@extend_schema(tags=["monitors"])
class StoredMonitorBacktestView(BaseAPIView):
    @extend_schema(
        operation_id="backtestFleetMonitor",
        description=BACKTEST_DESCRIPTION + " The stored definition is replayed as if it ran throughout the range "
        "(its pauses and redefinitions aside).",
        request={
            "application/json": {
                "type": "object",
                "properties": BACKTEST_RANGE,
                "required": ["from", "until"],
                "additionalProperties": False,
            }
        },
        responses={200: BACKTEST_RESULT, **ERRORS},
    )
    def post(self, request: Request, fleet_id: str, monitor_id: str) -> Response:
        monitor = self.monitor(request, fleet_id=fleet_id, monitor_id=monitor_id)
        query = backtest_query_parse(raw=json_body(request), fleet=monitor.fleet, with_monitor=False)
        return Response(monitor_backtest(fleet=monitor.fleet, query=query, monitor=monitor).as_json())

    def monitor(self, request: Request, *, fleet_id: str, monitor_id: str) -> Monitor:
        fleet = fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        return selectors.monitor_get(fleet=fleet, monitor_id=monitor_id)


class AdminMonitorBacktestView(StoredMonitorBacktestView):
    """The admin's Backtest panel: the same backtest, authenticated by the operator's admin
    session (CSRF-checked) rather than a token, for any monitor the operator may view there,
    whoever owns its fleet."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAdminUser]

    @extend_schema(exclude=True)
    def post(self, request: Request, monitor_id: str) -> Response:  # type: ignore[override]
        return super().post(request, fleet_id="", monitor_id=monitor_id)

    def monitor(self, request: Request, *, fleet_id: str, monitor_id: str) -> Monitor:
        monitor = Monitor.objects.alive().select_related("fleet").filter(pk=monitor_id).first()
        if monitor is None or not request.user.has_perm("monitors.view_monitor"):
            raise Http404("monitor not found")
        return monitor

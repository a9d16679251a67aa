from __future__ import annotations

import json
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
    request_owner,
)
from fleetmon_project.isodates import format_rfc3339
from fleetmon_project.pagination import PAGING_PARAMETERS, paginate
from monitors.events import render_event
from monitors.selectors import monitor_get
from notifications import selectors, services
from notifications.models import Delivery, DeliveryAttempt
from notifications.serializers import (
    DeliveryFilterSerializer,
    DeliverySerializer,
    WebhookSecretSerializer,
    WebhookTestResultSerializer,
)
from telemetry.selectors import fleet_get

ERRORS = error_responses(not_found="Unknown fleet, monitor or delivery")
DELIVERY_ID = OpenApiParameter("delivery_id", int, OpenApiParameter.PATH)


def _format(moment: Any) -> str | None:
    return format_rfc3339(moment) if moment else None


def render_attempt(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "startedAt": format_rfc3339(attempt.started_at),
        "finishedAt": _format(attempt.finished_at),
        "url": attempt.url,
        "statusCode": attempt.status_code,
        "durationMs": attempt.duration_ms,
        "responseExcerpt": attempt.response_excerpt,
        "error": attempt.error,
        "ok": attempt.ok,
    }


def _delivery_events(delivery: Delivery) -> list[dict[str, Any]]:
    if delivery.is_test:
        # A test's sample event exists only in the body that was sent.
        return [{"id": None, "monitorId": delivery.monitor_id, **event} for event in json.loads(delivery.body)["events"]]
    return [render_event(link.event) for link in delivery.delivery_events.all()]


def render_delivery(request: Request, delivery: Delivery) -> dict[str, Any]:
    base = f"/api/v1/fleets/{delivery.fleet_id}/monitors/{delivery.monitor_id}"
    return {
        "id": delivery.pk,
        "state": selectors.delivery_api_state(delivery=delivery),
        "webhookId": delivery.webhook_id,
        "test": delivery.is_test,
        "createdAt": format_rfc3339(delivery.created_at),
        "deliveredAt": _format(delivery.delivered_at),
        "attemptCount": delivery.attempt_count,
        "nextAttemptAt": _format(delivery.next_attempt_at),
        "lastError": delivery.last_error,
        "events": _delivery_events(delivery),
        "attempts": [render_attempt(attempt) for attempt in delivery.attempts.all()],
        "_links": {
            "self": href(request, f"{base}/deliveries/{delivery.pk}"),
            "monitor": href(request, base),
            "retry": href(request, f"{base}/deliveries/{delivery.pk}/retry"),
        },
    }


@extend_schema(tags=["deliveries"])
class DeliveryCollectionView(BaseAPIView):
    @extend_schema(
        operation_id="getMonitorDeliveries",
        summary="The monitor's webhook deliveries, newest first, with their events and attempts",
        parameters=[
            *PAGING_PARAMETERS,
            OpenApiParameter(
                "state",
                str,
                enum=["pending", "delivered", "failed"],
                description="Only deliveries in this state (a batch still collecting events is pending)",
            ),
        ],
        responses={
            200: collection_serializer("deliveries", DeliverySerializer),
            400: OpenApiResponse(XErrorSerializer, description="Invalid query parameter"),
            **ERRORS,
        },
    )
    def get(self, request: Request, fleet_id: str, monitor_id: str) -> Response:
        monitor = monitor_get(fleet=fleet_get(owner=request_owner(request), fleet_id=fleet_id), monitor_id=monitor_id)
        filters = DeliveryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        deliveries = selectors.delivery_list(monitor=monitor, state=filters.validated_data.get("state"))
        return Response(
            paginate(
                request=request, items=deliveries, name="deliveries", render=lambda d: render_delivery(request, d)
            )
        )


@extend_schema(tags=["deliveries"])
class DeliveryDetailView(BaseAPIView):
    @extend_schema(
        operation_id="getMonitorDelivery",
        parameters=[DELIVERY_ID],
        responses={200: DeliverySerializer, **ERRORS},
    )
    def get(self, request: Request, fleet_id: str, monitor_id: str, delivery_id: str) -> Response:
        monitor = monitor_get(fleet=fleet_get(owner=request_owner(request), fleet_id=fleet_id), monitor_id=monitor_id)
        return Response(render_delivery(request, selectors.delivery_get(monitor=monitor, delivery_id=delivery_id)))


@extend_schema(tags=["deliveries"])
class DeliveryRetryView(BaseAPIView):
    @extend_schema(
        operation_id="retryMonitorDelivery",
        summary="Replay a delivered or failed delivery (same webhook-id and body)",
        parameters=[DELIVERY_ID],
        request=None,
        responses={
            202: DeliverySerializer,
            409: OpenApiResponse(XErrorSerializer, description="Still pending, or past the retention period"),
            **ERRORS,
        },
    )
    def post(self, request: Request, fleet_id: str, monitor_id: str, delivery_id: str) -> Response:
        monitor = monitor_get(fleet=fleet_get(owner=request_owner(request), fleet_id=fleet_id), monitor_id=monitor_id)
        delivery = services.delivery_replay(delivery=selectors.delivery_get(monitor=monitor, delivery_id=delivery_id))
        delivery = selectors.delivery_get(monitor=monitor, delivery_id=str(delivery.pk))
        return Response(render_delivery(request, delivery), status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["deliveries"])
class MonitorWebhookTestView(BaseAPIView):
    @extend_schema(
        operation_id="testMonitorWebhook",
        summary="Send a sample event to the monitor's webhook now and report the outcome",
        request=None,
        responses={
            200: OpenApiResponse(
                WebhookTestResultSerializer,
                description="Sent: `ok` says whether the webhook accepted it; a refused, failed or "
                "blocked attempt is reported here too, with `statusCode` and `error`",
            ),
            **ERRORS,
        },
    )
    def post(self, request: Request, fleet_id: str, monitor_id: str) -> Response:
        monitor = monitor_get(fleet=fleet_get(owner=request_owner(request), fleet_id=fleet_id), monitor_id=monitor_id)
        attempt = services.delivery_send_test(monitor=monitor)
        return Response(
            {
                "ok": attempt.ok,
                "statusCode": attempt.status_code,
                "durationMs": attempt.duration_ms,
                "error": attempt.error,
                "responseExcerpt": attempt.response_excerpt,
                "deliveryId": attempt.delivery_id,
            }
        )


@extend_schema(tags=["webhooks"])
class WebhookSecretView(BaseAPIView):
    @extend_schema(
        operation_id="getFleetWebhookSecret",
        summary="The secret that signs this fleet's webhooks (created on first use)",
        responses={200: WebhookSecretSerializer, **ERRORS},
    )
    def get(self, request: Request, fleet_id: str) -> Response:
        fleet = fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        return Response({"secret": services.webhook_secret_get_or_create(fleet=fleet).secret})


@extend_schema(tags=["webhooks"])
class WebhookSecretRotateView(BaseAPIView):
    @extend_schema(
        operation_id="rotateFleetWebhookSecret",
        summary="Replace the signing secret; the old one keeps signing during the grace period",
        request=None,
        responses={200: WebhookSecretSerializer, **ERRORS},
    )
    def post(self, request: Request, fleet_id: str) -> Response:
        fleet = fleet_get(owner=request_owner(request), fleet_id=fleet_id)
        return Response({"secret": services.webhook_secret_rotate(fleet=fleet).secret})

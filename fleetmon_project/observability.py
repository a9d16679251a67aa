"""Health, readiness and Prometheus metrics.

The counters live in `fleetmon_project.metrics`, incremented where things happen. Web and
worker processes are separate, so with `PROMETHEUS_MULTIPROC_DIR` set (as `make run` does)
every process writes its samples there and `/metrics` aggregates them. Backlog figures
(unevaluated points, pending or late deliveries, broker queue depth) are read from the
database and the broker at scrape time, so they are right whatever process serves `/metrics`.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from fleetmon_project.brokers import broker_check, queue_depths
from fleetmon_project.errors import xerror_body
from fleetmon_project.metrics import ALL_COUNTERS

# A due delivery not sent within this long is reported as late.
LATE_AFTER = timedelta(seconds=60)
READY_TIMEOUT = 2  # seconds the broker has to answer a readiness probe


class BacklogCollector:
    """Gauges computed at scrape time from the database and the broker."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from monitors.models import DeadLetter, Monitor
        from notifications.models import Delivery, DeliveryState
        from telemetry.selectors import points_pending_summary

        now = timezone.now()
        pending_points = points_pending_summary()
        yield GaugeMetricFamily("fleetmon_points_unevaluated", "Stored points not yet evaluated", pending_points.count)
        oldest = pending_points.oldest_received_at
        lag = (now - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily("fleetmon_evaluation_lag_seconds", "Age of the oldest unevaluated point", lag)

        open_states = (DeliveryState.BATCHING, DeliveryState.PENDING)
        deliveries = GaugeMetricFamily("fleetmon_deliveries_open", "Deliveries not finished", labels=["state"])
        counts = dict(
            Delivery.objects.filter(state__in=open_states).values_list("state").annotate(n=Count("id")).values_list("state", "n")
        )
        for state in open_states:
            deliveries.add_metric([state], counts.get(state, 0))
        yield deliveries
        late = Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now - LATE_AFTER).count()
        yield GaugeMetricFamily("fleetmon_deliveries_due_late", f"Pending deliveries due for over {LATE_AFTER.seconds}s", late)

        held = GaugeMetricFamily(
            "fleetmon_dead_letters_open", "Evaluations held aside: retrying, or given up until replayed", labels=["state"]
        )
        given_up = DeadLetter.objects.filter(given_up_at__isnull=False).count()
        held.add_metric(["retrying"], DeadLetter.objects.count() - given_up)
        held.add_metric(["given_up"], given_up)
        yield held

        monitors = GaugeMetricFamily("fleetmon_monitors", "Monitors by status", labels=["status"])
        for status, count in Monitor.objects.alive().values_list("status").annotate(n=Count("id")).values_list("status", "n"):
            monitors.add_metric([status], count)
        yield monitors

        depth = queue_depths(settings.CELERY_BROKER_URL)
        if depth is not None:
            queue_depth = GaugeMetricFamily("fleetmon_queue_depth", "Messages waiting in the broker", labels=["queue"])
            for queue, length in depth.items():
                queue_depth.add_metric([queue], length)
            yield queue_depth


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for metric in ALL_COUNTERS:
            registry.register(metric)
    registry.register(BacklogCollector())
    return registry


def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.FLEETMON_METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied, token):
            message = "metrics need 'Authorization: Bearer <FLEETMON_METRICS_TOKEN>'"
            return JsonResponse(xerror_body(status_code=401, message=message), status=401)
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


def healthz_view(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; says nothing about its dependencies."""
    return JsonResponse({"status": "ok"})


def readyz_view(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers and the broker accepts a connection."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready; the message says which
        checks["database"] = f"error: {exc}"
    try:
        broker_check(settings.CELERY_BROKER_URL, options=settings.CELERY_BROKER_TRANSPORT_OPTIONS, timeout=READY_TIMEOUT)
        checks["broker"] = "ok"
    except Exception as exc:  # kombu raises transport-specific errors
        checks["broker"] = f"error: {exc}"
    ready = all(value == "ok" for value in checks.values())
    if ready:
        return JsonResponse({"status": "ok", "checks": checks})
    failing = "; ".join(f"{name}: {value}" for name, value in checks.items() if value != "ok")
    body = xerror_body(status_code=503, message=f"not ready ({failing})")
    return JsonResponse({**body, "status": "unavailable", "checks": checks}, status=503)


# Log record attributes that identify what a line is about: kept as fields, not prose.
CONTEXT_FIELDS = ("fleet", "monitor", "vin", "vehicle", "delivery", "event", "attempt", "task_id", "refresh", "status_code")


class ContextFormatter(logging.Formatter):
    """`LOG_FORMAT=json`: one JSON object per line; otherwise text with `key=value` context."""

    def __init__(self, *, json_lines: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        context: dict[str, Any] = {
            field: getattr(record, field) for field in CONTEXT_FIELDS if getattr(record, field, None) is not None
        }
        if self.json_lines:
            line = {
                "time": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
                **context,
            }
            if record.exc_info:
                line["exception"] = self.formatException(record.exc_info)
            return json.dumps(line, default=str)
        text = super().format(record)
        return text + "".join(f" {key}={value}" for key, value in context.items())

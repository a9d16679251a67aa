from __future__ import annotations

import re
from datetime import datetime

from django.db import connection
from django.db.models import QuerySet
from django.http import Http404

from fleetmon_project.rows import model_columns, models_read
from monitors.models import Monitor
from notifications.models import Delivery, DeliveryState, WebhookSecret
from telemetry.models import Fleet, Vehicle

# What the API calls a state: a batch still collecting events has not been sent yet either.
API_STATES: dict[str, tuple[str, ...]] = {
    DeliveryState.PENDING: (DeliveryState.BATCHING, DeliveryState.PENDING),
    DeliveryState.DELIVERED: (DeliveryState.DELIVERED,),
    DeliveryState.FAILED: (DeliveryState.FAILED,),
}
_MAX_BIGINT = 2**63 - 1
# [0-9], not str.isdigit(): that also takes '²' (which int() rejects) and '١' (which it reads as 1).
_DATABASE_ID = re.compile(r"[0-9]{1,19}")


def delivery_api_state(*, delivery: Delivery) -> str:
    return DeliveryState.PENDING if delivery.state == DeliveryState.BATCHING else delivery.state


def delivery_list(*, monitor: Monitor, state: str | None = None) -> QuerySet[Delivery]:
    deliveries = (
        Delivery.objects.filter(monitor=monitor)
        .prefetch_related("attempts", "delivery_events__event")
        .order_by("-created_at", "-id")
    )
    if state:
        deliveries = deliveries.filter(state__in=API_STATES[state])
    return deliveries


def delivery_get(*, monitor: Monitor, delivery_id: str) -> Delivery:
    # The id comes from the URL as text: anything that is not a database id is simply unknown.
    if not _DATABASE_ID.fullmatch(delivery_id) or int(delivery_id) > _MAX_BIGINT:
        raise Http404("delivery not found")
    delivery = delivery_list(monitor=monitor).filter(pk=int(delivery_id)).first()
    if delivery is None:
        raise Http404("delivery not found")
    return delivery


def webhook_secrets_signing(*, fleet_id: str, now: datetime) -> list[WebhookSecret]:
    """The active secret first, then those still in their rotation grace period. Read by
    hand: at every attempt, where the ORM compiled it in more instructions than signing took."""
    return models_read(
        WebhookSecret,
        f"""SELECT {model_columns(WebhookSecret, "secret")} FROM {WebhookSecret._meta.db_table} AS secret
        WHERE fleet_id = %s AND (expires_at IS NULL OR expires_at > %s)
        ORDER BY expires_at IS NOT NULL, expires_at DESC, id DESC""",
        [fleet_id, connection.ops.adapt_datetimefield_value(now)],
    )


def sample_vehicle_get(*, fleet: Fleet) -> Vehicle | None:
    """The vehicle a test event is attributed to, so `$vin`/`$vid` render realistically."""
    return fleet.vehicles.order_by("created_at", "id").first()

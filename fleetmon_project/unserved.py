"""The reference's paths FleetMon does not serve, answered 501 instead of the generic 404.

A Stellantis client calling `…/trips` must learn that the *feature* is absent here, not that
its vehicle or fleet vanished, which is what a 404 would tell it.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request

from fleetmon_project.api import BaseAPIView
from fleetmon_project.errors import ApiError

FLEET = "fleets/<str:fleet_id>"
VEHICLE = f"{FLEET}/vehicles/<str:vehicle_id>"
TRIP = f"{VEHICLE}/trips/<str:trip_id>"

# (route, what is not served): every path of the reference outside the monitor contract and
# the vehicle data FleetMon keeps.
UNSERVED: tuple[tuple[str, str], ...] = (
    (f"{VEHICLE}/collisions", "collisions"),
    (f"{VEHICLE}/collisions/<str:item_id>", "collisions"),
    (f"{FLEET}/collisions", "collisions"),
    (f"{FLEET}/collisions/<str:item_id>", "collisions"),
    (f"{VEHICLE}/maintenance", "maintenance"),
    (f"{FLEET}/maintenances", "maintenance"),
    (f"{VEHICLE}/alarms", "alarms"),
    (f"{VEHICLE}/alarms/<str:item_id>", "alarms"),
    (f"{VEHICLE}/stolen", "stolen-vehicle reports"),
    (f"{VEHICLE}/stolen/<str:item_id>", "stolen-vehicle reports"),
    (f"{VEHICLE}/stolen/<str:item_id>/waypoints", "stolen-vehicle reports"),
    (f"{FLEET}/trips", "trips"),
    (f"{VEHICLE}/trips", "trips"),
    (TRIP, "trips"),
    (f"{TRIP}/collisions", "trips"),
    (f"{TRIP}/alerts", "trips"),
    (f"{TRIP}/alerts/<str:item_id>", "trips"),
    (f"{TRIP}/wayPoints", "trips"),
    (f"{TRIP}/telemetry", "trips"),
    (f"{FLEET}/remote/callbacks", "remote commands"),
    (f"{FLEET}/remote/callbacks/<str:item_id>", "remote commands"),
    (f"{FLEET}/remote/callbacks/<str:item_id>/status", "remote commands"),
    (f"{VEHICLE}/callbacks/<str:callback_id>/remotes", "remote commands"),
    (f"{VEHICLE}/callbacks/<str:callback_id>/remotes/<str:item_id>", "remote commands"),
)


@extend_schema(exclude=True)
class UnservedView(BaseAPIView):
    """Authenticated like every API call (a 401 comes first), then 501 naming the feature."""

    feature = ""

    def _unserved(self, request: Request, **kwargs: Any) -> None:
        raise ApiError(
            status_code=status.HTTP_501_NOT_IMPLEMENTED,
            message=(
                f"FleetMon does not serve {self.feature}: it implements the reference's monitors and the "
                "vehicle data it is sent (lastPosition, status, telemetry, alerts, /vehicles/{vin})."
            ),
        )

    get = post = put = patch = delete = _unserved


def unserved_urlpatterns() -> list[URLPattern]:
    return [path(route, UnservedView.as_view(feature=feature)) for route, feature in UNSERVED]

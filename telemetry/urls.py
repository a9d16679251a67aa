from __future__ import annotations

from django.urls import path

from telemetry import data_views, views

VEHICLE = "fleets/<str:fleet_id>/vehicles/<str:vehicle_id>"

urlpatterns = [
    path("telemetry", views.TelemetryView.as_view(), name="telemetry"),
    path("fleets", views.FleetCollectionView.as_view(), name="fleet-list"),
    path("fleets/<str:fleet_id>", views.FleetDetailView.as_view(), name="fleet-detail"),
    path("fleets/<str:fleet_id>/vehicles", views.VehicleCollectionView.as_view(), name="vehicle-list"),
    path("fleets/<str:fleet_id>/vehicles/<str:vehicle_id>", views.VehicleDetailView.as_view(), name="vehicle-detail"),
    path("fleets/<str:fleet_id>/status", data_views.FleetStatusView.as_view(), name="fleet-status"),
    path("fleets/<str:fleet_id>/alerts", data_views.FleetAlertsView.as_view(), name="fleet-alerts"),
    path("fleets/<str:fleet_id>/alerts/<str:alert_id>", data_views.FleetAlertView.as_view(), name="fleet-alert"),
    path(f"{VEHICLE}/lastPosition", data_views.LastPositionView.as_view(), name="vehicle-last-position"),
    path(f"{VEHICLE}/status", data_views.VehicleStatusView.as_view(), name="vehicle-status"),
    path(f"{VEHICLE}/telemetry", data_views.TelemetryListView.as_view(), name="vehicle-telemetry"),
    path(f"{VEHICLE}/alerts", data_views.VehicleAlertsView.as_view(), name="vehicle-alerts"),
    path(f"{VEHICLE}/alerts/<str:alert_id>", data_views.VehicleAlertView.as_view(), name="vehicle-alert"),
    path("vehicles/<str:vin>", data_views.VehicleCapabilitiesView.as_view(), name="vehicle-capabilities"),
]

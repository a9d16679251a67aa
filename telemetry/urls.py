from __future__ import annotations

from django.urls import path

from telemetry import views

urlpatterns = [
    path("telemetry", views.TelemetryView.as_view(), name="telemetry"),
    path("fleets", views.FleetCollectionView.as_view(), name="fleet-list"),
    path("fleets/<str:fleet_id>", views.FleetDetailView.as_view(), name="fleet-detail"),
    path("fleets/<str:fleet_id>/vehicles", views.VehicleCollectionView.as_view(), name="vehicle-list"),
    path("fleets/<str:fleet_id>/vehicles/<str:vehicle_id>", views.VehicleDetailView.as_view(), name="vehicle-detail"),
]

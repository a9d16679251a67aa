from __future__ import annotations

from django.urls import path

from monitors import views

urlpatterns = [
    path("fleets/<str:fleet_id>/monitors", views.MonitorCollectionView.as_view(), name="monitor-list"),
    path("fleets/<str:fleet_id>/monitors/<str:monitor_id>", views.MonitorDetailView.as_view(), name="monitor-detail"),
    path(
        "fleets/<str:fleet_id>/monitors/<str:monitor_id>/status",
        views.MonitorStatusView.as_view(),
        name="monitor-status",
    ),
    path(
        "fleets/<str:fleet_id>/monitors/<str:monitor_id>/events",
        views.MonitorEventsView.as_view(),
        name="monitor-events",
    ),
]

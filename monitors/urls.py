from __future__ import annotations

from django.urls import path

from monitors import views

urlpatterns = [
    path("fleets/<str:fleet_id>/monitors", views.MonitorCollectionView.as_view(), name="monitor-list"),
    # Before the detail route, whose <monitor_id> would take "backtest".
    path("fleets/<str:fleet_id>/monitors/backtest", views.MonitorBacktestView.as_view(), name="monitor-backtest"),
    path("fleets/<str:fleet_id>/monitors/<str:monitor_id>", views.MonitorDetailView.as_view(), name="monitor-detail"),
    path(
        "fleets/<str:fleet_id>/monitors/<str:monitor_id>/backtest",
        views.StoredMonitorBacktestView.as_view(),
        name="monitor-stored-backtest",
    ),
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

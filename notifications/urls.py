from __future__ import annotations

from django.urls import path

from notifications import views

MONITOR = "fleets/<str:fleet_id>/monitors/<str:monitor_id>"

urlpatterns = [
    path(f"{MONITOR}/deliveries", views.DeliveryCollectionView.as_view(), name="delivery-list"),
    # <str:>: the id is checked by the selector, so "-1" or a 30-digit number is a 404, not a 500.
    path(f"{MONITOR}/deliveries/<str:delivery_id>", views.DeliveryDetailView.as_view(), name="delivery-detail"),
    path(
        f"{MONITOR}/deliveries/<str:delivery_id>/retry", views.DeliveryRetryView.as_view(), name="delivery-retry"
    ),
    path(f"{MONITOR}/test", views.MonitorWebhookTestView.as_view(), name="monitor-webhook-test"),
    path("fleets/<str:fleet_id>/webhook-secret", views.WebhookSecretView.as_view(), name="webhook-secret"),
    path(
        "fleets/<str:fleet_id>/webhook-secret/rotate",
        views.WebhookSecretRotateView.as_view(),
        name="webhook-secret-rotate",
    ),
]

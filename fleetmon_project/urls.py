from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from fleetmon_project.observability import healthz_view, metrics_view, readyz_view
from fleetmon_project.unserved import unserved_urlpatterns

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz_view, name="healthz"),
    path("readyz", readyz_view, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include("telemetry.urls")),
    path("api/v1/", include("monitors.urls")),
    path("api/v1/", include("notifications.urls")),
    path("api/v1/", include(unserved_urlpatterns())),
]

handler400 = "fleetmon_project.errors.handler400"
handler403 = "fleetmon_project.errors.handler403"
handler404 = "fleetmon_project.errors.handler404"
handler500 = "fleetmon_project.errors.handler500"

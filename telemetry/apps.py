from __future__ import annotations

from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "telemetry"
    verbose_name = "Fleets and telemetry"

    def ready(self) -> None:
        import telemetry.openapi  # noqa: F401 - registers the security schemes with drf-spectacular
